/**
 * gale loops in worker threads: an echo server on a worker's loop, stopped
 * from the main thread (message + wakeThread); several workers each with
 * their own loop and a reusePort socket on one port; Worker.terminate() and
 * process.exit() with an idle worker loop end in bounded time; importing
 * gale first in a worker fails clearly instead of crashing; no fd leaks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { wakeThread } from '../reactor/worker-loops.js';
import '../reactor/ioloop.js'; // gale on the main thread first, as the rules require
import { fdLeakCheck } from './helpers.js';

const echoFixture = new URL('./fixtures/worker-echo.js', import.meta.url);

/** Rejects after `ms`: a bound on hangs, not a timing assertion. */
function bounded<T>(what: string, promise: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms); }),
  ]);
}

function nextMessage(worker: Worker): Promise<any> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

function exited(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', resolve));
}

/** One line to 127.0.0.1:port over node:net; resolves with the reply line. */
function echo(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.on('error', reject);
    socket.on('data', (data) => {
      reply += data.toString();
      if (reply.endsWith('\n')) { socket.destroy(); resolve(reply.trimEnd()); }
    });
    socket.write(`${line}\n`);
  });
}

async function stopWorker(worker: Worker): Promise<void> {
  const closed = nextMessage(worker);
  const exit = exited(worker);
  // Registered before the stop: a wake with nothing posted only makes the
  // loop run one iteration. After the post, the wake may find the loop gone
  // already (a busy loop can take the message and close first), so its count
  // is not asserted: the 'closed' message and the exit are the proof.
  assert.ok(wakeThread(worker.threadId) >= 1, 'the worker\'s loop is registered and can be woken');
  worker.postMessage('stop');
  wakeThread(worker.threadId);
  assert.is(await bounded('the worker closing', closed), 'closed');
  assert.is(await bounded('the worker exiting', exit), 0);
}

test('an echo server on a worker thread\'s loop serves; a message + wakeThread stops it; no fd leaks', async () => {
  const leaks = fdLeakCheck();
  const worker = new Worker(echoFixture);
  const { port } = await bounded('the worker serving', nextMessage(worker));
  for (let i = 0; i < 3; i++) assert.is(await bounded('an echo', echo(port, `hello ${i}`)), `${worker.threadId} hello ${i}`);
  await stopWorker(worker);
  leaks();
});

test('several workers, each with its own loop and a reusePort socket on the same port, all serve', async () => {
  const leaks = fdLeakCheck();
  const first = new Worker(echoFixture, { workerData: { reusePort: true } });
  const { port } = await bounded('the first worker serving', nextMessage(first));
  const others = [1, 2].map(() => new Worker(echoFixture, { workerData: { port, reusePort: true } }));
  const serving = others.map(nextMessage); // listen before awaiting: a message with no listener is lost
  for (const message of serving) assert.equal(await bounded('a worker serving', message), { port });
  const workers = [first, ...others];
  // The kernel spreads connections over the sockets by a hash of the
  // client's address and port: 60 connections reach all three (the chance
  // that one gets none is below 1e-10).
  const seen = new Set<number>();
  for (let i = 0; i < 60 && seen.size < workers.length; i++) {
    const [tid, text] = (await bounded('an echo', echo(port, `n${i}`))).split(' ');
    assert.is(text, `n${i}`);
    seen.add(Number(tid));
  }
  assert.equal([...seen].sort(), workers.map((w) => w.threadId).sort());
  for (const worker of workers) await stopWorker(worker);
  leaks();
});

test('Worker.terminate() on an idle worker loop resolves, and the loop\'s own fds are released', async () => {
  const leaks = fdLeakCheck();
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(new URL('../reactor/ioloop.js', import.meta.url).href)}).then(({ IOLoop }) => {
      const loop = new IOLoop();
      parentPort.postMessage('idle');
      loop.start();
    });
  `, { eval: true });
  assert.is(await bounded('the worker loop starting', nextMessage(worker)), 'idle');
  await bounded('terminate() resolving', worker.terminate());
  leaks();
});

test('a worker that ends without closing its loop releases the loop\'s fds', async () => {
  const leaks = fdLeakCheck();
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(new URL('../reactor/ioloop.js', import.meta.url).href)}).then(async ({ IOLoop }) => {
      const loop = new IOLoop();
      await loop.runSync(() => 42, 5);
      parentPort.postMessage('ran');
    });
  `, { eval: true });
  const exit = exited(worker);
  assert.is(await bounded('the worker loop running', nextMessage(worker)), 'ran');
  assert.is(await bounded('the worker ending', exit), 0);
  leaks();
});

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

test('process.exit() on the main thread with an idle worker loop exits', () => {
  const child = spawnSync(process.execPath, [fixture('worker-idle-exit.js')], { encoding: 'utf8', timeout: 30_000 });
  assert.is(child.error, undefined, 'no timeout');
  assert.is(child.stdout, 'exiting\n');
  assert.is(child.status, 0, child.stderr);
});

test('the main thread dying of an uncaught error with an idle worker loop exits', () => {
  const child = spawnSync(process.execPath, [fixture('worker-idle-exit.js'), 'throw'], { encoding: 'utf8', timeout: 30_000 });
  assert.is(child.error, undefined, 'no timeout');
  assert.is(child.status, 1);
  assert.match(child.stderr, /main thread fails/);
});

test('gale imported first in a worker thread runs a loop there; the process exits cleanly', () => {
  const child = spawnSync(process.execPath, [fixture('worker-import-first.js')], { encoding: 'utf8', timeout: 30_000 });
  assert.is(child.error, undefined, 'no timeout');
  assert.is(child.signal, null, child.stderr);
  assert.is(child.status, 0, child.stderr);
  assert.is(child.stdout, 'timer fired\nworker exit 0\n');
});

test.run();
