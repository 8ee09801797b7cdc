/**
 * The package as a user gets it: `npm pack` the repository, install the
 * tarball into an empty project, import it as ESM, run an echo through
 * TCPServer/TCPClient on loopback, and type-check a small TypeScript consumer
 * with `--strict` and `moduleResolution nodenext`. Installed with
 * `--ignore-scripts`: gale and its FFI library (koffi, whose binary is an
 * optional per-platform package) need no install script.
 *
 * The tarball must hold the library as its users load it — the bundle in
 * dist/bundle/ (scripts/bundle.mjs) and tsc's .d.ts files — README and
 * LICENSE, and nothing of the specs, benchmarks, TypeScript sources or tsc's
 * per-file .js (nothing loads those). The installed package must start its
 * worker threads from the bundle (the thread pool, the threaded resolver).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'gale-pack-'));
const consumer = join(work, 'consumer');

/** Runs a command to completion, bounded in time; rejects with its output on failure. */
function run(file: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, npm_config_update_notifier: 'false' } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout + stderr);
      });
  });
}

let tarball = '';

test.before(async () => {
  // The suite has already built dist/; --ignore-scripts skips `prepare`'s rebuild.
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], repo);
  tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
});

test.after(() => {
  rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the bundle, the declarations, README and LICENSE, and no specs, scripts, sources or per-file modules', async () => {
  const files = (await run('tar', ['tzf', tarball], work)).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  const bundled = readdirSync(join(repo, 'dist/bundle')).filter((f) => f.endsWith('.js')).map((f) => `dist/bundle/${f}`);
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'dist/index.d.ts', 'dist/net/index.d.ts', 'dist/reactor/ioloop.d.ts',
    'dist/bundle/index.js', 'dist/bundle/reactor.js', 'dist/bundle/executor-worker.js', 'dist/bundle/resolve-task.js', ...bundled]) {
    assert.ok(files.includes(needed), `${needed} missing from the tarball`);
  }
  const unwanted = files.filter((f) => f.startsWith('dist/spec/') || f.startsWith('dist/scripts/') ||
    f.startsWith('spec/') || f.startsWith('scripts/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
    (f.endsWith('.js') && !f.startsWith('dist/bundle/')) || f === 'dist/bundle/metafile.json');
  assert.equal(unwanted, []);
});

test('installed into an empty project, it imports as ESM and echoes through TCPServer and TCPClient', async () => {
  rmSync(consumer, { recursive: true, force: true });
  await run('mkdir', ['-p', consumer], work);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], consumer);
  // koffi's native binary comes from its optional platform package; its own
  // install script (a prebuild step) never ran, and none is needed.
  assert.ok(existsSync(join(consumer, `node_modules/@koromix/koffi-${process.platform}-${process.arch}/package.json`)), 'koffi\'s platform package installed');
  assert.not.ok(existsSync(join(consumer, 'node_modules/koffi/build')), 'no koffi build from an install script');
  // docs/using.md's "use it from your own project" example, as a user would save it.
  copyFileSync(join(repo, 'scripts/examples/from-your-project.mjs'), join(consumer, 'echo.mjs'));
  const out = await run(process.execPath, ['echo.mjs'], consumer, 30_000);
  assert.match(out, /^echoed: hello from my project$/m);
  // The subpaths resolve to the same modules as the root.
  writeFileSync(join(consumer, 'subpaths.mjs'), `
import * as root from 'gale';
import { IOLoop } from 'gale/reactor';
import { IOStream } from 'gale/streams';
import { TCPServer } from 'gale/net';
import { ThreadedResolver } from 'gale/resolvers';
console.log(JSON.stringify([IOLoop === root.IOLoop, IOStream === root.IOStream, TCPServer === root.TCPServer,
  ThreadedResolver === root.ThreadedResolver]));
`);
  const same = await run(process.execPath, ['subpaths.mjs'], consumer, 30_000);
  assert.equal(JSON.parse(same.trim()), [true, true, true, true]);
});

test('installed, it runs tasks on its thread pool and lookups on its threaded resolver (worker threads started from the bundle)', async () => {
  // A task module of the user's own that imports gale in the worker, as tasks may.
  writeFileSync(join(consumer, 'tasks.mjs'), `
import { IOLoop } from 'gale';
import { threadId } from 'node:worker_threads';
export function where(a, b) { return { sum: a + b, threadId, ioloop: typeof IOLoop.current }; }
`);
  writeFileSync(join(consumer, 'threads.mjs'), `
import { IOLoop, ThreadPoolExecutor, ThreadedResolver, defineTask } from 'gale';
const loop = new IOLoop({ makeCurrent: false });
const pool = new ThreadPoolExecutor({ maxWorkers: 1 });
const resolver = new ThreadedResolver({ numThreads: 1 });
const [task, addresses] = await loop.runSync(() => Promise.all([
  pool.submit(defineTask(new URL('./tasks.mjs', import.meta.url), 'where'), 2, 3),
  resolver.resolve('localhost', 80),
]), 20);
console.log(JSON.stringify({ task, resolved: addresses.length > 0 }));
resolver.close();
await loop.runSync(() => pool.shutdown(), 10);
loop.close();
`);
  const out = await run(process.execPath, ['threads.mjs'], consumer, 30_000);
  // (run() appends stderr, where a loop that falls back from a refused ring says so.)
  const { task, resolved } = JSON.parse(/^\{.*\}$/m.exec(out)?.[0] ?? out) as { task: { sum: number; threadId: number; ioloop: string }; resolved: boolean };
  assert.is(task.sum, 5);
  assert.ok(task.threadId > 0, `the task ran on thread ${task.threadId}, not a worker`);
  assert.is(task.ioloop, 'function');
  assert.ok(resolved, out);
});

test('a strict TypeScript consumer type-checks against the installed declarations', async () => {
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true,
      types: ['node'], typeRoots: [join(repo, 'node_modules/@types')], skipLibCheck: false,
    },
    files: ['check.ts'],
  }));
  writeFileSync(join(consumer, 'check.ts'), `
import { IOLoop, IOStream, TCPServer, type Address } from 'gale';
import { bindSockets } from 'gale/net';
import { ThreadedResolver } from 'gale/resolvers';
import { StreamClosedError } from 'gale/streams';

class Echo extends TCPServer {
  override async handleStream(stream: IOStream, _address: Address): Promise<void> {
    const data: Buffer | null = await stream.readBytes(10, { partial: true });
    if (data) await stream.write(data);
  }
}
const loop: IOLoop = IOLoop.current()!;
const server = new Echo();
server.addSockets(bindSockets(0, '127.0.0.1'));
const resolver = new ThreadedResolver();
const closed: boolean = new StreamClosedError() instanceof Error;
const events: number = IOLoop.READ | IOLoop.WRITE;
void loop; void resolver; void closed; void events;
`);
  const tsc = join(repo, 'node_modules/typescript/bin/tsc');
  await run(process.execPath, [tsc, '-p', 'tsconfig.json'], consumer, 60_000);
  // And the checker really checks: a wrong type in the consumer is an error.
  writeFileSync(join(consumer, 'check.ts'), `import { IOLoop } from 'gale';\nconst n: string = IOLoop.READ;\nvoid n;\n`);
  let failedAsExpected = false;
  try { await run(process.execPath, [tsc, '-p', 'tsconfig.json'], consumer, 60_000); } catch (error) {
    failedAsExpected = /TS2322/.test(String(error));
  }
  assert.ok(failedAsExpected, 'a type error in the consumer was not reported');
});

test.run();
