/**
 * The programs README.md and docs/ show run as written: each is a file under
 * scripts/examples/ (compiled by `npm run build`) — the reactor example, the
 * ported Tornado HTTP client, the echo server, the executor, subprocess and
 * resolver examples — plus the chat demo (two clients talk, Ctrl-C stops it
 * cleanly). Each runs in its own process, bounded in time, output checked.
 * (The TLS, crawler, tcpecho and from-your-project examples run in their own
 * specs.) Then: every example block shows its file exactly, every file is
 * shown, and every relative link in the pages resolves.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket as NetSocket } from 'node:net';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor, withoutFallbackNotice } from './helpers.js';

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
  assert.is(withoutFallbackNotice(out), 'child says: one\nchild says: two\nchild says: three\nexit status 0\n');
});

test('the resolver example resolves localhost and connects through an override', async () => {
  const { code, out } = await run('examples/resolve-and-connect.js', [String(await freePort())]);
  assert.is(code, 0, out);
  assert.match(out, /\[ 2, \[ '127\.0\.0\.1', 80 \] \]/);
  assert.match(out, /server got: "hello\\n"/);
});

test('the bulk echo example echoes 8 MiB through readInto intact', async () => {
  const { code, out } = await run('examples/bulk-echo.js', [String(await freePort())]);
  assert.is(code, 0, out);
  assert.match(out, /echoed 8 MiB, intact: true/);
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

// ------------------------------------------------- the pages show them as written, and link soundly

const repo = fileURLToPath(new URL('../../', import.meta.url));

/** README.md and every page under docs/: where examples are shown. */
function pages(): string[] {
  return ['README.md', ...readdirSync(repo + 'docs').filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
}

/** A source file as the pages show it: without its opening doc comment. */
function shownPart(path: string): string {
  return readFileSync(repo + path, 'utf8').replace(/^\/\*\*[\s\S]*?\*\/\n/, '').trim();
}

test('every example block in README.md and docs/ is a file under scripts/examples, shown exactly as written', () => {
  const shown = new Set<string>();
  for (const page of pages()) {
    const text = readFileSync(repo + page, 'utf8');
    const blocks = [...text.matchAll(/(?:<!-- (example|fragment)(?:: (\S+))? -->\n)?```(?:ts|js)\n([\s\S]*?\n)?```(?=\n|$)/g)];
    for (const [, marker, path, code] of blocks) {
      if (marker === 'example') {
        assert.ok(path?.startsWith('scripts/examples/'), `${page}: ${path}`);
        assert.fixture((code ?? '').trim(), shownPart(path!), `${page}'s ${path} differs from the file`);
        shown.add(path!);
      } else if (/from 'gale/.test(code ?? '')) {
        // A block that imports gale is a program a reader will try: it must be
        // one of the examples. Only a docs page may show a piece of one,
        // marked `<!-- fragment -->` (the README shows whole programs only).
        assert.ok(marker === 'fragment' && page !== 'README.md', `${page}: unmarked program: ${code!.split('\n')[0]}`);
      }
    }
  }
  // ...and every example is shown somewhere.
  const files = readdirSync(repo + 'scripts/examples').filter((f) => /\.(ts|mjs)$/.test(f)).map((f) => `scripts/examples/${f}`);
  assert.equal([...shown].sort(), files.sort());
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').toLowerCase().trim()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

/** The anchors a markdown file offers (duplicates numbered as GitHub does). */
function anchors(path: string): Set<string> {
  const found = new Set<string>();
  let fence = false;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    const heading = !fence && /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    let name = base;
    for (let n = 1; found.has(name); n++) name = `${base}-${n}`;
    found.add(name);
  }
  return found;
}

test('every relative link in README.md and docs/ reaches an existing file and heading', () => {
  const broken: string[] = [];
  for (const page of [...pages(), 'reactor/README.md', 'scripts/bench/README.md']) {
    const text = readFileSync(repo + page, 'utf8').replace(/```[\s\S]*?\n```(?=\n|$)/g, '').replace(/`[^`\n]*`/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;   // https:, mailto:
      const [file, anchor] = target!.split('#') as [string, string | undefined];
      const path = file ? resolve(dirname(repo + page), file) : repo + page;
      if (!existsSync(path)) { broken.push(`${page}: ${target} (no such file)`); continue; }
      if (anchor && path.endsWith('.md') && !anchors(path).has(anchor)) broken.push(`${page}: ${target} (no such heading)`);
    }
  }
  assert.equal(broken, []);
});

test('nothing in the repository points a reader at notes outside it', () => {
  const outside: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(repo + dir, { withFileTypes: true })) {
      const path = dir + entry.name;
      if (entry.isDirectory()) {
        if (!['node_modules', 'dist', 'coverage'].includes(entry.name) && !entry.name.startsWith('.')) walk(path + '/');
      } else if (/\.(md|ts|mjs|js|json|c|sh|py)$/.test(entry.name)) {
        const text = readFileSync(repo + path, 'utf8');
        if (/\.\.\/shared\b|[A-Z]+-NOTES\.md/.test(text)) outside.push(path);
      }
    }
  };
  walk('');
  assert.equal(outside, []);
});

test.run();
