/**
 * The README's programs run as written: each is a file under
 * scripts/examples/ (compiled by `npm run build`) — the reactor example, the
 * ported Tornado HTTP client, the echo server, the executor, subprocess and
 * resolver examples — plus the chat demo (two clients talk, Ctrl-C stops it
 * cleanly). Each runs in its own process, bounded in time, output checked.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket as NetSocket } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers.js';

const scripts = fileURLToPath(new URL('../scripts/', import.meta.url));

function run(file: string, args: string[] = [], timeoutMs = 20_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [scripts + file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${file} timed out:\n${out}`)); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

/** A port nobody listens on right now (the OS picks it; we let it go again). */
async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  probe.close();
  await once(probe, 'close');
  return port;
}

test('the reactor example prints what the handler received', async () => {
  const { code, out } = await run('examples/reactor.js');
  assert.is(code, 0, out);
  assert.match(out, /hello \(events \d+\)/);
  assert.match(out, /ffiCalls/);
});

test('the ported HTTP client fetches the body from a local server', async () => {
  const { code, out } = await run('examples/http-client.js');
  assert.is(code, 0, out);
  assert.match(out, /Hello from a local server/);
});

test('the chat demo relays lines between clients and stops on SIGINT', async () => {
  const demo: ChildProcess = spawn(process.execPath, [scripts + 'demo.js', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  demo.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((resolve) => demo.on('close', resolve));
  const clients: NetSocket[] = [];
  try {
    const [, port] = await waitFor(demo.stdout!, /on 127\.0\.0\.1:(\d+) \(poller: \w+\)/);
    const alice = connect(Number(port), '127.0.0.1');
    clients.push(alice);
    await waitFor(alice, /Welcome to gale chat/);
    // Listen before bob joins: the line can reach alice before bob's welcome
    // reaches bob, and data with no listener is gone.
    const aliceHearsJoin = waitFor(alice, /joined/);
    const bob = connect(Number(port), '127.0.0.1');
    clients.push(bob);
    await waitFor(bob, /Welcome/);
    await aliceHearsJoin;
    bob.write('hello from bob\n');
    await waitFor(alice, /> hello from bob/);
    demo.kill('SIGINT');
    assert.is(await exited, 0, log);
  } finally {
    for (const c of clients) c.destroy();
    if (demo.exitCode === null) demo.kill('SIGKILL');
  }
});

test('the executor example hashes on a worker thread', async () => {
  const { code, out } = await run('examples/executor.js');
  assert.is(code, 0, out);
  assert.match(out, /^1307990e6ba5ca145eb35e99182a9bec46531bc54ddf656a602c780fa0240dee$/m);
});

test('the subprocess example reads the child\'s output line by line, then its exit status', async () => {
  const { code, out } = await run('examples/subprocess-lines.js');
  assert.is(code, 0, out);
  assert.is(out, 'child says: one\nchild says: two\nchild says: three\nexit status 0\n');
});

test('the resolver example resolves localhost and connects through an override', async () => {
  const { code, out } = await run('examples/resolve-and-connect.js', [String(await freePort())]);
  assert.is(code, 0, out);
  assert.match(out, /\[ 2, \[ '127\.0\.0\.1', 80 \] \]/);
  assert.match(out, /server got: "hello\\n"/);
});

test('the echo server example echoes and stops on SIGINT', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [scripts + 'examples/echo-server.js', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    while (!out.includes('listening')) {
      if (child.exitCode !== null) assert.unreachable(out);
      await new Promise((r) => setTimeout(r, 20));
    }
    const socket = connect(port, '127.0.0.1');
    socket.write('ping\n');
    const [reply] = await once(socket, 'data');
    assert.is(reply.toString(), 'ping\n');
    socket.destroy();
    child.kill('SIGINT');
    assert.is(await closed, 0, out);
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

// ------------------------------------------------------------ the README shows them as written

const repo = fileURLToPath(new URL('../../', import.meta.url));

/** A source file as the README shows it: without its opening doc comment. */
function shownPart(path: string): string {
  return readFileSync(repo + path, 'utf8').replace(/^\/\*\*[\s\S]*?\*\/\n/, '').trim();
}

test('every README example is a file under scripts/examples, shown exactly as written', () => {
  const readme = readFileSync(repo + 'README.md', 'utf8');
  const blocks = [...readme.matchAll(/(<!-- example: (\S+) -->\n)?```(?:ts|js)\n([\s\S]*?)```/g)];
  const marked = blocks.filter((b) => b[2]);
  assert.ok(marked.length >= 6, `only ${marked.length} marked examples`);
  for (const [, , path, code] of marked) {
    assert.ok(path!.startsWith('scripts/examples/'), path);
    assert.fixture(code!.trim(), shownPart(path!), `README's ${path} differs from the file`);
  }
  // Any block that imports gale is a program a reader will try: it must be one of them.
  const unmarked = blocks.filter((b) => !b[2] && /from 'gale/.test(b[3]!)).map((b) => b[3]!.split('\n')[0]);
  assert.equal(unmarked, []);
});

test.run();
