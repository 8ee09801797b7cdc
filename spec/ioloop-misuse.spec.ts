/**
 * Misusing the loop gets a typed error a caller can catch (Tornado raises
 * RuntimeError / KeyError for these): LoopStateError and
 * FdRegistrationError from reactor/loop-errors.ts. Also: the IOLoop's event
 * constants on instances, and the parts of the poller contract (reactor/
 * poller.ts) a handler relies on — level-triggered re-reports, ERROR alone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { IOLoop } from '../reactor/ioloop.js';
import { FdRegistrationError, LoopStateError } from '../reactor/loop-errors.js';
import { socketpair } from '../reactor/sys/socket.js';
import { fdLeakCheck, inLoop, rejection, thrown } from './helpers.js';

function newLoop(): IOLoop {
  return new IOLoop({ makeCurrent: false });
}

// ------------------------------------------------------------ LoopStateError

test('start() on a running loop throws LoopStateError, and the loop runs on', async () => {
  await inLoop(async (loop) => {
    const error = await new Promise<unknown>((resolve) => loop.addCallback(() => resolve(thrown(() => loop.start()))));
    assert.instance(error, LoopStateError);
    assert.instance(error, Error);
    assert.is((error as Error).name, 'LoopStateError');
    assert.match((error as Error).message, /IOLoop is already running/);
    assert.ok(loop.isRunning());
    assert.is(await new Promise((resolve) => loop.addCallback(resolve, 'still running')), 'still running');
  }, { timeout: 10 });
});

test('runSync() inside a running loop rejects with LoopStateError', async () => {
  await inLoop(async (loop) => {
    const error = await rejection(loop.runSync(() => 1, 1));
    assert.instance(error, LoopStateError);
    assert.match(error.message, /already running/);
  }, { timeout: 10 });
});

test('start() on a closed loop throws LoopStateError and acquires nothing', () => {
  const check = fdLeakCheck();
  const loop = newLoop();
  loop.close();
  const error = thrown(() => loop.start());
  assert.instance(error, LoopStateError);
  assert.match(error.message, /IOLoop is closing/);
  check();
});

test('makeCurrent: true while another loop is current throws LoopStateError before opening any fd', () => {
  const current = new IOLoop({ makeCurrent: true });
  const check = fdLeakCheck();
  try {
    const error = thrown(() => new IOLoop({ makeCurrent: true }));
    assert.instance(error, LoopStateError);
    assert.match(error.message, /current IOLoop already exists/);
    check();
    assert.is(IOLoop.current(false), current);
  } finally {
    current.close();
  }
});

test('install() over an existing instance throws LoopStateError; the instance stays', () => {
  const first = newLoop();
  const second = newLoop();
  try {
    first.install();
    const error = thrown(() => second.install());
    assert.instance(error, LoopStateError);
    assert.match(error.message, /already initialized/);
    assert.is(IOLoop.instance(), first);
  } finally {
    first.close();
    second.close();
  }
  assert.not.ok(IOLoop.initialized());
});

test('nodeInterop: true in a worker thread throws LoopStateError there', async () => {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    Promise.all([import(workerData.ioloop), import(workerData.errors)]).then(([{ IOLoop }, { LoopStateError }]) => {
      try { new IOLoop({ nodeInterop: true, makeCurrent: false }).close(); parentPort.postMessage({ thrown: false }); }
      catch (error) { parentPort.postMessage({ typed: error instanceof LoopStateError, name: error.name, message: error.message }); }
    }, (error) => parentPort.postMessage({ failed: String(error) }));`;
  const workerData = {
    ioloop: new URL('../reactor/ioloop.js', import.meta.url).href,
    errors: new URL('../reactor/loop-errors.js', import.meta.url).href,
  };
  const worker = new Worker(source, { eval: true, workerData });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  let timer: NodeJS.Timeout | undefined;
  try {
    const report = await Promise.race([
      new Promise<Record<string, unknown>>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); }),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('worker did not report')), 20_000); }),
    ]);
    assert.is(report.typed, true, JSON.stringify(report));
    assert.is(report.name, 'LoopStateError');
    assert.match(String(report.message), /main thread/);
  } finally {
    clearTimeout(timer);
    await worker.terminate();
    await exited;
  }
});

// ------------------------------------------------------------ FdRegistrationError

test('addHandler for a registered fd throws FdRegistrationError; the first handler keeps working', async () => {
  const [a, b] = socketpair();
  try {
    await inLoop(async (loop) => {
      const seen: string[] = [];
      loop.addHandler(a, (sock) => { seen.push(sock.recv(16).toString()); }, IOLoop.READ);
      const error = thrown(() => loop.addHandler(a.fileno(), () => { seen.push('second'); }, IOLoop.READ));
      assert.instance(error, FdRegistrationError);
      assert.instance(error, Error);
      assert.is(error.name, 'FdRegistrationError');
      assert.is(error.fd, a.fileno());
      assert.match(error.message, new RegExp(`fd ${a.fileno()} is already registered`));
      b.send('ping');
      for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((resolve) => loop.callLater(0.01, resolve));
      assert.equal(seen, ['ping']);
      loop.removeHandler(a);
    }, { timeout: 10 });
  } finally {
    a.close();
    b.close();
  }
});

test('updateHandler for an unknown fd throws FdRegistrationError naming the fd; removeHandler of one is a no-op', () => {
  const [a, b] = socketpair();
  const loop = newLoop();
  try {
    const error = thrown(() => loop.updateHandler(a, IOLoop.WRITE));
    assert.instance(error, FdRegistrationError);
    assert.is(error.fd, a.fileno());
    assert.match(error.message, /is not registered/);
    loop.removeHandler(a); // Tornado ignores an unknown fd here
    loop.addHandler(a, () => {}, IOLoop.READ); // nothing half-registered by the failures
    loop.updateHandler(a, IOLoop.WRITE);
    loop.removeHandler(a);
  } finally {
    loop.close();
    a.close();
    b.close();
  }
});

test('the misuse errors are public: gale and gale/reactor export them', async () => {
  // The package loads its bundle (dist/bundle/), not this spec's per-file
  // modules: its classes are the ones its own loops throw.
  const root = await import('gale');
  const reactor = await import('gale/reactor');
  assert.is(reactor.LoopStateError, root.LoopStateError);
  assert.is(reactor.FdRegistrationError, root.FdRegistrationError);
  const loop = new reactor.IOLoop({ makeCurrent: false });
  loop.close();
  const error = thrown(() => loop.start());
  assert.instance(error, root.LoopStateError);
  assert.is(error.name, LoopStateError.name);
  assert.is(root.FdRegistrationError.name, FdRegistrationError.name);
});

// ------------------------------------------------------------ event constants on instances

test('an IOLoop instance carries NONE, READ, WRITE and ERROR (Tornado code writes self.io_loop.READ)', async () => {
  const [a, b] = socketpair();
  try {
    await inLoop(async (loop) => {
      assert.equal([loop.NONE, loop.READ, loop.WRITE, loop.ERROR], [IOLoop.NONE, IOLoop.READ, IOLoop.WRITE, IOLoop.ERROR]);
      assert.equal([loop.NONE, loop.READ, loop.WRITE, loop.ERROR], [0, 0x001, 0x004, 0x018]);
      const events = await new Promise<number>((resolve) => {
        loop.addHandler(a, (_sock, ev) => { loop.removeHandler(a); resolve(ev); }, loop.READ);
        b.send('x');
      });
      assert.ok(events & loop.READ, `events ${events}`);
      assert.is(events & loop.WRITE, 0);
    }, { timeout: 10 });
  } finally {
    a.close();
    b.close();
  }
});

// ------------------------------------------------------------ the poller contract, as a handler sees it

test('level-triggered: a handler that reads one byte per call is called again until the fd is drained', async () => {
  const [a, b] = socketpair();
  try {
    await inLoop(async (loop) => {
      b.send('abc');
      const got = await new Promise<string>((resolve) => {
        let text = '';
        loop.addHandler(a, (sock) => {
          text += sock.recv(1).toString();
          if (text.length === 3) { loop.removeHandler(sock); resolve(text); }
        }, IOLoop.READ);
      });
      assert.is(got, 'abc');
    }, { timeout: 10 });
  } finally {
    a.close();
    b.close();
  }
});

test('ERROR may arrive alone: a hung-up peer is reported to a handler that asked for nothing', async () => {
  const [a, b] = socketpair();
  try {
    await inLoop(async (loop) => {
      const events = await new Promise<number>((resolve) => {
        loop.addHandler(a, (_sock, ev) => { loop.removeHandler(a); resolve(ev); }, IOLoop.NONE);
        b.close(); // both directions shut: a hang-up, reported whatever the mask
      });
      assert.ok(events & IOLoop.ERROR, `events ${events}`);
      assert.is(events & (IOLoop.READ | IOLoop.WRITE), 0, `events ${events}`);
    }, { timeout: 10 });
  } finally {
    a.close();
  }
});

test.run();
