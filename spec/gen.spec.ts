/**
 * reactor/gen.ts: sleep, withTimeout, moment and multi (the sleep /
 * with_timeout / moment / multi parts of Tornado 4.4's gen_test).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { CancelledError, Future, TimeoutError } from '../reactor/future.js';
import { moment, multi, sleep, withTimeout } from '../reactor/gen.js';
import { TimeoutError as ExportedTimeoutError } from '../reactor/gen.js';
import { captureLogs, delay, fdLeakCheck, inLoop, rejection } from './helpers.js';

const checkFds = fdLeakCheck();

/** A Future failing with `error` after `seconds` on the current loop. */
function failLater<T>(seconds: number, error: unknown): Future<T> {
  const f = new Future<T>();
  IOLoop.current()!.callLater(seconds, () => f.setException(error));
  return f;
}

function resolveLater<T>(seconds: number, value: T): Future<T> {
  const f = new Future<T>();
  IOLoop.current()!.callLater(seconds, () => f.setResult(value));
  return f;
}

// ------------------------------------------------------------ sleep

test('sleep resolves after the delay, on the current loop', async () => {
  await inLoop(async (loop) => {
    const start = loop.time();
    const f = sleep(0.05);
    assert.ok(f instanceof Future);
    assert.not.ok(f.done());
    await f;
    assert.ok(loop.time() - start >= 0.049, `slept ${loop.time() - start}`);
  });
});

test('sleep(0) yields and resolves', async () => {
  await inLoop(async () => {
    assert.is(await sleep(0), undefined);
  });
});

test('a cancelled sleep stays cancelled when its time comes', async () => {
  await inLoop(async () => {
    const f = sleep(0.01);
    f.cancel();
    await sleep(0.03);
    assert.ok(f.cancelled());
  });
});

// ------------------------------------------------------------ withTimeout

test('withTimeout: a Future that never finishes times out ({seconds})', async () => {
  await inLoop(async (loop) => {
    const start = loop.time();
    const error = await rejection(withTimeout({ seconds: 0.05 }, new Future()));
    assert.instance(error, TimeoutError);
    assert.match(error.message, /^Timeout: deadline \d+\.\d{3} passed at loop time \d+\.\d{3}$/);
    assert.is(error.name, 'TimeoutError');
    assert.ok(loop.time() - start >= 0.049);
  });
});

test('withTimeout: an absolute deadline on the loop clock', async () => {
  await inLoop(async (loop) => {
    const error = await rejection(withTimeout(loop.time() + 0.02, new Future()));
    assert.instance(error, TimeoutError);
    // A deadline already passed times out on the next iteration.
    assert.instance(await rejection(withTimeout(loop.time() - 1, new Future())), TimeoutError);
  });
});

test('withTimeout: completes before the timeout (and cancels its timeout)', async () => {
  await inLoop(async (loop) => {
    const timers = (loop as unknown as { timers: { nextDeadline(): number | null } }).timers;
    const before = timers.nextDeadline(); // runSync's own timeout
    const result = await withTimeout({ seconds: 3600 }, resolveLater(0.01, 'asdf'));
    assert.is(result, 'asdf');
    assert.is(timers.nextDeadline(), before, 'the one-hour timeout was removed');
  });
});

test('withTimeout: fails before the timeout', async () => {
  await inLoop(async () => {
    const error = new RangeError('zero division');
    assert.is(await rejection(withTimeout({ seconds: 3600 }, failLater(0.01, error))), error);
  });
});

test('withTimeout: already resolved', async () => {
  await inLoop(async () => {
    const f = new Future<string>();
    f.setResult('asdf');
    assert.is(await withTimeout({ seconds: 3600 }, f), 'asdf');
  });
});

test('withTimeout: a plain Promise, timing out and completing', async () => {
  await inLoop(async (loop) => {
    const slow = new Promise<number>((resolve) => loop.callLater(0.2, () => resolve(1)));
    assert.instance(await rejection(withTimeout(loop.time(), slow)), TimeoutError);
    assert.is(await withTimeout({ seconds: 3600 }, Promise.resolve(2)), 2);
    await slow;
  });
});

test('withTimeout: a later failure is logged ("Exception in Future … after timeout")', async () => {
  const { logs } = await captureLogs(() => inLoop(async () => {
    const late = failLater(0.05, new Error('late failure'));
    assert.instance(await rejection(withTimeout({ seconds: 0.01 }, late)), TimeoutError);
    await sleep(0.08);
  }));
  const errors = logs.filter(([level]) => level === 'error');
  assert.is(errors.length, 1, JSON.stringify(logs));
  assert.match(errors[0]![1], /^Exception in Future \[object Future\] after timeout/);
  assert.match(errors[0]![1], /late failure/);
});

test('withTimeout: quietExceptions silences matching later failures only', async () => {
  class QuietError extends Error {}
  const { logs } = await captureLogs(() => inLoop(async () => {
    const quiet = failLater(0.03, new QuietError('expected'));
    const loud = failLater(0.03, new TypeError('unexpected'));
    const succeeds = resolveLater(0.03, 1);
    const cancelled = new Future<number>();
    IOLoop.current()!.callLater(0.03, () => cancelled.cancel());
    const options = { quietExceptions: [QuietError] };
    await Promise.all([quiet, loud, succeeds, cancelled].map(async (f) => {
      assert.instance(await rejection(withTimeout({ seconds: 0.01 }, f as Future<number>, options)), TimeoutError);
    }));
    await sleep(0.05);
    assert.ok(cancelled.cancelled());
  }));
  const errors = logs.filter(([level]) => level === 'error');
  assert.is(errors.length, 1, JSON.stringify(logs));
  assert.match(errors[0]![1], /TypeError: unexpected/);
});

test('gen re-exports the one TimeoutError', () => {
  assert.is(ExportedTimeoutError, TimeoutError);
});

// ------------------------------------------------------------ moment

test('moment: coroutines awaiting it take turns (Tornado test_moment)', async () => {
  await inLoop(async () => {
    const calls: string[] = [];
    const f = async (name: string) => {
      for (let i = 0; i < 5; i++) {
        calls.push(name);
        await moment;
      }
    };
    await Promise.all([f('a'), f('b')]);
    assert.is(calls.join(''), 'ababababab');
  });
});

test('moment lets callbacks queued before it run first', async () => {
  await inLoop(async (loop) => {
    const order: string[] = [];
    loop.addCallback(() => order.push('callback'));
    await moment;
    order.push('after moment');
    assert.equal(order, ['callback', 'after moment']);
  });
});

test('moment without a current loop falls back to setImmediate', async () => {
  const saved = IOLoop.current(false);
  IOLoop.clearCurrent();
  try {
    let ran = false;
    setImmediate(() => { ran = true; });
    await moment;
    assert.ok(ran);
  } finally {
    if (saved) saved.makeCurrent();
  }
});

test('moment works with then(onFulfilled, onRejected)', async () => {
  await inLoop(async () => {
    const value = await moment.then(() => 'resumed', () => 'failed');
    assert.is(value, 'resumed');
  });
});

// ------------------------------------------------------------ multi

test('multi: results in order, whatever order they finish in', async () => {
  await inLoop(async () => {
    const results = await multi<number | string>([
      resolveLater(0.03, 1), resolveLater(0.01, 2), Promise.resolve('three'), resolveLater(0, 4),
    ]);
    assert.equal(results, [1, 2, 'three', 4]);
  });
});

test('multi of nothing resolves at once with []', () => {
  const f = multi([]);
  assert.ok(f.done());
  assert.equal(f.result(), []);
});

test('multi: the first error (in list order) wins, after all settle; later ones are logged', async () => {
  const { logs } = await captureLogs(() => inLoop(async () => {
    const first = new RangeError('error 1');
    const second = new TypeError('error 2');
    const [a, b, slow] = [new Future<unknown>(), new Future<unknown>(), new Future<unknown>()];
    const all = multi<unknown>([a, b, slow]);
    b.setException(second); // fails first in time, second in the list
    a.setException(first);
    await sleep(0);
    assert.not.ok(all.done(), 'multi waits for every child');
    slow.setResult('slow');
    assert.is(await rejection(all), first);
  }));
  const errors = logs.filter(([level]) => level === 'error');
  assert.is(errors.length, 1, JSON.stringify(logs));
  assert.match(errors[0]![1], /^Multiple exceptions in yield list/);
  assert.match(errors[0]![1], /error 2/);
});

test('multi: one error is not logged', async () => {
  const { logs } = await captureLogs(() => inLoop(async () => {
    const error = new Error('only one');
    assert.is(await rejection(multi([failLater(0.01, error), resolveLater(0.01, 2)])), error);
  }));
  assert.equal(logs, []);
});

test('multi: a cancelled child fails it with CancelledError', async () => {
  await inLoop(async () => {
    const child = new Future<number>();
    const all = multi([child, resolveLater(0, 1)]);
    child.cancel();
    assert.instance(await rejection(all), CancelledError);
  });
});

test('multi accepts the same Future twice', async () => {
  await inLoop(async () => {
    const f = resolveLater(0.01, 'x');
    assert.equal(await multi([f, f]), ['x', 'x']);
  });
});

test('no fds leaked', async () => {
  await delay(1);
  checkFds();
});

test.run();
