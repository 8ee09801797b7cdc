/**
 * Tornado 4.4's tornado/test/queues_test.py, ported call for call: all 31
 * cases, QueueJoinTest's five run over Queue, PriorityQueue and LifoQueue
 * as Tornado's subclasses run them. `@gen.coroutine` helpers are gale's
 * `coroutine`, `yield x` is `await x`, a yielded list is `multi`,
 * `timedelta(seconds=s)` is `{ seconds: s }`, `async for` is `for await`,
 * `len(q._putters)` is `q._putters.length`, a tuple is an array.
 *
 * Ported with a change, marked where it happens:
 * - test_repr_and_str: JavaScript has one string form, `String(q)` (Python's
 *   `str`); the `hex(id(q))` checks of `repr` have no counterpart.
 * - ValueError is RangeError; `maxsize=None` is `null`.
 */
import * as assert from 'uvu/assert';
import { TimeoutError } from '../reactor/future.js';
import { coroutine, moment, multi, sleep } from '../reactor/gen.js';
import { LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull } from '../reactor/queues.js';
import { AsyncTestCase, assertRaises, finishSuite, testCase } from './tornado-testing.js';

function raises(cls: new (...a: any[]) => Error, fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => error instanceof cls);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const basic = testCase('QueueBasicTest', () => new AsyncTestCase());

basic('test_repr_and_str', () => {
  const q = new Queue(1);
  // (Python's repr-only hex(id(q)) checks: no counterpart.)
  q.get();

  for (const qStr of [String(q)]) {
    assert.ok(qStr.startsWith('<Queue'));
    assert.match(qStr, 'maxsize=1');
    assert.match(qStr, 'getters[1]');
    assert.not.match(qStr, 'putters');
    assert.not.match(qStr, 'tasks');
  }

  q.put(null);
  q.put(null);
  // Now the queue is full, this putter blocks.
  q.put(null);

  for (const qStr of [String(q)]) {
    assert.not.match(qStr, 'getters');
    assert.match(qStr, 'putters[1]');
    assert.match(qStr, 'tasks=2');
  }
});

basic('test_order', () => {
  const q = new Queue<number>();
  for (const i of [1, 3, 2]) q.putNowait(i);

  const items = range(3).map(() => q.getNowait());
  assert.equal([1, 3, 2], items);
});

basic('test_maxsize', (self) => self.genTest(async () => {
  raises(TypeError, () => new Queue(null as any));
  raises(RangeError, () => new Queue(-1));

  const q = new Queue<number>(2);
  assert.ok(q.empty());
  assert.not.ok(q.full());
  assert.is(2, q.maxsize);
  assert.ok(q.put(0).done());
  assert.ok(q.put(1).done());
  assert.not.ok(q.empty());
  assert.ok(q.full());
  const put2 = q.put(2);
  assert.not.ok(put2.done());
  assert.is(0, await q.get()); // Make room.
  assert.ok(put2.done());
  assert.not.ok(q.empty());
  assert.ok(q.full());
}));

const get = testCase('QueueGetTest', () => new AsyncTestCase());

get('test_blocking_get', (self) => self.genTest(async () => {
  const q = new Queue<number>();
  q.putNowait(0);
  assert.is(0, await q.get());
}));

get('test_nonblocking_get', () => {
  const q = new Queue<number>();
  q.putNowait(0);
  assert.is(0, q.getNowait());
});

get('test_nonblocking_get_exception', () => {
  const q = new Queue();
  raises(QueueEmpty, () => q.getNowait());
});

get('test_get_with_putters', (self) => self.genTest(async () => {
  const q = new Queue<number>(1);
  q.putNowait(0);
  const put = q.put(1);
  assert.is(0, await q.get());
  assert.is(undefined, await put);
}));

get('test_blocking_get_wait', (self) => self.genTest(async () => {
  const q = new Queue<number>();
  q.put(0);
  self.ioLoop.callLater(0.01, (x: number) => q.put(x), 1);
  self.ioLoop.callLater(0.02, (x: number) => q.put(x), 2);
  assert.is(0, await q.get({ seconds: 1 }));
  assert.is(1, await q.get({ seconds: 1 }));
}));

get('test_get_timeout', (self) => self.genTest(async () => {
  const q = new Queue<number>();
  const getTimeout = q.get({ seconds: 0.01 });
  const g = q.get();
  await assertRaises(TimeoutError, () => getTimeout);

  q.putNowait(0);
  assert.is(0, await g);
}));

get('test_get_timeout_preempted', (self) => self.genTest(async () => {
  const q = new Queue<number>();
  const g = q.get({ seconds: 0.01 });
  q.put(0);
  await sleep(0.02);
  assert.is(0, await g);
}));

get('test_get_clears_timed_out_putters', (self) => self.genTest(async () => {
  const q = new Queue<number>(1);
  // First putter succeeds, remainder block.
  const putters = range(10).map((i) => q.put(i, { seconds: 0.01 }));
  const put = q.put(10);
  assert.is(10, q._putters.length);
  await sleep(0.02);
  assert.is(10, q._putters.length);
  assert.not.ok(put.done()); // Final waiter is still active.
  q.put(11);
  assert.is(0, await q.get()); // get() clears the waiters.
  assert.is(1, q._putters.length);
  for (const putter of putters.slice(1)) raises(TimeoutError, () => putter.result());
}));

get('test_get_clears_timed_out_getters', (self) => self.genTest(async () => {
  const q = new Queue();
  const getters = range(10).map(() => q.get({ seconds: 0.01 }));
  const g = q.get();
  assert.is(11, q._getters.length);
  await sleep(0.02);
  assert.is(11, q._getters.length);
  assert.not.ok(g.done()); // Final waiter is still active.
  q.get(); // get() clears the waiters.
  assert.is(2, q._getters.length);
  for (const getter of getters) raises(TimeoutError, () => getter.result());
}));

get('test_async_for', (self) => self.genTest(async () => {
  const q = new Queue<number>();
  for (const i of range(5)) q.put(i);

  const f = async (): Promise<number[]> => {
    const results: number[] = [];
    for await (const i of q) {
      results.push(i);
      if (i === 4) return results;
    }
    throw new Error('unreachable');
  };
  const results = await f();
  assert.equal(results, range(5));
}));

const put = testCase('QueuePutTest', () => new AsyncTestCase());

put('test_blocking_put', (self) => self.genTest(async () => {
  const q = new Queue<number>();
  q.put(0);
  assert.is(0, q.getNowait());
}));

put('test_nonblocking_put_exception', () => {
  const q = new Queue<number>(1);
  q.put(0);
  raises(QueueFull, () => q.putNowait(1));
});

put('test_put_with_getters', (self) => self.genTest(async () => {
  const q = new Queue<number>();
  const get0 = q.get();
  const get1 = q.get();
  await q.put(0);
  assert.is(0, await get0);
  await q.put(1);
  assert.is(1, await get1);
}));

put('test_nonblocking_put_with_getters', (self) => self.genTest(async () => {
  const q = new Queue<number>();
  const get0 = q.get();
  const get1 = q.get();
  q.putNowait(0);
  // put_nowait does *not* immediately unblock getters.
  await moment;
  assert.is(0, await get0);
  q.putNowait(1);
  await moment;
  assert.is(1, await get1);
}));

put('test_blocking_put_wait', (self) => self.genTest(async () => {
  const q = new Queue<number>(1);
  q.putNowait(0);
  self.ioLoop.callLater(0.01, () => q.get());
  self.ioLoop.callLater(0.02, () => q.get());
  const futures = [q.put(0), q.put(1)];
  assert.not.ok(futures.some((f) => f.done()));
  await multi(futures);
}));

put('test_put_timeout', (self) => self.genTest(async () => {
  const q = new Queue<number>(1);
  q.putNowait(0); // Now it's full.
  const putTimeout = q.put(1, { seconds: 0.01 });
  const p = q.put(2);
  await assertRaises(TimeoutError, () => putTimeout);

  assert.is(0, q.getNowait());
  // 1 was never put in the queue.
  assert.is(2, await q.get());

  // Final get() unblocked this putter.
  await p;
}));

put('test_put_timeout_preempted', (self) => self.genTest(async () => {
  const q = new Queue<number>(1);
  q.putNowait(0);
  const p = q.put(1, { seconds: 0.01 });
  q.get();
  await sleep(0.02);
  await p; // No TimeoutError.
}));

put('test_put_clears_timed_out_putters', (self) => self.genTest(async () => {
  const q = new Queue<number>(1);
  // First putter succeeds, remainder block.
  const putters = range(10).map((i) => q.put(i, { seconds: 0.01 }));
  const p = q.put(10);
  assert.is(10, q._putters.length);
  await sleep(0.02);
  assert.is(10, q._putters.length);
  assert.not.ok(p.done()); // Final waiter is still active.
  q.put(11); // put() clears the waiters.
  assert.is(2, q._putters.length);
  for (const putter of putters.slice(1)) raises(TimeoutError, () => putter.result());
}));

put('test_put_clears_timed_out_getters', (self) => self.genTest(async () => {
  const q = new Queue<number>();
  const getters = range(10).map(() => q.get({ seconds: 0.01 }));
  const g = q.get();
  q.get();
  assert.is(12, q._getters.length);
  await sleep(0.02);
  assert.is(12, q._getters.length);
  assert.not.ok(g.done()); // Final waiters still active.
  q.put(0); // put() clears the waiters.
  assert.is(1, q._getters.length);
  assert.is(0, await g);
  for (const getter of getters) raises(TimeoutError, () => getter.result());
}));

put('test_float_maxsize', (self) => self.genTest(async () => {
  // Non-int maxsize must round down: http://bugs.python.org/issue21723
  const q = new Queue<number>(1.3);
  assert.ok(q.empty());
  assert.not.ok(q.full());
  q.putNowait(0);
  q.putNowait(1);
  assert.not.ok(q.empty());
  assert.ok(q.full());
  raises(QueueFull, () => q.putNowait(2));
  assert.is(0, q.getNowait());
  assert.not.ok(q.empty());
  assert.not.ok(q.full());

  await q.put(2);
  const p = q.put(3);
  assert.not.ok(p.done());
  assert.is(1, await q.get());
  await p;
  assert.ok(q.full());
}));

type QueueClass = new (maxsize?: number) => Queue<any>;

/** QueueJoinTest's cases, run once per queue class as Tornado's subclasses run them. */
function queueJoinTest(className: string, queueClass: QueueClass): ReturnType<typeof testCase> {
  const j = testCase(className, () => new AsyncTestCase());

  j('test_task_done_underflow', () => {
    const q = new queueClass();
    raises(RangeError, () => q.taskDone());
  });

  j('test_task_done', (self) => self.genTest(async () => {
    const q = new queueClass();
    for (const i of range(100)) q.putNowait(i);

    let accumulator = 0;

    const worker = coroutine(async () => {
      for (;;) {
        const item = await q.get();
        accumulator += item;
        q.taskDone();
        await sleep(Math.random() * 0.01);
      }
    });

    // Two coroutines share work.
    worker();
    worker();
    await q.join();
    assert.is(range(100).reduce((a, x) => a + x, 0), accumulator);
  }));

  j('test_task_done_delay', (self) => self.genTest(async () => {
    // Verify it is task_done(), not get(), that unblocks join().
    const q = new queueClass();
    q.putNowait(0);
    const join = q.join();
    assert.not.ok(join.done());
    await q.get();
    assert.not.ok(join.done());
    await moment;
    assert.not.ok(join.done());
    q.taskDone();
    assert.ok(join.done());
  }));

  j('test_join_empty_queue', (self) => self.genTest(async () => {
    const q = new queueClass();
    await q.join();
    await q.join();
  }));

  j('test_join_timeout', (self) => self.genTest(async () => {
    const q = new queueClass();
    q.put(0);
    await assertRaises(TimeoutError, () => q.join({ seconds: 0.01 }));
  }));

  return j;
}

queueJoinTest('QueueJoinTest', Queue);

const pj = queueJoinTest('PriorityQueueJoinTest', PriorityQueue);

pj('test_order', (self) => self.genTest(async () => {
  const q = new PriorityQueue<[number, string]>(2);
  q.putNowait([1, 'a']);
  q.putNowait([0, 'b']);
  assert.ok(q.full());
  q.put([3, 'c']);
  q.put([2, 'd']);
  assert.equal([0, 'b'], q.getNowait());
  assert.equal([1, 'a'], await q.get());
  assert.equal([2, 'd'], q.getNowait());
  assert.equal([3, 'c'], await q.get());
  assert.ok(q.empty());
}));

const lj = queueJoinTest('LifoQueueJoinTest', LifoQueue);

lj('test_order', (self) => self.genTest(async () => {
  const q = new LifoQueue<number>(2);
  q.putNowait(1);
  q.putNowait(0);
  assert.ok(q.full());
  q.put(3);
  q.put(2);
  assert.is(3, q.getNowait());
  assert.is(2, await q.get());
  assert.is(0, q.getNowait());
  assert.is(1, await q.get());
  assert.ok(q.empty());
}));

const pc = testCase('ProducerConsumerTest', () => new AsyncTestCase());

pc('test_producer_consumer', (self) => self.genTest(async () => {
  const q = new Queue<number>(3);
  const history: number[] = [];

  // We don't yield between get() and task_done(), so get() must wait for
  // the next tick. Otherwise we'd immediately call task_done and unblock
  // join() before q.put() resumes, and we'd only process the first four
  // items.
  const consumer = coroutine(async () => {
    for (;;) {
      history.push(await q.get());
      q.taskDone();
    }
  });

  const producer = coroutine(async () => {
    for (const item of range(10)) await q.put(item);
  });

  consumer();
  await producer();
  await q.join();
  assert.equal(range(10), history);
}));

finishSuite();
