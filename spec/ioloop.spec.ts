/**
 * reactor/ioloop.ts: the loop itself — callbacks, timeouts, handlers on
 * pipes and socketpairs, close, runSync, current/instance, logging, trace
 * mode and stats. Ports Tornado 4.4's ioloop_test (TestIOLoop,
 * TestIOLoopCurrent, TestIOLoopRunSync, TestIOLoopFutures). Runs under
 * whichever poller GALE_POLLER names.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { performance } from 'node:perf_hooks';
import { resolveBackend } from '../reactor/loop-options.js';
import { IOLoop, TimeoutHandle } from '../reactor/ioloop.js';
import { Future, TimeoutError } from '../reactor/future.js';
import { moment, sleep } from '../reactor/gen.js';
import { dummyExecutor, type Executor } from '../reactor/executor.js';
import { chunk } from '../reactor/sys/arena.js';
import { c, close as closeFd, pipe, readToChunk, socketpair, writeBytes } from '../reactor/sys/libc.js';
import { AF_UNIX, F_GETFD, SOCK_STREAM } from '../reactor/sys/constants.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { captureLogs, defaultPollerName, delay, fdLeakCheck, inLoop, pollerUnderTest, rejection } from './helpers.js';

const checkFds = fdLeakCheck();

/** A loop that is not current until it runs. */
function newLoop(options: ConstructorParameters<typeof IOLoop>[0] = {}): IOLoop {
  return new IOLoop({ makeCurrent: false, ...options });
}


/** start() with a safety timeout; resolves to whether the safety fired. */
async function startBounded(loop: IOLoop, seconds = 5): Promise<boolean> {
  let fired = false;
  const guard = loop.callLater(seconds, () => { fired = true; loop.stop(); });
  await loop.start();
  loop.removeTimeout(guard);
  return fired;
}

/** Identity without uvu's deep diff of a whole loop on failure. */
function same(actual: unknown, expected: unknown, message = 'not the expected object'): void {
  assert.ok(actual === expected, message);
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin */ }
}

function isOpen(fd: number): boolean {
  return (c.fcntl(fd, F_GETFD, 0) as number) >= 0;
}

function readAll(fd: number): string {
  const n = readToChunk(fd);
  return n > 0 ? chunk.view.toString('latin1', 0, n) : '';
}

function pair(): [number, number] {
  return socketpair(AF_UNIX, SOCK_STREAM, true);
}

/** A minimal "file object": an fd with fileno() and close(). */
class FdObject {
  closed = false;
  constructor(readonly fd: number) {}
  fileno(): number { return this.fd; }
  close(): void { this.closed = true; closeFd(this.fd); }
}

// ------------------------------------------------------------ construction

test(`the poller: option, GALE_POLLER (${pollerUnderTest}), or the platform's best`, () => {
  const loop = newLoop();
  assert.is(loop.pollerName, defaultPollerName);
  loop.close();
  for (const name of ['epoll', 'poll'] as const) {
    const l = newLoop({ poller: name });
    assert.is(l.pollerName, name);
    l.close();
  }
  assert.throws(() => newLoop({ poller: 'select' as 'poll' }), /unknown poller 'select'/);
});

test('the event constants are Tornado\'s', () => {
  assert.is(IOLoop.NONE, 0);
  assert.is(IOLoop.READ, 0x001);
  assert.is(IOLoop.WRITE, 0x004);
  assert.is(IOLoop.ERROR, 0x018);
});

// ------------------------------------------------------------ callbacks

test('callbacks run in order, with their arguments', async () => {
  const calls: unknown[][] = [];
  await inLoop(async (loop) => {
    await new Promise<void>((resolve) => {
      loop.addCallback((...args) => calls.push(args), 1, 'two');
      loop.addCallback(() => calls.push([]));
      loop.spawnCallback((a) => calls.push(['spawned', a]), 3);
      loop.addCallbackFromSignal((a, b) => calls.push(['signal', a, b]), 4, 5);
      loop.addCallback(resolve);
    });
  });
  assert.equal(calls, [[1, 'two'], [], ['spawned', 3], ['signal', 4, 5]]);
});

test('a callback added by a callback waits for the next iteration', async () => {
  await inLoop(async (loop) => {
    const seen: number[] = [];
    await new Promise<void>((resolve) => {
      loop.addCallback(() => {
        seen.push(loop.stats().iterations);
        loop.addCallback(() => { seen.push(loop.stats().iterations); resolve(); });
      });
    });
    assert.is(seen[1], seen[0]! + 1);
  });
});

test('a callback that re-adds itself does not starve I/O or timeouts', async () => {
  await inLoop(async (loop) => {
    const [r, w] = pipe();
    let spins = 0;
    let stop = false;
    const spin = () => { spins++; if (!stop) loop.addCallback(spin); };
    loop.addCallback(spin);
    const readable = new Promise<void>((resolve) => loop.addHandler(r, () => { loop.removeHandler(r); resolve(); }, IOLoop.READ));
    writeBytes(w, Buffer.from('x'));
    await readable;
    const spinsAtReadable = spins;
    await new Promise<void>((resolve) => loop.callLater(0.01, resolve));
    stop = true;
    // The timeout ran while the callback kept re-adding itself. Counted, not
    // timed: on a slow machine (qemu, heavy load) one iteration can outlast
    // the 10 ms, and the timeout is then due at the very next iteration, but
    // that iteration runs its callbacks first.
    assert.ok(spins > spinsAtReadable, `${spins} spins, ${spinsAtReadable} when the pipe was readable`);
    closeFd(r);
    closeFd(w);
  });
});

test('addCallback after close() is ignored', async () => {
  const loop = newLoop();
  let ran = false;
  loop.addCallback(() => { ran = true; });
  loop.close();
  loop.addCallback(() => { ran = true; }); // no throw
  loop.close(); // closing twice is harmless
  assert.throws(() => loop.start(), /closing/);
  assert.not.ok(ran);
});

test('a callback added after stop() runs on the next start, not this one', async () => {
  const loop = newLoop();
  try {
    const calls: string[] = [];
    loop.addCallback(() => {
      loop.stop();
      loop.addCallback(() => calls.push('after stop'));
    });
    assert.not.ok(await startBounded(loop));
    assert.equal(calls, []);
    loop.addCallback(() => loop.stop());
    assert.not.ok(await startBounded(loop));
    assert.equal(calls, ['after stop']);
  } finally {
    loop.close();
  }
});

test('stop() before start() makes start() return at once (once)', async () => {
  const loop = newLoop();
  try {
    let ran = false;
    loop.addCallback(() => { ran = true; });
    loop.stop();
    const iterations = loop.stats().iterations;
    await loop.start();
    assert.is(loop.stats().iterations, iterations, 'the loop did not iterate');
    assert.not.ok(ran, 'the callback did not run');
    // The next start runs normally.
    loop.addCallback(() => loop.stop());
    assert.not.ok(await startBounded(loop));
    assert.ok(ran);
  } finally {
    loop.close();
  }
});

test('re-entrant start() throws and does not deadlock (Tornado test_reentrant)', async () => {
  await inLoop(async (loop) => {
    let returned = false;
    let error: unknown = null;
    await new Promise<void>((resolve) => loop.addCallback(() => {
      try {
        void loop.start();
        returned = true;
      } catch (e) {
        error = e;
      }
      resolve();
    }));
    assert.not.ok(returned);
    assert.instance(error, Error);
    assert.match((error as Error).message, /already running/);
    assert.ok(loop.isRunning());
  });
});

test('isRunning follows start and stop', async () => {
  const loop = newLoop();
  try {
    assert.not.ok(loop.isRunning());
    let during = false;
    loop.addCallback(() => { during = loop.isRunning(); loop.stop(); });
    await startBounded(loop);
    assert.ok(during);
    assert.not.ok(loop.isRunning());
  } finally {
    loop.close();
  }
});

// ------------------------------------------------------------ timeouts

test('timeouts pass their arguments: addTimeout (number, {seconds}), callAt, callLater', async () => {
  const results: number[] = [];
  await inLoop((loop) => new Promise<void>((resolve) => {
    const push = (n: number) => results.push(n);
    loop.addTimeout(loop.time(), push, 1);
    loop.addTimeout({ seconds: 0 }, push, 2);
    loop.callAt(loop.time(), push, 3);
    loop.callLater(0, push, 4);
    loop.callLater(0, resolve);
  }));
  assert.equal(results, [1, 2, 3, 4]);
});

test('timeouts run in deadline order, after the iteration\'s callbacks', async () => {
  const order: string[] = [];
  await inLoop(async (loop) => {
    const now = loop.time();
    loop.addTimeout(now + 0.03, () => order.push('c'));
    loop.addTimeout(now + 0.01, () => order.push('a'));
    loop.addTimeout(now + 0.02, () => order.push('b'));
    loop.addTimeout(now - 1, () => order.push('past'));
    loop.addCallback(() => order.push('callback'));
    await sleep(0.05);
  });
  assert.equal(order, ['callback', 'past', 'a', 'b', 'c']);
});

test('a timeout fires no earlier than its deadline', async () => {
  await inLoop(async (loop) => {
    const start = loop.time();
    const firedAt = await new Promise<number>((resolve) => loop.callLater(0.05, () => resolve(loop.time())));
    assert.ok(firedAt - start >= 0.05 - 1e-6, `fired after ${firedAt - start}`);
  });
});

test('every timeout method returns a handle removeTimeout accepts', async () => {
  await inLoop(async (loop) => {
    let ran = 0;
    const handles = [
      loop.addTimeout(loop.time(), () => ran++),
      loop.addTimeout({ seconds: 0.001 }, () => ran++),
      loop.callAt(loop.time(), () => ran++),
      loop.callLater(0, () => ran++),
    ];
    for (const h of handles) {
      assert.instance(h, TimeoutHandle);
      loop.removeTimeout(h);
    }
    await sleep(0.02);
    assert.is(ran, 0);
  });
});

test('removeTimeout after the timeout fired is harmless (Tornado test_remove_timeout_after_fire)', async () => {
  await inLoop(async (loop) => {
    let handle!: TimeoutHandle;
    await new Promise<void>((resolve) => { handle = loop.addTimeout(loop.time(), resolve); });
    loop.removeTimeout(handle);
    loop.removeTimeout(handle);
  });
});

test('a timeout removed by an earlier timeout of the same iteration does not run (Tornado test_remove_timeout_from_timeout)', async () => {
  const calls = [false, false];
  await inLoop((loop) => new Promise<void>((resolve) => {
    const now = loop.time();
    loop.addTimeout(now + 0.01, () => { calls[0] = true; loop.removeTimeout(t2); });
    const t2 = loop.addTimeout(now + 0.02, () => { calls[1] = true; });
    loop.addTimeout(now + 0.03, resolve);
    busyWait(40); // all three are due when the loop next looks
  }));
  assert.equal(calls, [true, false]);
});

test('a due timeout removed by a callback of the same iteration does not run', async () => {
  let ran = false;
  await inLoop((loop) => new Promise<void>((resolve) => {
    const t = loop.addTimeout(loop.time(), () => { ran = true; });
    loop.addCallback(() => loop.removeTimeout(t));
    loop.callLater(0.01, resolve);
  }));
  assert.not.ok(ran);
});

test('unsupported deadlines throw TypeError', () => {
  const loop = newLoop();
  try {
    assert.throws(() => loop.addTimeout(NaN, () => {}), TypeError);
    assert.throws(() => loop.addTimeout({} as { seconds: number }, () => {}), TypeError);
    assert.throws(() => loop.addTimeout('soon' as unknown as number, () => {}), TypeError);
    assert.throws(() => loop.callLater(Infinity, () => {}), TypeError);
  } finally {
    loop.close();
  }
});

test('time() is seconds reading like epoch time, and advances', async () => {
  const loop = newLoop();
  try {
    const a = loop.time();
    assert.ok(Math.abs(a - Date.now() / 1000) < 60, `${a} vs Date.now()`);
    await delay(30);
    assert.ok(loop.time() - a >= 0.025, 'advanced by the time slept');
  } finally {
    loop.close();
  }
});

test('time() is monotonic: it does not follow the wall clock when that jumps', () => {
  const loop = newLoop();
  const wallClock = Date.now;
  try {
    for (const jumpMs of [-3_600_000, 3_600_000]) {
      const a = loop.time();
      const jumped = wallClock() + jumpMs;
      Date.now = () => jumped; // what a clock set back (or forward) an hour looks like to JS
      const b = loop.time();
      Date.now = wallClock;
      assert.ok(b >= a, `went back ${a - b} s`);
      assert.ok(b - a < 1800, `followed a wall-clock jump of ${jumpMs / 1000} s`);
    }
  } finally {
    Date.now = wallClock;
    loop.close();
  }
});

// ------------------------------------------------------------ exceptions

test('exceptions from callbacks, timeouts, handlers and rejected Promises are logged; the loop survives', async () => {
  const [r, w] = pipe();
  let survived = false;
  const { logs } = await captureLogs(() => inLoop(async (loop) => {
    loop.addCallback(function failingCallback() { throw new Error('from callback'); });
    loop.callLater(0, function failingTimeout() { throw new Error('from timeout'); });
    loop.addCallback(async function failingAsync() { await null; throw new Error('from async'); });
    loop.addCallback(function failingPromise() { return Promise.reject(new Error('from promise')); });
    loop.addCallback(function failingFuture() {
      const f = new Future<void>();
      f.setException(new Error('from future'));
      return f;
    });
    loop.addHandler(r, function failingHandler() { loop.removeHandler(r); throw new Error('from handler'); }, IOLoop.READ);
    writeBytes(w, Buffer.from('x'));
    await sleep(0.03);
    survived = true;
  }));
  closeFd(r);
  closeFd(w);
  assert.ok(survived);
  const errors = logs.filter(([level]) => level === 'error').map(([, text]) => text);
  const expect = [
    ['failingCallback', 'from callback'], ['failingTimeout', 'from timeout'], ['failingAsync', 'from async'],
    ['failingPromise', 'from promise'], ['failingFuture', 'from future'], ['failingHandler', 'from handler'],
  ];
  assert.is(errors.length, expect.length, JSON.stringify(errors, null, 1));
  for (const [name, message] of expect) {
    const line = errors.find((e) => e.includes(message!));
    assert.ok(line, `no log for ${message}`);
    assert.match(line!, new RegExp(`^Exception in callback <function ${name}>`));
  }
});

test('EPIPE from a handler is routine and not logged', async () => {
  const { logs } = await captureLogs(() => inLoop(async (loop) => {
    const [r, w] = pipe();
    await new Promise<void>((resolve) => loop.addHandler(w, () => {
      loop.removeHandler(w);
      resolve();
      throw new OSError(E.EPIPE, 'write');
    }, IOLoop.WRITE));
    await sleep(0);
    closeFd(r);
    closeFd(w);
  }));
  assert.equal(logs, []);
});

test('handleCallbackException can be overridden; a failing override is logged too', async () => {
  const seen: unknown[] = [];
  const { logs } = await captureLogs(() => inLoop(async (loop) => {
    loop.handleCallbackException = (error) => { seen.push(error); };
    const boom = new Error('boom');
    loop.addCallback(() => { throw boom; });
    await sleep(0);
    assert.equal(seen, [boom]);
    loop.handleCallbackException = () => { throw new Error('broken override'); };
    loop.addCallback(() => { throw boom; });
    await sleep(0);
  }));
  assert.is(logs.length, 1);
  assert.match(logs[0]![1], /^Exception in handleCallbackException/);
  assert.match(logs[0]![1], /broken override/);
});

test('a failure of the loop\'s own machinery rejects start() and leaves the loop closable', async () => {
  const loop = newLoop();
  const poller = (loop as unknown as { poller: { poll(ms: number): number } }).poller;
  const poll = poller.poll;
  poller.poll = () => { throw new Error('poller broke'); };
  const guard = setTimeout(() => loop.stop(), 5000);
  try {
    const error = await rejection(loop.start());
    assert.match(error.message, /poller broke/);
    assert.not.ok(loop.isRunning());
    same(IOLoop.current(false), null, 'no longer current');
    poller.poll = poll;
    loop.addCallback(() => loop.stop());
    assert.not.ok(await startBounded(loop), 'and it can run again');
  } finally {
    clearTimeout(guard);
    loop.close();
  }
});

test('a machinery failure between iterations (no interop) rejects start() too', async () => {
  const loop = newLoop({ nodeInterop: false });
  const poller = (loop as unknown as { poller: { poll(ms: number): number } }).poller;
  poller.poll = () => { throw new Error('poller broke again'); };
  const guard = setTimeout(() => loop.stop(), 5000);
  try {
    assert.match((await rejection(loop.start())).message, /poller broke again/);
  } finally {
    clearTimeout(guard);
    loop.close();
  }
});

test('a poller refusing to unregister is logged at debug level, and the handler is gone anyway', async () => {
  const [a, b] = pair();
  const loop = newLoop();
  const poller = (loop as unknown as { poller: { unregister(fd: number): void } }).poller;
  const unregister = poller.unregister.bind(poller);
  try {
    loop.addHandler(a, () => {}, IOLoop.READ);
    poller.unregister = () => { throw new OSError(E.EINVAL, 'epoll_ctl'); };
    const { logs } = await captureLogs(() => loop.removeHandler(a));
    assert.is(logs.length, 1);
    assert.is(logs[0]![0], 'debug');
    assert.match(logs[0]![1], /^Error deleting fd from IOLoop/);
    poller.unregister = unregister;
    unregister(a);
    loop.addHandler(a, () => {}, IOLoop.READ); // free to register again
  } finally {
    loop.close();
    closeFd(a);
    closeFd(b);
  }
});

// ------------------------------------------------------------ handlers

test('a pipe\'s read end: READ with the fd number when written', async () => {
  const [r, w] = pipe();
  await inLoop(async (loop) => {
    const got = new Promise<[number, number, string]>((resolve) => {
      loop.addHandler(r, (fd, events) => {
        loop.removeHandler(fd);
        resolve([fd, events, readAll(fd)]);
      }, IOLoop.READ);
    });
    writeBytes(w, Buffer.from('hello'));
    const [fd, events, data] = await got;
    assert.is(fd, r);
    assert.is(events, IOLoop.READ);
    assert.is(data, 'hello');
  });
  closeFd(r);
  closeFd(w);
});

test('write events do not arrive while only READ is asked for (Tornado test_read_while_writeable)', async () => {
  const [client, server] = pair();
  await inLoop(async (loop) => {
    const events = await new Promise<number>((resolve) => {
      loop.addHandler(client, (fd, ev) => { loop.removeHandler(fd); resolve(ev); }, IOLoop.READ);
      writeBytes(server, Buffer.from('asdf'));
    });
    assert.is(events, IOLoop.READ);
  });
  closeFd(client);
  closeFd(server);
});

test('WRITE readiness, and updateHandler switching between WRITE and READ', async () => {
  const [a, b] = pair();
  await inLoop(async (loop) => {
    const seen: number[] = [];
    let resolveNext: (() => void) | null = null;
    loop.addHandler(a, (_fd, events) => {
      seen.push(events);
      if (events & IOLoop.WRITE) loop.updateHandler(a, IOLoop.READ);
      else { readAll(a); loop.removeHandler(a); }
      resolveNext?.();
    }, IOLoop.WRITE);
    await new Promise<void>((resolve) => { resolveNext = resolve; });
    assert.equal(seen, [IOLoop.WRITE]);
    await sleep(0.01);
    assert.equal(seen, [IOLoop.WRITE], 'no more write events after switching to READ');
    const readable = new Promise<void>((resolve) => { resolveNext = resolve; });
    writeBytes(b, Buffer.from('ping'));
    await readable;
    assert.equal(seen, [IOLoop.WRITE, IOLoop.READ]);
  });
  closeFd(a);
  closeFd(b);
});

test('a hang-up is reported with the ERROR bits', async () => {
  const [r, w] = pipe();
  await inLoop(async (loop) => {
    const events = await new Promise<number>((resolve) => {
      loop.addHandler(r, (fd, ev) => { loop.removeHandler(fd); resolve(ev); }, IOLoop.READ);
      closeFd(w);
    });
    assert.ok(events & IOLoop.ERROR, `events ${events}`);
  });
  closeFd(r);
});

test('addHandler with NONE still reports errors', async () => {
  const [a, b] = pair();
  await inLoop(async (loop) => {
    const events = await new Promise<number>((resolve) => {
      loop.addHandler(a, (fd, ev) => { loop.removeHandler(fd); resolve(ev); }, IOLoop.NONE);
      closeFd(b);
    });
    assert.ok(events & IOLoop.ERROR, `events ${events}`);
  });
  closeFd(a);
});

test('the handler receives the registered object, or the fd number (Tornado test_handler_callback_file_object)', async () => {
  const [a, b] = pair();
  const obj = { fileno: () => a };
  await inLoop(async (loop) => {
    const received: unknown[] = [];
    const handler = (fd: unknown) => { received.push(fd); loop.removeHandler(a); };
    writeBytes(b, Buffer.from('x'));
    loop.addHandler(obj, handler, IOLoop.READ);
    await sleep(0.01);
    loop.addHandler(a, handler, IOLoop.READ);
    await sleep(0.01);
    assert.is(received[0], obj);
    assert.is(received[1], a);
    // Objects work for updateHandler/removeHandler too.
    loop.addHandler(obj, () => {}, IOLoop.READ);
    loop.updateHandler(obj, IOLoop.WRITE);
    loop.removeHandler(obj);
  });
  closeFd(a);
  closeFd(b);
});

test('an fd registered as an object cannot be added again by number (Tornado test_mixed_fd_fileobj)', async () => {
  const [a, b] = pair();
  const loop = newLoop();
  try {
    loop.addHandler({ fileno: () => a }, () => {}, IOLoop.READ);
    assert.throws(() => loop.addHandler(a, () => {}, IOLoop.READ), /already registered/);
    loop.removeHandler(a);
    loop.addHandler(a, () => {}, IOLoop.READ); // free again
  } finally {
    loop.close();
    closeFd(a);
    closeFd(b);
  }
});

test('adding twice throws; removing an unknown fd is a no-op; updating one throws', () => {
  const [a, b] = pair();
  const loop = newLoop();
  try {
    loop.addHandler(a, () => {}, IOLoop.READ);
    assert.throws(() => loop.addHandler(a, () => {}, IOLoop.READ));
    loop.removeHandler(b);
    loop.removeHandler(12345);
    assert.throws(() => loop.updateHandler(b, IOLoop.READ), /not registered/);
    loop.removeHandler(a);
    loop.removeHandler(a);
  } finally {
    loop.close();
    closeFd(a);
    closeFd(b);
  }
});

test('removing a handler whose fd was closed first does not throw', async () => {
  const loop = newLoop();
  try {
    const [r, w] = pipe();
    loop.addHandler(r, () => {}, IOLoop.READ);
    closeFd(r);
    closeFd(w);
    loop.removeHandler(r);
  } finally {
    loop.close();
  }
});

test('a handler removed by an earlier handler in the same round is not called (Tornado test_remove_handler_from_handler)', async () => {
  const [client, server] = pair();
  await inLoop(async (loop) => {
    writeBytes(client, Buffer.from('abc'));
    writeBytes(server, Buffer.from('abc'));
    busyWait(5);
    const chunks: string[] = [];
    const handleRead = (fd: number) => {
      chunks.push(readAll(fd));
      loop.removeHandler(fd === client ? server : client);
      loop.removeHandler(fd);
    };
    loop.addHandler(client, handleRead, IOLoop.READ);
    loop.addHandler(server, handleRead, IOLoop.READ);
    await sleep(0.05);
    assert.equal(chunks, ['abc']);
  });
  closeFd(client);
  closeFd(server);
});

test('a handler replaced under the same fd number within a round is not called for the old readiness', async () => {
  const [a, b] = pair();
  const [c2, d] = pair();
  await inLoop(async (loop) => {
    writeBytes(b, Buffer.from('1'));
    writeBytes(d, Buffer.from('2'));
    busyWait(5);
    const calls: string[] = [];
    // Whichever runs first removes the other and registers a fresh handler
    // for the same fd number; the fresh one must wait for the next poll.
    const first = (fd: number) => {
      calls.push(`first ${fd}`);
      readAll(fd);
      loop.removeHandler(fd);
      const other = fd === a ? c2 : a;
      loop.removeHandler(other);
      loop.addHandler(other, (o: number) => { calls.push(`fresh ${o}`); readAll(o); loop.removeHandler(o); }, IOLoop.READ);
    };
    loop.addHandler(a, first, IOLoop.READ);
    loop.addHandler(c2, first, IOLoop.READ);
    await sleep(0.03);
    assert.is(calls.length, 2, calls.join());
    assert.match(calls[0]!, /^first/);
    assert.match(calls[1]!, /^fresh/);
  });
  for (const fd of [a, b, c2, d]) closeFd(fd);
});

test('updateHandler with an unchanged mask makes no FFI call', async () => {
  const [a, b] = pair();
  await inLoop(async (loop) => {
    loop.addHandler(a, () => {}, IOLoop.READ);
    let before = ffiCounter.calls;
    loop.updateHandler(a, IOLoop.READ);
    loop.updateHandler(a, IOLoop.READ | IOLoop.ERROR);
    assert.is(ffiCounter.calls - before, 0);
    before = ffiCounter.calls;
    loop.updateHandler(a, IOLoop.READ | IOLoop.WRITE);
    const changed = ffiCounter.calls - before;
    // epoll_ctl for epoll; poll edits its array in memory; uring writes its SQE at the next poll.
    assert.is(changed, loop.pollerName === 'poll' || loop.pollerName === 'uring' ? 0 : 1);
    loop.removeHandler(a);
  });
  closeFd(a);
  closeFd(b);
});

test('many fds at once (beyond the poll backend\'s initial array)', async () => {
  const pairs = Array.from({ length: 100 }, pair);
  await inLoop(async (loop) => {
    const seen = new Set<number>();
    const all = new Promise<void>((resolve) => {
      for (const [a] of pairs) {
        loop.addHandler(a, (fd) => {
          readAll(fd);
          loop.removeHandler(fd);
          seen.add(fd);
          if (seen.size === pairs.length) resolve();
        }, IOLoop.READ);
      }
    });
    for (const [, b] of pairs) writeBytes(b, Buffer.from('x'));
    await all;
  });
  for (const [a, b] of pairs) { closeFd(a); closeFd(b); }
});

// ------------------------------------------------------------ close

test('close(true) closes registered fds and calls close() on objects (Tornado test_close_file_object)', () => {
  const [a, b] = pair();
  const [r, w] = pipe();
  const obj = new FdObject(r);
  const loop = newLoop();
  loop.addHandler(a, () => {}, IOLoop.READ);
  loop.addHandler(obj, () => {}, IOLoop.READ);
  loop.close(true);
  assert.not.ok(isOpen(a));
  assert.ok(obj.closed);
  assert.not.ok(isOpen(r));
  assert.ok(isOpen(b));
  assert.ok(isOpen(w));
  closeFd(b);
  closeFd(w);
});

test('close() without allFds leaves the fds open; close(true) tolerates an fd closed already', () => {
  const [a, b] = pair();
  const loop = newLoop();
  loop.addHandler(a, () => {}, IOLoop.READ);
  loop.close();
  assert.ok(isOpen(a));
  const loop2 = newLoop();
  loop2.addHandler(a, () => {}, IOLoop.READ);
  loop2.addHandler(b, () => {}, IOLoop.READ);
  closeFd(a);
  loop2.close(true); // a is gone already: no throw, b still closed
  assert.not.ok(isOpen(b));
});

test('close() from a callback ends a running loop', async () => {
  const loop = newLoop();
  let after = false;
  loop.addCallback(() => { loop.close(); loop.addCallback(() => { after = true; }); });
  const guard = setTimeout(() => loop.stop(), 5000);
  await loop.start();
  clearTimeout(guard);
  assert.not.ok(after);
  assert.not.ok(loop.isRunning());
});

// ------------------------------------------------------------ runSync

test('runSync: a plain value', async () => {
  assert.is(await inLoop(() => 42), 42);
});

test('runSync: a thrown error rejects', async () => {
  const error = new RangeError('sync');
  assert.is(await rejection(inLoop(() => { throw error; })), error);
});

test('runSync: an async result and an async failure (after yielding to the loop)', async () => {
  assert.is(await inLoop(async () => { await sleep(0); return 'async'; }), 'async');
  const error = new Error('async failure');
  assert.is(await rejection(inLoop(async () => { await sleep(0); throw error; })), error);
  assert.is(await rejection(inLoop(() => Promise.reject(error))), error);
});

test('runSync: a Future', async () => {
  assert.is(await inLoop((loop) => {
    const f = new Future<string>();
    loop.callLater(0.01, () => f.setResult('future'));
    return f;
  }), 'future');
});

test('runSync: IOLoop.current() is the loop inside (Tornado test_current)', async () => {
  const loop = newLoop();
  try {
    let inside: IOLoop | null = null;
    await loop.runSync(() => { inside = IOLoop.current(); }, 5);
    same(inside, loop);
  } finally {
    loop.close();
  }
});

test('runSync: TimeoutError when the timeout passes first (Tornado test_timeout)', async () => {
  let slow: Future<void> | null = null;
  const error = await rejection(inLoop(() => (slow = sleep(1)), { timeout: 0.01 }));
  assert.instance(error, TimeoutError);
  assert.match(error.message, /timed out after 0.01 seconds/);
  assert.not.ok(slow!.done(), 'rejected before the 1 s sleep ended');
});

test('runSync: nested runSync rejects; sequential runSync works', async () => {
  const loop = newLoop();
  try {
    const inner = await loop.runSync(() => rejection(loop.runSync(() => 1, 1)), 5);
    assert.match(inner.message, /already running/);
    assert.is(await loop.runSync(() => 'first', 5), 'first');
    assert.is(await loop.runSync(async () => { await sleep(0.01); return 'second'; }, 5), 'second');
    assert.is(await loop.runSync(() => 'third', 5), 'third');
  } finally {
    loop.close();
  }
});

test('runSync: a timed-out run\'s work finishing later does not stop the next run', async () => {
  const loop = newLoop();
  try {
    assert.instance(await rejection(loop.runSync(() => sleep(0.1), 0.02)), TimeoutError);
    // The first sleep completes during this run; that must not end it.
    assert.is(await loop.runSync(async () => { await sleep(0.2); return 'ok'; }, 5), 'ok');
  } finally {
    loop.close();
  }
});

test('addFuture: calls back on the loop with the settled Future (Tornado test_add_future_threads)', async () => {
  await inLoop(async (loop) => {
    // (Wrapped in an array: resolving a Promise with a Future would adopt it.)
    const [viaPromise] = await new Promise<[Future<number>]>((resolve) => loop.addFuture<number>(Promise.resolve(3), (f) => resolve([f])));
    assert.ok(viaPromise.done());
    assert.is(viaPromise.result(), 3);
    const error = new Error('rejected');
    const [failed] = await new Promise<[Future<number>]>((resolve) => loop.addFuture<number>(Promise.reject(error), (f) => resolve([f])));
    assert.is(failed.exception(), error);
    const f = new Future<string>();
    const iterations = loop.stats().iterations;
    const viaFuture = new Promise<[Future<string>]>((resolve) => loop.addFuture(f, (done) => resolve([done])));
    f.setResult('x');
    const [done] = await viaFuture;
    same(done, f);
    assert.ok(loop.stats().iterations > iterations, 'called back on a later iteration');
  });
});

// ------------------------------------------------------------ current / instance

test('current: the first loop with default options becomes current (Tornado test_default_current)', () => {
  IOLoop.clearCurrent();
  const loop = new IOLoop();
  try {
    same(IOLoop.current(), loop);
    const loop2 = new IOLoop();
    same(IOLoop.current(), loop);
    loop2.close();
  } finally {
    loop.close();
  }
  same(IOLoop.current(false), null, 'closing the current loop clears it');
});

test('current: a running loop is current; a non-current one stops being so after (Tornado test_non_current)', async () => {
  IOLoop.clearCurrent();
  const loop = new IOLoop({ makeCurrent: false });
  try {
    same(IOLoop.current(false), null);
    for (let i = 0; i < 3; i++) {
      let during: IOLoop | null = null;
      loop.addCallback(() => { during = IOLoop.current(); loop.stop(); });
      await startBounded(loop);
      same(during, loop);
      same(IOLoop.current(false), null);
    }
  } finally {
    loop.close();
  }
});

test('current: a loop that was current stays current after it stops', async () => {
  IOLoop.clearCurrent();
  const loop = new IOLoop();
  try {
    same(IOLoop.current(false), loop);
    await loop.runSync(() => 1, 5);
    same(IOLoop.current(false), loop);
    await loop.runSync(() => sleep(0.01), 5);
    same(IOLoop.current(false), loop);
  } finally {
    loop.close();
  }
  same(IOLoop.current(false), null);
  // Closed while running: not restored as current afterwards.
  const closing = new IOLoop();
  same(IOLoop.current(false), closing);
  closing.addCallback(() => closing.close());
  const guard = setTimeout(() => closing.stop(), 5000);
  await closing.start();
  clearTimeout(guard);
  same(IOLoop.current(false), null);
});

test('current: another loop running inside restores the outer current after', async () => {
  IOLoop.clearCurrent();
  const outer = new IOLoop();
  const inner = new IOLoop({ makeCurrent: false });
  try {
    await inner.runSync(() => { same(IOLoop.current(), inner); }, 5);
    same(IOLoop.current(false), outer);
  } finally {
    inner.close();
    outer.close();
  }
});

test('current: makeCurrent: true refuses a second current loop, and leaks nothing (Tornado test_force_current)', () => {
  IOLoop.clearCurrent();
  const check = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: true });
  try {
    same(IOLoop.current(), loop);
    assert.throws(() => new IOLoop({ makeCurrent: true }), /already exists/);
    same(IOLoop.current(), loop);
  } finally {
    loop.close();
  }
  check();
});

test('current: makeCurrent() and clearCurrent()', () => {
  IOLoop.clearCurrent();
  const a = newLoop();
  const b = newLoop();
  try {
    a.makeCurrent();
    same(IOLoop.current(), a);
    b.makeCurrent();
    same(IOLoop.current(), b);
    IOLoop.clearCurrent();
    same(IOLoop.current(false), null);
  } finally {
    a.close();
    b.close();
  }
});

test('instance: created on first use, shared, and what current() falls back to', () => {
  IOLoop.clearCurrent();
  IOLoop.clearInstance();
  assert.not.ok(IOLoop.initialized());
  const inst = IOLoop.current()!; // no current loop: the instance
  try {
    assert.ok(IOLoop.initialized());
    same(IOLoop.instance(), inst);
    same(IOLoop.current(false), null, 'the instance is not made current');
    same(IOLoop.current(true), inst);
    const other = newLoop();
    assert.throws(() => other.install(), /already initialized/);
    other.close();
  } finally {
    inst.close();
  }
  assert.not.ok(IOLoop.initialized(), 'closing the instance clears it');
});

test('instance: install() and clearInstance()', () => {
  IOLoop.clearInstance();
  const loop = newLoop();
  try {
    loop.install();
    same(IOLoop.instance(), loop);
    IOLoop.clearInstance();
    assert.not.ok(IOLoop.initialized());
  } finally {
    loop.close();
  }
});

// ------------------------------------------------------------ diagnostics

test('setBlockingLogThreshold warns about a slow callback or handler, by name', async () => {
  const [r, w] = pipe();
  const { logs } = await captureLogs(() => inLoop(async (loop) => {
    loop.setBlockingLogThreshold(0.025);
    loop.addCallback(function slowCallback() { busyWait(50); });
    loop.addCallback(function fastCallback() {});
    await sleep(0);
    loop.addHandler(r, function slowHandler(fd: number) { readAll(fd); loop.removeHandler(fd); busyWait(50); }, IOLoop.READ);
    writeBytes(w, Buffer.from('x'));
    await sleep(0.01);
    loop.setBlockingLogThreshold(0);
    loop.addCallback(function notWatched() { busyWait(50); });
    await sleep(0);
  }));
  closeFd(r);
  closeFd(w);
  const warnings = logs.filter(([level]) => level === 'warn').map(([, text]) => text);
  const about = (name: string) => warnings.filter((t) => t.endsWith(`<function ${name}>`));
  assert.is(about('slowCallback').length, 1, JSON.stringify(logs));
  assert.match(about('slowCallback')[0]!, /^IOLoop blocked for 0\.\d{3} seconds in <function slowCallback>$/);
  assert.is(about('slowHandler').length, 1, JSON.stringify(logs));
  assert.is(about('fastCallback').length, 0);
  assert.is(about('notWatched').length, 0, 'a threshold of 0 turns it off');
});

test('trace mode logs each iteration: callbacks, timeouts, poll timeout, ready fds', async () => {
  const [r, w] = pipe();
  const { logs } = await captureLogs(() => inLoop(async (loop) => {
    loop.addCallback(() => {});
    loop.callLater(0, () => {});
    await sleep(0.01);
    loop.addHandler(r, (fd: number) => { readAll(fd); loop.removeHandler(fd); }, IOLoop.READ);
    writeBytes(w, Buffer.from('x'));
    await sleep(0.01);
  }, { timeout: 5, trace: true }));
  closeFd(r);
  closeFd(w);
  const traces = logs.filter(([level, text]) => level === 'info' && text.startsWith('[trace] iteration ')).map(([, t]) => t);
  assert.ok(traces.length >= 3, JSON.stringify(logs));
  assert.ok(traces.some((t) => /ran \d+ callbacks, 1 timeouts/.test(t)));
  assert.ok(traces.some((t) => /poll\(\d+ ms\)/.test(t)));
  // On uring, libuv's fd may be reported beside it, before or after it (the
  // order CQEs complete in): a poll CQE carries the wake-up's mask, and libuv
  // may have drained its fd since (one early wake).
  assert.ok(traces.some((t) => new RegExp(`-> \\d ready \\[(node:R )?${r}:R( node:R)?\\]`).test(t)), traces.join('\n'));
  assert.ok(traces.every((t) => /poll\+dispatch \d+\.\d{3} ms; \d+ timeouts pending$/.test(t)));
});

test('trace mode is the trace option, off by default; GALE_TRACE=1 is only its default', async () => {
  assert.is(resolveBackend({}, {}).trace, false);
  assert.is(resolveBackend({}, { GALE_TRACE: '1' }).trace, true);
  assert.is(resolveBackend({ trace: false }, { GALE_TRACE: '1' }).trace, false);
  const traced = await captureLogs(() => inLoop(() => sleep(0), { trace: true }));
  assert.ok(traced.logs.some(([, t]) => t.startsWith('[trace]')));
  const quiet = await captureLogs(() => inLoop(() => sleep(0), { trace: false }));
  assert.equal(quiet.logs, []);
});

test('stats counts iterations, callbacks, timeouts, events and FFI calls', async () => {
  const [r, w] = pipe();
  await inLoop(async (loop) => {
    const before = loop.stats();
    loop.addCallback(() => {});
    loop.addCallback(() => {});
    loop.callLater(0, () => {});
    await sleep(0.005);
    loop.addHandler(r, (fd: number) => { readAll(fd); loop.removeHandler(fd); }, IOLoop.READ);
    writeBytes(w, Buffer.from('x'));
    await sleep(0.01);
    const after = loop.stats();
    assert.ok(after.iterations > before.iterations);
    assert.ok(after.callbacks - before.callbacks >= 2);
    assert.ok(after.timeouts - before.timeouts >= 2, 'the callLater and the sleeps');
    assert.is(after.events - before.events, 1);
    assert.ok(after.ffiCalls - before.ffiCalls >= after.iterations - before.iterations, 'at least one poll per iteration');
    const copy = loop.stats();
    copy.iterations = -1;
    assert.is.not(loop.stats().iterations, -1, 'stats() returns a copy');
  });
  closeFd(r);
  closeFd(w);
});

// ------------------------------------------------------------ executors

test('runInExecutor: the given executor, else the loop\'s default', async () => {
  await inLoop(async (loop) => {
    assert.is(await loop.runInExecutor<number>(dummyExecutor, (a: number, b: number) => a + b, 2, 3), 5);
    const used: unknown[] = [];
    const recording: Executor = {
      submit<T>(task: unknown, ...args: unknown[]) { used.push(args); return dummyExecutor.submit<T>(task as () => T, ...args); },
      shutdown() {},
    };
    loop.setDefaultExecutor(recording);
    assert.is(await loop.runInExecutor<string>(null, (s: string) => s.toUpperCase(), 'x'), 'X');
    assert.equal(used, [['x']]);
  });
});

test('no fds leaked', async () => {
  await delay(10);
  checkFds();
});

test('stats().ffiCalls also counts calls made in await continuations between turns', async () => {
  // Regression: only calls inside a turn were counted, so an echo's write
  // (issued after `await stream.readBytes()`) never showed up in stats().
  const loop = new IOLoop({ makeCurrent: false });
  const [r, w] = pipe();
  const rawBefore = ffiCounter.calls;
  const countedBefore = loop.stats().ffiCalls;
  await loop.runSync(async () => {
    for (let i = 0; i < 20; i++) {
      await moment;
      writeBytes(w, Buffer.from('x')); // runs as a microtask, after the turn returned
    }
  }, 10);
  const counted = loop.stats().ffiCalls - countedBefore;
  const made = ffiCounter.calls - rawBefore;
  loop.close();
  closeFd(r);
  closeFd(w);
  assert.ok(counted >= 20, `only ${counted} calls counted`);
  assert.is(counted, made);
});

test.run();
