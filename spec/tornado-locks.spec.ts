/**
 * Tornado 4.4's tornado/test/locks_test.py, ported call for call: all 40
 * cases. `@gen.coroutine` helpers are gale's `coroutine` (so what they
 * return is a Future with `done()`), `yield x` is `await x`, a yielded list
 * is `multi`, `timedelta(seconds=s)` is `{ seconds: s }`, and
 * `with (yield sem.acquire()):` is `using _ = await sem.acquire()`.
 * `repr(x)` is `String(x)`; `len(c._waiters)` is `c._waiters.length`.
 *
 * Ported with a change, marked where it happens:
 * - test_context_manager: `with … as yielded` binds `__enter__`'s None in
 *   Python; `using yielded = …` binds the Releaser in JavaScript.
 * - test_context_manager_async_await, test_acquire_fifo_async_with:
 *   JavaScript has no `async with sem:` (acquire on entry); its port is
 *   `using _ = await sem.acquire()`, run inside an `async` function as the
 *   Python 3.5 cases run theirs inside `async def`.
 * - test_yield_sem, test_yield_lock: `await sem` gives the Semaphore itself
 *   (it is not a thenable), and `using` refuses it with `TypeError` where
 *   Tornado raises `BadYieldError`.
 * - test_context_manager_misuse (×2): `using _ = sem` throws `TypeError`
 *   (not disposable) where Tornado's `with sem:` raises `RuntimeError`.
 * - ValueError is RangeError; Lock's RuntimeError is an Error
 *   ('release unlocked lock').
 */
import * as assert from 'uvu/assert';
import { Future, TimeoutError } from '../reactor/future.js';
import { coroutine, multi, sleep } from '../reactor/gen.js';
import { BoundedSemaphore, Condition, Event, Lock, Semaphore } from '../reactor/locks.js';
import { AsyncTestCase, assertRaises, finishSuite, testCase } from './tornado-testing.js';

class ZeroDivisionError extends Error {}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

class ConditionTest extends AsyncTestCase {
  history: unknown[] = [];

  /** Record the resolution of a Future returned by Condition.wait. */
  recordDone(future: Future<boolean>, key: unknown): void {
    future.addDoneCallback(() => {
      if (!future.result()) {
        // wait() resolved to False, meaning it timed out.
        this.history.push('timeout');
      } else {
        this.history.push(key);
      }
    });
  }
}

const c = testCase('ConditionTest', () => new ConditionTest());

c('test_repr', () => {
  const cond = new Condition();
  assert.match(String(cond), 'Condition');
  assert.not.match(String(cond), 'waiters');
  cond.wait();
  assert.match(String(cond), 'waiters');
});

c('test_notify', (self) => self.genTest(async () => {
  const cond = new Condition();
  self.ioLoop.callLater(0.01, () => cond.notify());
  await cond.wait();
}));

c('test_notify_1', (self) => {
  const cond = new Condition();
  self.recordDone(cond.wait(), 'wait1');
  self.recordDone(cond.wait(), 'wait2');
  cond.notify(1);
  self.history.push('notify1');
  cond.notify(1);
  self.history.push('notify2');
  assert.equal(['wait1', 'notify1', 'wait2', 'notify2'], self.history);
});

c('test_notify_n', (self) => {
  const cond = new Condition();
  for (const i of range(6)) self.recordDone(cond.wait(), i);

  cond.notify(3);

  // Callbacks execute in the order they were registered.
  assert.equal(range(3), self.history);
  cond.notify(1);
  assert.equal(range(4), self.history);
  cond.notify(2);
  assert.equal(range(6), self.history);
});

c('test_notify_all', (self) => {
  const cond = new Condition();
  for (const i of range(4)) self.recordDone(cond.wait(), i);

  cond.notifyAll();
  self.history.push('notify_all');

  // Callbacks execute in the order they were registered.
  assert.equal([...range(4), 'notify_all'], self.history);
});

c('test_wait_timeout', (self) => self.genTest(async () => {
  const cond = new Condition();
  const wait = cond.wait({ seconds: 0.01 });
  self.ioLoop.callLater(0.02, () => cond.notify()); // Too late.
  await sleep(0.03);
  assert.is(await wait, false);
}));

c('test_wait_timeout_preempted', (self) => self.genTest(async () => {
  const cond = new Condition();

  // This fires before the wait times out.
  self.ioLoop.callLater(0.01, () => cond.notify());
  const wait = cond.wait({ seconds: 0.02 });
  await sleep(0.03);
  await wait; // No TimeoutError.
}));

c('test_notify_n_with_timeout', (self) => self.genTest(async () => {
  // Register callbacks 0, 1, 2, and 3. Callback 1 has a timeout.
  // Wait for that timeout to expire, then do notify(2) and make
  // sure everyone runs. Verifies that a timed-out callback does
  // not count against the 'n' argument to notify().
  const cond = new Condition();
  self.recordDone(cond.wait(), 0);
  self.recordDone(cond.wait({ seconds: 0.01 }), 1);
  self.recordDone(cond.wait(), 2);
  self.recordDone(cond.wait(), 3);

  // Wait for callback 1 to time out.
  await sleep(0.02);
  assert.equal(['timeout'], self.history);

  cond.notify(2);
  await sleep(0.01);
  assert.equal(['timeout', 0, 2], self.history);
  assert.equal(['timeout', 0, 2], self.history);
  cond.notify();
  assert.equal(['timeout', 0, 2, 3], self.history);
}));

c('test_notify_all_with_timeout', (self) => self.genTest(async () => {
  const cond = new Condition();
  self.recordDone(cond.wait(), 0);
  self.recordDone(cond.wait({ seconds: 0.01 }), 1);
  self.recordDone(cond.wait(), 2);

  // Wait for callback 1 to time out.
  await sleep(0.02);
  assert.equal(['timeout'], self.history);

  cond.notifyAll();
  assert.equal(['timeout', 0, 2], self.history);
}));

c('test_nested_notify', (self) => self.genTest(async () => {
  // Ensure no notifications lost, even if notify() is reentered by a
  // waiter calling notify().
  const cond = new Condition();

  // Three waiters.
  const futures = range(3).map(() => cond.wait());

  // First and second futures resolved. Second future reenters notify(),
  // resolving third future.
  futures[1]!.addDoneCallback(() => cond.notify());
  cond.notify(2);
  assert.ok(futures.every((f) => f.done()));
}));

c('test_garbage_collection', (self) => self.genTest(async () => {
  // Test that timed-out waiters are occasionally cleaned from the queue.
  const cond = new Condition();
  for (let i = 0; i < 101; i++) cond.wait({ seconds: 0.01 });

  const future = cond.wait();
  assert.is(102, cond._waiters.length);

  // Let first 101 waiters time out, triggering a collection.
  await sleep(0.02);
  assert.is(1, cond._waiters.length);

  // Final waiter is still active.
  assert.not.ok(future.done());
  cond.notify();
  assert.ok(future.done());
}));

const e = testCase('EventTest', () => new AsyncTestCase());

e('test_repr', () => {
  const event = new Event();
  assert.ok(String(event).includes('clear'));
  assert.not.ok(String(event).includes('set'));
  event.set();
  assert.not.ok(String(event).includes('clear'));
  assert.ok(String(event).includes('set'));
});

e('test_event', () => {
  const ev = new Event();
  const future0 = ev.wait();
  ev.set();
  const future1 = ev.wait();
  ev.clear();
  const future2 = ev.wait();

  assert.ok(future0.done());
  assert.ok(future1.done());
  assert.not.ok(future2.done());
});

e('test_event_timeout', (self) => self.genTest(async () => {
  const ev = new Event();
  await assertRaises(TimeoutError, () => ev.wait({ seconds: 0.01 }));

  // After a timed-out waiter, normal operation works.
  self.ioLoop.addTimeout({ seconds: 0.01 }, () => ev.set());
  await ev.wait({ seconds: 1 });
}));

e('test_event_set_multiple', () => {
  const ev = new Event();
  ev.set();
  ev.set();
  assert.ok(ev.isSet());
});

e('test_event_wait_clear', () => {
  const ev = new Event();
  const f0 = ev.wait();
  ev.clear();
  const f1 = ev.wait();
  ev.set();
  assert.ok(f0.done());
  assert.ok(f1.done());
});

const s = testCase('SemaphoreTest', () => new AsyncTestCase());

s('test_negative_value', () => {
  assert.throws(() => new Semaphore(-1), (error: unknown) => error instanceof RangeError);
});

s('test_repr', () => {
  const sem = new Semaphore();
  assert.match(String(sem), 'Semaphore');
  assert.match(String(sem), 'unlocked,value:1');
  sem.acquire();
  assert.match(String(sem), 'locked');
  assert.not.match(String(sem), 'waiters');
  sem.acquire();
  assert.match(String(sem), 'waiters');
});

s('test_acquire', () => {
  const sem = new Semaphore();
  const f0 = sem.acquire();
  assert.ok(f0.done());

  // Wait for release().
  const f1 = sem.acquire();
  assert.not.ok(f1.done());
  const f2 = sem.acquire();
  sem.release();
  assert.ok(f1.done());
  assert.not.ok(f2.done());
  sem.release();
  assert.ok(f2.done());

  sem.release();
  // Now acquire() is instant.
  assert.ok(sem.acquire().done());
  assert.is(0, sem._waiters.length);
});

s('test_acquire_timeout', (self) => self.genTest(async () => {
  const sem = new Semaphore(2);
  await sem.acquire();
  await sem.acquire();
  const acquire = sem.acquire({ seconds: 0.01 });
  self.ioLoop.callLater(0.02, () => sem.release()); // Too late.
  await sleep(0.3);
  await assertRaises(TimeoutError, () => acquire);

  sem.acquire();
  const f = sem.acquire();
  assert.not.ok(f.done());
  sem.release();
  assert.ok(f.done());
}));

s('test_acquire_timeout_preempted', (self) => self.genTest(async () => {
  const sem = new Semaphore(1);
  await sem.acquire();

  // This fires before the wait times out.
  self.ioLoop.callLater(0.01, () => sem.release());
  const acquire = sem.acquire({ seconds: 0.02 });
  await sleep(0.03);
  await acquire; // No TimeoutError.
}));

s('test_release_unacquired', () => {
  // Unbounded releases are allowed, and increment the semaphore's value.
  const sem = new Semaphore();
  sem.release();
  sem.release();

  // Now the counter is 3. We can acquire three times before blocking.
  assert.ok(sem.acquire().done());
  assert.ok(sem.acquire().done());
  assert.ok(sem.acquire().done());
  assert.not.ok(sem.acquire().done());
});

s('test_garbage_collection', (self) => self.genTest(async () => {
  // Test that timed-out waiters are occasionally cleaned from the queue.
  const sem = new Semaphore(0);
  const futures = range(101).map(() => sem.acquire({ seconds: 0.01 }));

  const future = sem.acquire();
  assert.is(102, sem._waiters.length);

  // Let first 101 waiters time out, triggering a collection.
  await sleep(0.02);
  assert.is(1, sem._waiters.length);

  // Final waiter is still active.
  assert.not.ok(future.done());
  sem.release();
  assert.ok(future.done());

  // Prevent "Future exception was never retrieved" messages.
  for (const f of futures) assert.throws(() => f.result(), (error: unknown) => error instanceof TimeoutError);
}));

const m = testCase('SemaphoreContextManagerTest', () => new AsyncTestCase());

m('test_context_manager', (self) => self.genTest(async () => {
  const sem = new Semaphore();
  {
    using yielded = await sem.acquire();
    // Changed: Python binds __enter__'s None; `using` binds the Releaser.
    assert.type(yielded.release, 'function');
  }

  // Semaphore was released and can be acquired again.
  assert.ok(sem.acquire().done());
}));

m('test_context_manager_async_await', (self) => self.genTest(async () => {
  // Repeat the above test using 'async with' (gale: an async function
  // with `using … = await sem.acquire()`, JavaScript's spelling of it).
  const sem = new Semaphore();

  const f = async (): Promise<void> => {
    using yielded = await sem.acquire();
    assert.type(yielded.release, 'function');
  };
  await f();

  // Semaphore was released and can be acquired again.
  assert.ok(sem.acquire().done());
}));

m('test_context_manager_exception', (self) => self.genTest(async () => {
  const sem = new Semaphore();
  await assertRaises(ZeroDivisionError, async () => {
    using _ = await sem.acquire();
    throw new ZeroDivisionError('division by zero');
  });

  // Semaphore was released and can be acquired again.
  assert.ok(sem.acquire().done());
}));

m('test_context_manager_timeout', (self) => self.genTest(async () => {
  const sem = new Semaphore();
  {
    using _ = await sem.acquire({ seconds: 0.01 });
  }

  // Semaphore was released and can be acquired again.
  assert.ok(sem.acquire().done());
}));

m('test_context_manager_timeout_error', (self) => self.genTest(async () => {
  const sem = new Semaphore(0);
  await assertRaises(TimeoutError, async () => {
    using _ = await sem.acquire({ seconds: 0.01 });
  });

  // Counter is still 0.
  assert.not.ok(sem.acquire().done());
}));

m('test_context_manager_contended', (self) => self.genTest(async () => {
  const sem = new Semaphore();
  const history: string[] = [];

  const f = coroutine(async (index: number) => {
    using _ = await sem.acquire();
    history.push(`acquired ${index}`);
    await sleep(0.01);
    history.push(`release ${index}`);
  });

  await multi(range(2).map((i) => f(i)));

  const expectedHistory: string[] = [];
  for (const i of range(2)) expectedHistory.push(`acquired ${i}`, `release ${i}`);

  assert.equal(expectedHistory, history);
}));

m('test_yield_sem', (self) => self.genTest(async () => {
  // Ensure we catch a "with (yield sem)", which should be
  // "with (yield sem.acquire())". (gale: TypeError, not BadYieldError.)
  await assertRaises(TypeError, async () => {
    using _ = await (new Semaphore() as any);
  });
}));

m('test_context_manager_misuse', () => {
  // Ensure we catch a "with sem", which should be
  // "with (yield sem.acquire())". (gale: TypeError, not RuntimeError.)
  let ran = false;
  assert.throws(() => {
    using _ = new Semaphore() as any;
    ran = true;
  }, (error: unknown) => error instanceof TypeError);
  assert.not.ok(ran);
});

const b = testCase('BoundedSemaphoreTest', () => new AsyncTestCase());

b('test_release_unacquired', () => {
  const sem = new BoundedSemaphore();
  assert.throws(() => sem.release(), (error: unknown) => error instanceof RangeError);
  // Value is 0.
  sem.acquire();
  // Block on acquire().
  const future = sem.acquire();
  assert.not.ok(future.done());
  sem.release();
  assert.ok(future.done());
  // Value is 1.
  sem.release();
  assert.throws(() => sem.release(), (error: unknown) => error instanceof RangeError);
});

const l = testCase('LockTests', () => new AsyncTestCase());

l('test_repr', () => {
  const lock = new Lock();
  // No errors.
  String(lock);
  lock.acquire();
  String(lock);
});

l('test_acquire_release', () => {
  const lock = new Lock();
  assert.ok(lock.acquire().done());
  const future = lock.acquire();
  assert.not.ok(future.done());
  lock.release();
  assert.ok(future.done());
});

l('test_acquire_fifo', (self) => self.genTest(async () => {
  const lock = new Lock();
  assert.ok(lock.acquire().done());
  const N = 5;
  const history: number[] = [];

  const f = coroutine(async (idx: number) => {
    using _ = await lock.acquire();
    history.push(idx);
  });

  const futures = range(N).map((i) => f(i));
  assert.not.ok(futures.some((future) => future.done()));
  lock.release();
  await multi(futures);
  assert.equal(range(N), history);
}));

l('test_acquire_fifo_async_with', (self) => self.genTest(async () => {
  // Repeat the above test using `async with lock:`
  // instead of `with (yield lock.acquire()):` (gale: an async function).
  const lock = new Lock();
  assert.ok(lock.acquire().done());
  const N = 5;
  const history: number[] = [];

  const f = async (idx: number): Promise<void> => {
    using _ = await lock.acquire();
    history.push(idx);
  };
  const futures = range(N).map((i) => f(i));
  lock.release();
  await multi(futures);
  assert.equal(range(N), history);
}));

l('test_acquire_timeout', (self) => self.genTest(async () => {
  const lock = new Lock();
  lock.acquire();
  await assertRaises(TimeoutError, () => lock.acquire({ seconds: 0.01 }));

  // Still locked.
  assert.not.ok(lock.acquire().done());
}));

l('test_multi_release', () => {
  const lock = new Lock();
  assert.throws(() => lock.release(), /release unlocked lock/);
  lock.acquire();
  lock.release();
  assert.throws(() => lock.release(), /release unlocked lock/);
});

l('test_yield_lock', (self) => self.genTest(async () => {
  // Ensure we catch a "with (yield lock)", which should be
  // "with (yield lock.acquire())". (gale: TypeError, not BadYieldError.)
  await assertRaises(TypeError, async () => {
    using _ = await (new Lock() as any);
  });
}));

l('test_context_manager_misuse', () => {
  // Ensure we catch a "with lock", which should be
  // "with (yield lock.acquire())". (gale: TypeError, not RuntimeError.)
  let ran = false;
  assert.throws(() => {
    using _ = new Lock() as any;
    ran = true;
  }, (error: unknown) => error instanceof TypeError);
  assert.not.ok(ran);
});

finishSuite();
