/**
 * The `npm start` chat demo protects itself: a member who never reads is
 * dropped once the server's write-buffer limit is reached, so ~200 MB of
 * chat leaves the server's memory bounded; a busy port is one clear line
 * and exit code 1; `--port` and `PORT` pick the port.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket as NetSocket } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { waitFor, withoutFallbackNotice } from './helpers.js';

const demoPath = fileURLToPath(new URL('../scripts/demo.js', import.meta.url));

function startDemo(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [demoPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
}

function exitOf(child: ChildProcess, timeoutMs = 15_000): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`demo did not exit: ${stderr}`)); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}

/** Peak resident memory of a live process, in MiB. */
function peakRssMiB(pid: number): number {
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kib / 1024;
}

test('a member who never reads is dropped, and 200 MB of chat leaves the server bounded', async () => {
  const demo = startDemo(['--port', '0']);
  const clients: NetSocket[] = [];
  try {
    const [, port] = await waitFor(demo.stdout!, /on 127\.0\.0\.1:(\d+) /);
    const silent = connect(Number(port), '127.0.0.1');
    clients.push(silent);
    await waitFor(silent, /Welcome/);
    silent.pause(); // from here on it reads nothing: the server's writes to it pile up
    const talker = connect(Number(port), '127.0.0.1');
    clients.push(talker);
    await waitFor(talker, /Welcome/);
    talker.on('data', () => {}); // the talker hears the others; keep its buffer drained

    const line = Buffer.from(`${'x'.repeat(3999)}\n`);
    const totalBytes = 200 * 1024 * 1024;
    let sent = 0;
    while (sent < totalBytes) {
      sent += line.length;
      if (!talker.write(line)) await once(talker, 'drain');
    }
    // The server has read everything once a line sent after it reaches a new member.
    const probe = connect(Number(port), '127.0.0.1');
    clients.push(probe);
    await waitFor(probe, /Welcome/);
    talker.write('done\n');
    await waitFor(probe, /> done/, { timeoutMs: 60_000 });

    const peak = peakRssMiB(demo.pid!);
    // The silent member was dropped: its connection ends after what it was owed,
    // which is bounded by the limit plus the kernel's socket buffers.
    let owed = 0;
    silent.on('data', (d: Buffer) => { owed += d.length; });
    silent.resume();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([once(silent, 'close'),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('the silent member was never dropped')), 20_000); })]);
    clearTimeout(timer);
    assert.ok(owed < 32 * 1024 * 1024, `silent member received ${owed} bytes`);
    // Before the limit existed the server grew past 320 MiB here.
    assert.ok(peak < 200, `server peak RSS ${peak.toFixed(0)} MiB`);
    demo.kill('SIGINT');
    assert.is((await exitOf(demo)).code, 0);
  } finally {
    for (const c of clients) c.destroy();
    if (demo.exitCode === null) demo.kill('SIGKILL');
  }
});

test('a busy port is one clear line and exit code 1', async () => {
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  const port = (holder.address() as { port: number }).port;
  try {
    const result = await exitOf(startDemo([], { PORT: String(port) }));
    const { code } = result;
    const stderr = withoutFallbackNotice(result.stderr);
    assert.is(code, 1);
    assert.is(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use; pick another with --port N`));
  } finally {
    holder.close();
  }
});

test('--port=N is honoured and a bad port is refused', async () => {
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  const port = (holder.address() as { port: number }).port;
  holder.close();
  await once(holder, 'close');
  const demo = startDemo([`--port=${port}`]);
  try {
    await waitFor(demo.stdout!, new RegExp(`on 127\\.0\\.0\\.1:${port} `));
    demo.kill('SIGINT');
    assert.is((await exitOf(demo)).code, 0);
  } finally {
    if (demo.exitCode === null) demo.kill('SIGKILL');
  }
  const bad = await exitOf(startDemo(['--port', '70000']));
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /invalid port "70000"/);
});

test.run();
