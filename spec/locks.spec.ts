/**
 * reactor/locks.ts beyond Tornado's own tests (spec/tornado-locks.spec.ts):
 * the exact `String(x)` forms, the timeout argument (absolute deadline,
 * `{ seconds }`, Tornado's "falsy means none", a malformed one refused
 * before anything changes), the Releaser (once only, `using`), bad
 * arguments, cancelled waiters, and counts proving timed-out waiters do
 * not pile up.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TimeoutError } from '../reactor/future.js';
import { sleep } from '../reactor/gen.js';
import { BoundedSemaphore, Condition, Event, Lock, Semaphore } from '../reactor/locks.js';
import { captureLogs, fdLeakCheck, inLoop, rejection, thrown } from './helpers.js';

const checkFds = fdLeakCheck();

test('String() gives Tornado repr of each primitive', () => inLoop(() => {
  const c = new Condition();
  assert.is(String(c), '<Condition>');
  c.wait();
  assert.is(String(c), '<Condition waiters[1]>');

  const e = new Event();
  assert.is(String(e), '<Event clear>');
  e.set();
  assert.is(String(e), '<Event set>');

  const s = new Semaphore();
  assert.is(String(s), '<Semaphore [unlocked,value:1]>');
  s.acquire();
  assert.is(String(s), '<Semaphore [locked]>');
  s.acquire();
  assert.is(String(s), '<Semaphore [locked,waiters:1]>');
  assert.is(String(new BoundedSemaphore(3)), '<BoundedSemaphore [unlocked,value:3]>');

  const l = new Lock();
  assert.is(String(l), '<Lock _block=<BoundedSemaphore [unlocked,value:1]>>');
  l.acquire();
  assert.is(String(l), '<Lock _block=<BoundedSemaphore [locked]>>');
}));

test('a number timeout is an absolute deadline on the loop clock, { seconds } is relative', () => inLoop(async (loop) => {
  const c = new Condition();
  const start = loop.time();
  const absolute = c.wait(loop.time() + 0.02);
  const relative = c.wait({ seconds: 0.02 });
  assert.is(await absolute, false);
  assert.is(await relative, false);
  assert.ok(loop.time() >= start + 0.02);
  // A deadline already past times out on the next timer pass, not at once.
  const past = new Semaphore(0).acquire(loop.time() - 1);
  assert.not.ok(past.done());
  assert.instance(await rejection(past), TimeoutError);
}));

test('Condition.wait and acquire: no timeout when it is absent, null, 0 or { seconds: 0 } (Tornado: if timeout:)', () => inLoop(async () => {
  const c = new Condition();
  const waits = [c.wait(), c.wait(null), c.wait(0), c.wait({ seconds: 0 })];
  const sem = new Semaphore(0);
  const acquires = [sem.acquire(0), sem.acquire({ seconds: 0 })];
  const lock = new Lock();
  lock.acquire();
  const lockAcquire = lock.acquire({ seconds: 0 });
  await sleep(0.03);
  assert.not.ok([...waits, ...acquires, lockAcquire].some((f) => f.done()));
  c.notifyAll();
  sem.release();
  sem.release();
  lock.release();
  assert.equal(await Promise.all(waits), [true, true, true, true]);
  assert.ok([...acquires, lockAcquire].every((f) => f.done() && f.exception() === null));
}));

test('Event.wait reads its timeout as with_timeout does: 0 and { seconds: 0 } time out, null does not', () => inLoop(async (loop) => {
  const e = new Event();
  const zero = e.wait(0);
  const relativeZero = e.wait({ seconds: 0 });
  const none = e.wait(null);
  assert.not.ok(zero.done() || relativeZero.done()); // not at once: at the next timer pass
  assert.instance(await rejection(zero), TimeoutError);
  assert.instance(await rejection(relativeZero), TimeoutError);
  assert.not.ok(none.done());
  e.set();
  assert.ok(none.done());
  assert.ok(e.wait(0).done()); // set: done at once, whatever the timeout
  assert.ok(e.wait(loop.time() - 1).done());
  assert.is(e._waiterCount, 0);
}));

test('a malformed timeout is a TypeError/RangeError and nothing waits or changes', () => inLoop(() => {
  const c = new Condition();
  const sem = new Semaphore(1);
  const e = new Event();
  for (const bad of ['1', { second: 1 }, Number.NaN, Infinity, { seconds: '1' }, true]) {
    const errors = [
      thrown(() => c.wait(bad as any)),
      thrown(() => sem.acquire(bad as any)),
      thrown(() => e.wait(bad as any)),
      thrown(() => new Lock().acquire(bad as any)),
    ];
    for (const error of errors) assert.ok(error instanceof TypeError || error instanceof RangeError, String(error));
  }
  assert.is(c._waiters.length, 0);
  assert.is(String(sem), '<Semaphore [unlocked,value:1]>'); // a bad timeout acquired nothing
  assert.is(e._waiterCount, 0);
}));

test('Semaphore and BoundedSemaphore refuse bad values with typed errors naming them', () => {
  assert.instance(thrown(() => new Semaphore(-1)), RangeError);
  assert.instance(thrown(() => new BoundedSemaphore(-0.5)), RangeError);
  for (const bad of [null, '2', {}]) {
    const error = thrown(() => new Semaphore(bad as any));
    assert.instance(error, TypeError);
    assert.match(error.message, /semaphore initial value/);
  }
  assert.instance(thrown(() => new Semaphore(Number.NaN)), TypeError);
  assert.is(String(new Semaphore(0)), '<Semaphore [locked]>');
});

test('a Releaser releases once: by release(), by using, or both', () => inLoop(async () => {
  const sem = new BoundedSemaphore(2);
  const r1 = await sem.acquire();
  const r2 = await sem.acquire();
  assert.is(String(sem), '<BoundedSemaphore [locked]>');
  r1.release();
  r1.release(); // a second call does nothing (no RangeError from the bound)
  r1[Symbol.dispose]();
  assert.is(String(sem), '<BoundedSemaphore [unlocked,value:1]>');
  {
    using early = r2;
    early.release(); // released early inside the block; the block's end does not release again
  }
  assert.is(String(sem), '<BoundedSemaphore [unlocked,value:2]>');
  {
    using _held = await sem.acquire();
    assert.is(String(sem), '<BoundedSemaphore [unlocked,value:1]>');
  }
  assert.is(String(sem), '<BoundedSemaphore [unlocked,value:2]>');
}));

test('a Lock handed over with using passes to the next waiter in order; an unlocked release throws', () => inLoop(async () => {
  const lock = new Lock();
  const order: string[] = [];
  const holder = async (name: string): Promise<void> => {
    using _ = await lock.acquire();
    order.push(`${name} in`);
    await sleep(0.001);
    order.push(`${name} out`);
  };
  await Promise.all([holder('a'), holder('b'), holder('c')]);
  assert.equal(order, ['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
  const error = thrown(() => lock.release());
  assert.match(error.message, /release unlocked lock/);
  assert.instance(error.cause, RangeError);
  assert.is(String(lock), '<Lock _block=<BoundedSemaphore [unlocked,value:1]>>');
}));

test('cancelled waiters are skipped: notify, release and set go to the next one', () => inLoop(() => {
  const c = new Condition();
  const [c1, c2] = [c.wait(), c.wait()];
  assert.ok(c1.cancel());
  c.notify();
  assert.ok(c2.done());
  assert.is(c2.result(), true);

  const sem = new Semaphore(0);
  const [s1, s2] = [sem.acquire(), sem.acquire()];
  s1.cancel();
  sem.release();
  assert.ok(s2.done());
  assert.is(String(sem), '<Semaphore [locked]>'); // the cancelled one did not take the unit

  const e = new Event();
  const [e1, e2] = [e.wait(), e.wait()];
  e1.cancel();
  assert.is(e._waiterCount, 1);
  assert.not.ok(e.isSet()); // cancelling a wait does not set the event
  e.set();
  assert.ok(e2.done());
  assert.is(e._waiterCount, 0);
}));

test('timed-out waiters do not pile up: Condition and Semaphore sweep every 101, Event at once', () => inLoop(async () => {
  const c = new Condition();
  const sem = new Semaphore(0);
  const e = new Event();
  let maxCondition = 0;
  let maxSemaphore = 0;
  let maxEvent = 0;
  // The pattern Tornado's collector exists for: wait with a short timeout, in a loop.
  for (let i = 0; i < 250; i++) {
    assert.is(await c.wait({ seconds: 0.0001 }), false);
    assert.instance(await rejection(sem.acquire({ seconds: 0.0001 })), TimeoutError);
    assert.instance(await rejection(e.wait({ seconds: 0.0001 })), TimeoutError);
    maxCondition = Math.max(maxCondition, c._waiters.length);
    maxSemaphore = Math.max(maxSemaphore, sem._waiters.length);
    maxEvent = Math.max(maxEvent, e._waiterCount);
  }
  assert.ok(maxCondition <= 101, `condition held ${maxCondition}`);
  assert.ok(maxSemaphore <= 101, `semaphore held ${maxSemaphore}`);
  assert.is(maxEvent, 0);
  assert.is(c._waiters.length, 250 - 202); // swept at the 101st and 202nd timeouts
}));

test('Event.wait on a set event is done at once; clear() makes later waits block', () => inLoop(() => {
  const e = new Event();
  e.set();
  const now = e.wait({ seconds: 1 });
  assert.ok(now.done());
  e.clear();
  assert.not.ok(e.isSet());
  const later = e.wait();
  assert.not.ok(later.done());
  e.set();
  assert.ok(later.done());
}));

test('notify(n) with n larger than the waiters, or 0, or on none, is harmless', () => inLoop(() => {
  const c = new Condition();
  c.notify(5);
  c.notifyAll();
  const w = c.wait();
  c.notify(0);
  assert.not.ok(w.done());
  c.notify(10);
  assert.ok(w.done());
  assert.is(c._waiters.length, 0);
}));

test('a waiter settled before its deadline has its timer removed: nothing fires or logs later', async () => {
  const { logs } = await captureLogs(() => inLoop(async () => {
    const c = new Condition();
    const sem = new Semaphore(0);
    const e = new Event();
    const w = c.wait({ seconds: 0.01 });
    const a = sem.acquire({ seconds: 0.01 });
    const ew = e.wait({ seconds: 0.01 });
    c.notify();
    sem.release();
    e.set();
    await sleep(0.03); // past the deadlines: a timer left behind would set a done Future and log
    assert.is(w.result(), true);
    assert.ok(a.done() && ew.done());
    assert.is(String(sem), '<Semaphore [locked]>');
  }));
  assert.equal(logs.filter(([level]) => level !== 'debug'), []);
});

test('no fds leaked', () => checkFds());

test.run();
