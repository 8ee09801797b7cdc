/**
 * Bad input to the multi-process API gets a clear error and loses nothing:
 * counts that are not counts, forkProcesses twice or on a worker thread,
 * binding in a supervising parent or after start(n), and a worker whose
 * bind calls differ from its parent's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { IOLoop } from '../reactor/ioloop.js';
import { TCPServer } from '../net/tcpserver.js';
import { IOStream } from '../streams/iostream.js';
import { Socket } from '../reactor/sys/socket.js';
import { bindSockets } from '../net/netutil.js';
import { checkProcessCount, cpuCount, forkProcesses, taskId } from '../net/process.js';
import { Fixture } from './fixtures/multiproc-harness.js';
import { fdLeakCheck, thrown } from './helpers.js';

test('taskId() is null in a process forkProcesses did not start; cpuCount() is a positive integer', () => {
  assert.is(taskId(), null);
  assert.ok(Number.isInteger(cpuCount()) && cpuCount() >= 1);
});

test('process counts: null/undefined/0 mean one per CPU; negatives, fractions and strings are refused', () => {
  assert.is(checkProcessCount(null), 0);
  assert.is(checkProcessCount(undefined), 0);
  assert.is(checkProcessCount(3), 3);
  assert.instance(thrown(() => checkProcessCount(-3)), RangeError);
  assert.match(thrown(() => checkProcessCount(-3)).message, /must be >= 0 \(0 or null: one per CPU\), got -3/);
  assert.instance(thrown(() => checkProcessCount('x')), TypeError);
  assert.match(thrown(() => checkProcessCount('x')).message, /must be an integer or null, got string/);
  assert.instance(thrown(() => checkProcessCount(1.5)), TypeError);
  assert.instance(thrown(() => checkProcessCount(NaN)), TypeError);
});

test('TCPServer.start(-3) / start(\'x\') throw before anything starts; the server still starts and serves after', async () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  class Hello extends TCPServer {
    override async handleStream(stream: IOStream): Promise<void> {
      await stream.write('hello\n');
      stream.close();
    }
  }
  try {
    await loop.runSync(async () => {
      const server = new Hello();
      server.ioLoop = loop;
      server.bind(0, '127.0.0.1');
      assert.instance(thrown(() => server.start(-3)), RangeError);
      assert.instance(thrown(() => server.start('x' as unknown as number)), TypeError);
      assert.instance(thrown(() => server.start(2.5)), TypeError);
      assert.is(taskId(), null, 'nothing was forked');
      server.start(1);
      const port = (server as unknown as { sockets: Map<number, { socket: Socket }> }).sockets.values().next().value!.socket.getsockname() as [string, number];
      const stream = new IOStream(new Socket(), { ioLoop: loop });
      await stream.connect(['127.0.0.1', port[1]]);
      assert.is((await stream.readUntil('\n'))!.toString(), 'hello\n');
      // The server closes once its write's Future has resolved: wait for
      // that (on a uring loop it resolves when the SEND's completion is
      // seen, which can be after the reply has arrived here).
      assert.is((await stream.readUntilClose())!.length, 0);
      stream.close();
      server.stop();
    }, 20);
  } finally {
    loop.close();
  }
  leaks();
});

test('forkProcesses refuses bad counts and maxRestarts before starting anything', () => {
  assert.instance(thrown(() => forkProcesses(-1)), RangeError);
  assert.instance(thrown(() => forkProcesses('2' as unknown as number)), TypeError);
  assert.instance(thrown(() => forkProcesses(2, -1)), TypeError);
  assert.instance(thrown(() => forkProcesses(2, 1.5)), TypeError);
  assert.is(taskId(), null);
});

test('forkProcesses on a worker thread is refused with an error naming the alternative', async () => {
  const url = new URL('../net/process.js', import.meta.url).href;
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(url)}).then((m) => {
      try { m.forkProcesses(2); parentPort.postMessage('no error'); }
      catch (e) { parentPort.postMessage(e.name + ': ' + e.message); }
    }, (e) => parentPort.postMessage('import failed: ' + e.message));
  `, { eval: true });
  const message = await new Promise<string>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.match(message, /^Error: forkProcesses\(\) must be called on the main thread/);
  assert.match(message, /one IOLoop per worker thread/);
});

async function misuse(mode: string): Promise<string[]> {
  const fixture = new Fixture('multiproc-misuse.js', [mode]);
  try {
    const { code } = await fixture.exit();
    assert.is(code, 0, fixture.stderr);
    return fixture.lines;
  } finally {
    fixture.killAll();
  }
}

test('forkProcesses twice is refused in the parent and in a worker; binding in the supervising parent is refused', async () => {
  const lines = await misuse('twice');
  assert.ok(lines.includes('parent forkProcesses again: Error: forkProcesses() has already been called in this process'), lines.join('\n'));
  assert.ok(lines.includes('worker0 forkProcesses again: Error: forkProcesses() has already been called in this process'), lines.join('\n'));
  const bind = lines.find((l) => l.startsWith('parent bindSockets:'));
  assert.match(bind!, /cannot bind .* in the supervising parent: forkProcesses\(\) \/ start\(n\) was called/);
});

test('a worker whose bind calls differ from its parent\'s gets an error naming both calls', async () => {
  const lines = await misuse('mismatch');
  assert.ok(lines.includes('parent bindSockets: ok'), lines.join('\n'));
  const worker = lines.find((l) => l.startsWith('worker0 bindSockets:'));
  assert.match(worker!, /bind call #1 is bindSockets\(0, "localhost".*but the parent's was bindSockets\(0, "127\.0\.0\.1"/);
});

test('TCPServer.bind after start(n) is refused (parent and worker) unless a worker binds with reusePort', async () => {
  const lines = await misuse('late-bind');
  assert.match(lines.find((l) => l.startsWith('parent bind after start:'))!, /bind\(\) after start\(n\) with worker processes/);
  assert.match(lines.find((l) => l.startsWith('worker0 bind after start:'))!, /bind\(\) after start\(n\) with worker processes/);
  assert.ok(lines.includes('worker0 bind after start with reusePort: ok'), lines.join('\n'));
});

test('bindSockets in a plain process binds as always (no inherited sockets)', () => {
  const sockets = bindSockets(0, '127.0.0.1');
  assert.ok(sockets.length >= 1);
  for (const s of sockets) s.close();
});

test.run();
