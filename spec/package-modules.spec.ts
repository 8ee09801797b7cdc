/**
 * What a program loads when it imports the package: the bundle
 * (dist/bundle/, scripts/bundle.mjs), not tsc's per-file modules. Each ESM
 * module costs Node ~100 KiB of resident memory and its imports make the
 * loader's resolver work (docs/using.md, "What the package loads"), so the
 * count of files and of the specifiers they resolve is what is checked,
 * never a memory figure.
 *
 * Also: every module of gale is in exactly one bundled file, and a program
 * that imports the root and subpaths gets one copy of everything — one
 * IOLoop class, one current loop, one FFI layer. Each check runs in a fresh
 * process, where nothing else has loaded gale's modules.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHUNK_SIZE, SCRATCH_SIZE } from '../reactor/sys/arena.js';

interface Metafile {
  outputs: Record<string, { inputs: Record<string, unknown>; imports: Array<{ path: string; external?: boolean }>; entryPoint?: string }>;
}

const repo = fileURLToPath(new URL('../../', import.meta.url));
const meta = JSON.parse(readFileSync(new URL('../bundle/metafile.json', import.meta.url), 'utf8')) as Metafile;
const SUBPATHS = ['gale', 'gale/reactor', 'gale/streams', 'gale/net', 'gale/resolvers', 'gale/ssl'];
const fileOf = (specifier: string) => `dist/bundle/${specifier === 'gale' ? 'index' : specifier.slice('gale/'.length)}.js`;

/**
 * The most files `import 'gale'` may load. With an entry per subpath,
 * esbuild split the code into 16 files whose ~70 imports made Node's
 * resolver hot enough to be optimised, and an idle server held 3.5 MiB more
 * than with the 6 files of today (tsc's per-file dist: 85 files). A change
 * that splits the bundle further shows here first.
 */
const FILES_BUDGET = 8;

/** The bundled files `file` loads: itself and, transitively, the chunks it imports. */
function closure(file: string, into = new Set<string>()): Set<string> {
  if (into.has(file)) return into;
  into.add(file);
  for (const imported of meta.outputs[file]!.imports) if (!imported.external) closure(imported.path, into);
  return into;
}

function runFixture(name: string, args: string[] = []): string {
  const child = spawnSync(process.execPath, [fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), ...args],
    { encoding: 'utf8', timeout: 60_000 });
  assert.is(child.status, 0, `${name} exited with ${child.status ?? child.signal}: ${child.stderr}`);
  return child.stdout;
}

/** What importing `specifiers` loads of the package: its files (repo-relative) and the specifiers they resolve. */
function loadedBy(specifiers: string[]): { files: string[]; resolved: Array<[string, string]> } {
  const report = JSON.parse(runFixture('package-modules.js', specifiers).trim().split('\n').pop()!) as
    { loaded: string[]; resolved: Array<[string, string]> };
  const inPackage = (url: string) => url.startsWith(pathToFileURL(repo + 'dist/').href);
  const relative = (url: string) => fileURLToPath(url).slice(repo.length);
  return {
    files: report.loaded.filter(inPackage).map(relative).sort(),
    resolved: report.resolved.filter(([parent]) => inPackage(parent)).map(([parent, specifier]) => [relative(parent), specifier]),
  };
}

test('import \'gale\' loads the root\'s bundled file and the chunks it imports, nothing else of the package', () => {
  const { files, resolved } = loadedBy(['gale']);
  assert.equal(files, [...closure(fileOf('gale'))].sort());
  assert.ok(files.length <= FILES_BUDGET, `${files.length} files: ${files.join(', ')}`);
  // The specifiers those files resolve: each one a file imports, once (Node's built-ins and packages included).
  const fromBundle = resolved.filter(([parent]) => parent.startsWith('dist/bundle/'));
  const imports = files.reduce((n, file) => n + new Set(meta.outputs[file]!.imports.map((i) => i.path)).size, 0);
  assert.is(fromBundle.length, imports, JSON.stringify(fromBundle));
});

test('the root and every subpath together load each bundled file once, and no per-file module', () => {
  const { files } = loadedBy(SUBPATHS);
  const expected = new Set<string>();
  for (const specifier of SUBPATHS) closure(fileOf(specifier), expected);
  assert.equal(files, [...expected].sort());
  assert.equal(files.filter((file) => !file.startsWith('dist/bundle/')), []);
  assert.ok(files.length <= FILES_BUDGET + 4, `${files.length} files`); // the four subpaths that re-export the root's names
});

test('each of gale\'s modules is in exactly one bundled file', () => {
  const holders = new Map<string, string[]>();
  for (const [file, output] of Object.entries(meta.outputs)) {
    for (const input of Object.keys(output.inputs)) holders.set(input, [...(holders.get(input) ?? []), file]);
  }
  assert.ok(holders.size > 50, `${holders.size} modules bundled`);
  for (const module of ['dist/reactor/ioloop.js', 'dist/reactor/current-loop.js', 'dist/reactor/sys/ffi.js', 'dist/reactor/executor-task.js']) {
    assert.ok(holders.has(module), `${module} is not bundled`);
  }
  assert.equal([...holders].filter(([, files]) => files.length !== 1), []);
});

test('a program importing the root and the subpaths gets one IOLoop class, one current loop and one FFI layer', () => {
  const shared = JSON.parse(runFixture('package-shared.js').trim()) as {
    sameClasses: Record<string, boolean>; currentShared: boolean; clearedShared: boolean; ffiCallsPerPair: number; leaked: string[];
  };
  assert.equal(shared.sameClasses, {
    IOLoop: true, Future: true, IOStream: true, TCPServer: true, ThreadedResolver: true, SSLContext: true, OSError: true,
  });
  assert.ok(shared.currentShared, 'a loop made current through gale is not gale/reactor\'s current loop');
  assert.ok(shared.clearedShared, 'clearing the current loop through gale/reactor did not clear it for gale');
  // socketpair(2) and two close(2) per pair, counted by the loop's own FFI
  // counter (give or take a few calls of the loop's own over 50 pairs); with a
  // second FFI layer the loop would count none of them.
  assert.ok(shared.ffiCallsPerPair > 2.5, `${shared.ffiCallsPerPair} FFI calls per socket pair reached the loop's count`);
  assert.equal(shared.leaked, []);
});

test('the worker threads\' entry files are bundled under the names gale starts them by', () => {
  // reactor/executor-pool.ts and resolvers/executor-resolver.ts name them relative to their own module.
  for (const [file, source] of [['dist/bundle/executor-worker.js', 'dist/reactor/executor-worker.js'], ['dist/bundle/resolve-task.js', 'dist/resolvers/resolve-task.js']]) {
    assert.is(meta.outputs[file!]?.entryPoint, source);
  }
  const starters = Object.entries(meta.outputs).filter(([, output]) => 'dist/reactor/executor-pool.js' in output.inputs || 'dist/resolvers/executor-resolver.js' in output.inputs);
  assert.ok(starters.length >= 1);
  for (const [file] of starters) assert.ok(file.startsWith('dist/bundle/') && !file.slice('dist/bundle/'.length).includes('/'), file);
});

test('node:tls, node:crypto and node:child_process load at first use, node:perf_hooks never, not when a TCP server starts', () => {
  // Each costs an idle process resident memory (ssl/node-tls.ts,
  // net/process-supervisor.ts): a plain TCP server must not load them.
  const report = JSON.parse(runFixture('builtins-on-demand.js').trim().split('\n').pop()!) as
    { afterServer: string[]; afterContext: string[] };
  assert.equal(report.afterServer, []);
  assert.ok(report.afterContext.includes('NativeModule tls'), JSON.stringify(report));
  assert.ok(!report.afterContext.includes('NativeModule child_process'), JSON.stringify(report));
  assert.ok(!report.afterContext.includes('NativeModule perf_hooks'), JSON.stringify(report));
});

test('the bundled files are ASCII and carry no whole-line comments', () => {
  // Node keeps each module's source in V8's heap; one non-ASCII character
  // makes V8 store all of it as UTF-16 (twice the bytes), and the TSDoc
  // esbuild carries over was 40 % of the text (scripts/bundle.mjs,
  // withoutComments). The `// dist/…` lines that name each module stay.
  for (const file of Object.keys(meta.outputs)) {
    const text = readFileSync(repo + file, 'utf8');
    assert.ok(/^[\x00-\x7f]*$/.test(text), `${file} has non-ASCII characters`);
    const comments = text.split('\n').filter((line) => /^\s*(\/\*|\/\/(?! dist\/)|\*(\s|\/|$))/.test(line));
    assert.equal(comments.slice(0, 3), [], `${file}: ${comments.length} comment lines`);
  }
});

test('importing gale names only the functions bundling renamed (no name redefined in place)', () => {
  // esbuild's keepNames helper redefines `name` on every function and
  // class it wraps, which puts each one's properties in a dictionary;
  // bundle.mjs makes it skip a function that already bears the name.
  const report = JSON.parse(runFixture('package-names.js').trim()) as { same: number; renamed: number };
  assert.ok(report.renamed > 0, 'no function was renamed: the watch saw nothing'); // bundling renames a few (IOLoop, Future, …)
  assert.is(report.same, 0, `${report.same} names redefined to the name the function already had`);
});

test('a loop serving TCP binds only the libc functions it calls and a readiness loop makes no 64 KiB chunk', () => {
  // reactor/sys/libc.ts binds each function at its first call: a binding
  // costs ~4 KiB, and spawning, waiting for children or kqueue are not a
  // TCP server's calls. reactor/sys/arena.ts makes its read chunk at first
  // use, which streams (reading into Buffers) and name resolution never are.
  for (const poller of ['epoll', 'poll', 'uring']) {
    const child = spawnSync(process.execPath, [fileURLToPath(new URL('./fixtures/echo-footprint.js', import.meta.url))],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, GALE_POLLER: poller } });
    assert.is(child.status, 0, child.stderr);
    const report = JSON.parse(child.stdout.trim()) as { poller: string; echoed: string; bound: string[]; functions: number; regionBytes: number };
    assert.is(report.echoed, 'hello');
    // The outbox (CHUNK_SIZE), the scratch slots and the resolver's hints,
    // on every poller: a completion socket's direct read(2) lands in a JS
    // Buffer as a readiness read does (reactor/uring/received.ts), not in a
    // native chunk of its own.
    const chunks = 1;
    assert.ok(report.regionBytes >= chunks * CHUNK_SIZE + SCRATCH_SIZE && report.regionBytes < chunks * CHUNK_SIZE + 4 * SCRATCH_SIZE,
      `${report.poller}: ${report.regionBytes} bytes of regions held`);
    assert.ok(report.bound.length > 3 && report.bound.length <= report.functions / 2, `${report.poller}: ${report.bound.length} of ${report.functions} bound: ${report.bound.join(' ')}`);
    for (const name of ['posixSpawn', 'spawnattrInit', 'kqueue', 'waitid']) assert.not.ok(report.bound.includes(name), `${report.poller} bound ${name}`);
  }
});

test.run();
