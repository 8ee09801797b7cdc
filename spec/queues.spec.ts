/**
 * reactor/queues.ts beyond Tornado's own tests (spec/tornado-queues.spec.ts):
 * `String(q)`, maxsize checking, when Futures settle (a put with room is
 * already done; join() inside the taskDone() that finishes), PriorityQueue
 * in Python's order (and a TypeError that leaves the queue as it was), bad
 * timeouts refused before anything changes, cancelled waiters, `for await`
 * with `break`, and counts proving timed-out waiters do not pile up.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TimeoutError } from '../reactor/future.js';
import { sleep } from '../reactor/gen.js';
import { LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull } from '../reactor/queues.js';
import { pythonLess } from '../reactor/python-order.js';
import { fdLeakCheck, inLoop, rejection, thrown } from './helpers.js';

const checkFds = fdLeakCheck();

test("String(q) is Tornado's str(): maxsize, items, getters, putters, tasks", () => inLoop(() => {
  const q = new Queue<unknown>(1);
  assert.is(String(q), '<Queue maxsize=1>');
  q.get();
  assert.is(String(q), '<Queue maxsize=1 getters[1]>');
  q.put('a');
  q.put([1, 'b']);
  q.put(3);
  assert.is(String(q), "<Queue maxsize=1 queue=deque([[ 1, 'b' ]]) putters[1] tasks=2>");
  const p = new PriorityQueue<number>();
  p.putNowait(2);
  p.putNowait(1);
  assert.is(String(p), '<PriorityQueue maxsize=0 queue=[1, 2] tasks=2>');
  assert.is(String(new LifoQueue(2.5)), '<LifoQueue maxsize=2.5>');
}));

test('maxsize: null or a non-number is a TypeError, negative or NaN a RangeError, Infinity never fills', () => {
  for (const bad of [null, '2', {}, true]) {
    const error = thrown(() => new Queue(bad as any));
    assert.instance(error, TypeError);
    assert.match(error.message, /maxsize/);
  }
  assert.instance(thrown(() => new Queue(-1)), RangeError);
  assert.instance(thrown(() => new PriorityQueue(Number.NaN)), RangeError);
  const q = new Queue<number>(Infinity);
  for (let i = 0; i < 1000; i++) q.putNowait(i);
  assert.not.ok(q.full());
  assert.is(q.qsize(), 1000);
});

test('put() with room returns a Future already done; join() settles inside the last taskDone()', () => inLoop(() => {
  const q = new Queue<number>(2);
  const put = q.put(1);
  assert.ok(put.done());
  const join = q.join();
  assert.not.ok(join.done());
  assert.is(q.getNowait(), 1);
  assert.not.ok(join.done());
  q.taskDone();
  assert.ok(join.done());
  assert.instance(thrown(() => q.taskDone()), RangeError);
  assert.ok(q.join().done());
}));

test('a get meeting a waiting putter (and a put meeting a getter) settles it synchronously', () => inLoop(() => {
  const q = new Queue<string>(1);
  q.putNowait('a');
  const putter = q.put('b');
  assert.not.ok(putter.done());
  assert.is(q.getNowait(), 'a');
  assert.ok(putter.done());
  assert.is(q.qsize(), 1);

  const r = new Queue<string>();
  const getter = r.get();
  r.putNowait('x');
  assert.ok(getter.done());
  assert.is(getter.result(), 'x');
  assert.ok(r.empty());
}));

test('PriorityQueue orders as Python: numbers, strings by code point, arrays element-wise like tuples', () => inLoop(() => {
  const q = new PriorityQueue<unknown>();
  const items: unknown[] = [
    [2, 'b'], [1, 'z'], [2, 'a'], [1], [1, 'z', 0], [0.5, 'q'], [-3, 'x'], [2, ''], [true, 'bool'], [10n, 'big'],
  ];
  for (const item of items) q.putNowait(item);
  const out: unknown[] = [];
  while (!q.empty()) out.push(q.getNowait());
  assert.equal(out, [[-3, 'x'], [0.5, 'q'], [1], [true, 'bool'], [1, 'z'], [1, 'z', 0], [2, ''], [2, 'a'], [2, 'b'], [10n, 'big']]);

  const s = new PriorityQueue<string>();
  // Python orders by code point: U+1F600 (a surrogate pair in UTF-16) after U+FF5E.
  for (const x of ['\u{1F600}', '\uFF5E', 'b', 'a', 'ab', '']) s.putNowait(x);
  const strings: string[] = [];
  while (!s.empty()) strings.push(s.getNowait());
  assert.equal(strings, ['', 'a', 'ab', 'b', '\uFF5E', '\u{1F600}']);
}));

test('PriorityQueue matches a sort by Python order over many pseudo-random items', () => inLoop(() => {
  let seed = 12345;
  const random = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const q = new PriorityQueue<[number, string]>();
  const all: Array<[number, string]> = [];
  const out: Array<[number, string]> = [];
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 20; i++) {
      const item: [number, string] = [random(10), String.fromCharCode(97 + random(5))];
      all.push(item);
      q.putNowait(item);
    }
    for (let i = 0; i < 10; i++) out.push(q.getNowait()); // interleave pops with pushes
  }
  // Every pop so far was the minimum of what was in the queue then: check by replaying.
  while (!q.empty()) out.push(q.getNowait());
  assert.is(out.length, all.length);
  const cmp = (a: unknown, b: unknown): number => (pythonLess(a, b) ? -1 : pythonLess(b, a) ? 1 : 0);
  let pos = 0;
  const pending: Array<[number, string]> = [];
  for (let round = 0; round < 50; round++) {
    pending.push(...all.slice(round * 20, round * 20 + 20));
    pending.sort(cmp);
    for (let i = 0; i < 10; i++) assert.equal(out[pos++], pending.shift());
  }
  pending.sort(cmp);
  assert.equal(out.slice(pos), pending);
}));

test('an item a PriorityQueue cannot order is a TypeError and leaves the queue unchanged', () => inLoop(() => {
  const q = new PriorityQueue<unknown>();
  for (const x of [5, 3, 8, 1, 9, 2]) q.putNowait(x);
  q.getNowait();
  q.taskDone();
  const join = q.join();
  for (const bad of ['1', [1], { p: 1 }, null, undefined]) {
    const error = thrown(() => q.putNowait(bad));
    assert.instance(error, TypeError);
    assert.match(error.message, /not supported/);
  }
  assert.instance(thrown(() => q.put('x')), TypeError);
  assert.is(q.qsize(), 5);
  assert.match(String(q), 'tasks=5');
  assert.not.ok(join.done());
  const out: unknown[] = [];
  while (!q.empty()) out.push(q.getNowait());
  assert.equal(out, [2, 3, 5, 8, 9]);

  // A waiting putter whose item cannot be ordered gets the TypeError; the next one goes in.
  const full = new PriorityQueue<unknown>(1);
  full.putNowait(1);
  const badPutter = full.put('one');
  const goodPutter = full.put(0);
  // Tornado's order: the putter's item goes in before the smallest comes out.
  assert.is(full.getNowait(), 0);
  assert.instance(thrown(() => badPutter.result()), TypeError);
  assert.ok(goodPutter.done());
  assert.is(full.getNowait(), 1);
  assert.ok(full.empty());
}));

test('a malformed timeout is a TypeError and nothing is put, got or waiting', () => inLoop(() => {
  const q = new Queue<number>(1);
  for (const bad of ['1', { second: 1 }, Infinity, true]) {
    const errors = [thrown(() => q.put(1, bad as any)), thrown(() => q.get(bad as any)), thrown(() => q.join(bad as any))];
    for (const error of errors) assert.ok(error instanceof TypeError || error instanceof RangeError, String(error));
  }
  assert.ok(q.empty());
  assert.is(q._getters.length, 0);
  assert.is(String(q), '<Queue maxsize=1>');
}));

test('timeouts: a number is an absolute deadline, { seconds } relative; 0 means none for get/put, not for join', () => inLoop(async (loop) => {
  const q = new Queue<number>(1);
  assert.instance(await rejection(q.get(loop.time() + 0.01)), TimeoutError);
  assert.instance(await rejection(q.get({ seconds: 0.01 })), TimeoutError);
  const forever = q.get(0);
  const forever2 = q.get({ seconds: 0 });
  await sleep(0.02);
  assert.not.ok(forever.done() || forever2.done());
  q.putNowait(1);
  q.putNowait(2);
  assert.equal([await forever, await forever2], [1, 2]);
  q.putNowait(3);
  const putForever = q.put(4, 0);
  // join() is Event.wait(timeout), which Tornado hands to with_timeout: 0 times out.
  assert.instance(await rejection(q.join(0)), TimeoutError);
  assert.instance(await rejection(q.join({ seconds: 0 })), TimeoutError);
  assert.not.ok(putForever.done());
  assert.is(q.getNowait(), 3);
  assert.ok(putForever.done());
}));

test('cancelled getters and putters are skipped', () => inLoop(() => {
  const q = new Queue<string>(1);
  const g1 = q.get();
  const g2 = q.get();
  g1.cancel();
  q.putNowait('a');
  assert.is(g2.result(), 'a');
  assert.is(q._getters.length, 0);

  q.putNowait('b');
  const p1 = q.put('c');
  const p2 = q.put('d');
  p1.cancel();
  assert.is(q.getNowait(), 'b');
  assert.ok(p2.done());
  assert.is(q.getNowait(), 'd'); // 'c' was never put
  assert.throws(() => q.getNowait(), (e: unknown) => e instanceof QueueEmpty);
}));

test('timed-out gets and puts in a loop do not pile up (each call sweeps the front)', () => inLoop(async () => {
  const q = new Queue<number>(1);
  let maxGetters = 0;
  for (let i = 0; i < 200; i++) {
    assert.instance(await rejection(q.get({ seconds: 0.0001 })), TimeoutError);
    maxGetters = Math.max(maxGetters, q._getters.length);
  }
  assert.ok(maxGetters <= 1, `getters held ${maxGetters}`);
  q.putNowait(0);
  let maxPutters = 0;
  for (let i = 0; i < 200; i++) {
    assert.instance(await rejection(q.put(i, { seconds: 0.0001 })), TimeoutError);
    maxPutters = Math.max(maxPutters, q._putters.length);
  }
  assert.ok(maxPutters <= 1, `putters held ${maxPutters}`);
  assert.is(q.qsize(), 1);
}));

test('for await stops at break; the next get() still gets the next item', () => inLoop(async () => {
  const q = new LifoQueue<number>();
  for (const i of [1, 2, 3]) q.putNowait(i);
  const seen: number[] = [];
  for await (const item of q) {
    seen.push(item);
    q.taskDone();
    if (seen.length === 2) break;
  }
  assert.equal(seen, [3, 2]);
  assert.is(await q.get(), 1);
  assert.is(q._getters.length, 0);
}));

test('a long FIFO keeps its order while its consumed front is reclaimed', () => {
  const q = new Queue<number>();
  let next = 0;
  let expected = 0;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 3000; i++) q.putNowait(next++);
    for (let i = 0; i < 2500; i++) assert.is(q.getNowait(), expected++);
    assert.is(q.qsize(), next - expected);
  }
  while (!q.empty()) assert.is(q.getNowait(), expected++);
  assert.is(expected, next);
  q.putNowait(-1);
  assert.is(q.getNowait(), -1);
});

test('QueueFull and QueueEmpty are named, catchable errors', () => {
  const q = new Queue<number>(1);
  q.putNowait(1);
  const full = thrown(() => q.putNowait(2));
  assert.instance(full, QueueFull);
  assert.is(full.name, 'QueueFull');
  q.getNowait();
  const empty = thrown(() => q.getNowait());
  assert.instance(empty, QueueEmpty);
  assert.is(empty.name, 'QueueEmpty');
});

test('no fds leaked', () => checkFds());

test.run();
