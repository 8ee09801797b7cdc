/**
 * The README's examples run as written: each is a file under
 * scripts/examples/ (compiled by `npm run build`), and here each runs in its
 * own process, bounded in time, with its output checked.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const examples = fileURLToPath(new URL('../scripts/examples/', import.meta.url));

function run(file: string, args: string[] = [], timeoutMs = 20_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [examples + file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${file} timed out:\n${out}`)); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

test('the executor example hashes on a worker thread', async () => {
  const { code, out } = await run('executor.js');
  assert.is(code, 0, out);
  assert.match(out, /^1307990e6ba5ca145eb35e99182a9bec46531bc54ddf656a602c780fa0240dee$/m);
});

test('the resolver example resolves localhost and connects through an override', async () => {
  const { code, out } = await run('resolve-and-connect.js');
  assert.is(code, 0, out);
  assert.match(out, /\[ 2, \[ '127\.0\.0\.1', 80 \] \]/);
  assert.match(out, /server got: "hello\\n"/);
});

test('the echo server example echoes and stops on SIGINT', async () => {
  const probe = (await import('node:net')).createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  probe.close();
  await once(probe, 'close');
  const child = spawn(process.execPath, [examples + 'echo-server.js', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
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

test.run();
