/**
 * reactor/timers.ts: the timeout heap on its own — ordering, lazy removal,
 * compaction after many cancellations — and through a loop
 * (Tornado's test_remove_timeout_cleanup).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TimerHeap, TimeoutHandle } from '../reactor/timers.js';
import { IOLoop } from '../reactor/ioloop.js';
import { fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();
const noop = (): void => {};

function drain(heap: TimerHeap, now: number): TimeoutHandle[] {
  const out: TimeoutHandle[] = [];
  heap.popDue(now, out);
  return out;
}

test('pops due timeouts in deadline order, ties in insertion order', () => {
  const heap = new TimerHeap();
  const deadlines = [5, 1, 4, 1, 3, 2, 5, 0.5, 2];
  const handles = deadlines.map((d, i) => heap.add(d, noop, [i]));
  assert.is(heap.size, deadlines.length);
  assert.is(heap.nextDeadline(), 0.5);
  const order = drain(heap, 10).map((h) => h.args[0]);
  assert.equal(order, [7, 1, 3, 5, 8, 4, 2, 0, 6]);
  assert.is(heap.size, 0);
  assert.is(heap.nextDeadline(), null);
  for (const h of handles) assert.is(h.inHeap, false);
});

test('popDue stops at the first deadline in the future', () => {
  const heap = new TimerHeap();
  heap.add(1, noop, ['a']);
  heap.add(2, noop, ['b']);
  heap.add(3, noop, ['c']);
  assert.equal(drain(heap, 2).map((h) => h.args[0]), ['a', 'b']);
  assert.is(heap.nextDeadline(), 3);
  assert.equal(drain(heap, 2.5), []);
  assert.equal(drain(heap, 3).map((h) => h.args[0]), ['c']);
});

test('a handle keeps its deadline, callback and arguments', () => {
  const heap = new TimerHeap();
  const cb = (a: number, b: string) => `${a}${b}`;
  const handle = heap.add(42.5, cb, [1, 'x']);
  assert.instance(handle, TimeoutHandle);
  assert.is(handle.deadline, 42.5);
  assert.is(handle.callback, cb);
  assert.equal(handle.args, [1, 'x']);
});

test('non-finite deadlines are refused', () => {
  const heap = new TimerHeap();
  assert.throws(() => heap.add(NaN, noop, []), TypeError);
  assert.throws(() => heap.add(Infinity, noop, []), TypeError);
  assert.throws(() => heap.add(-Infinity, noop, []), TypeError);
  assert.is(heap.size, 0);
});

test('removed timeouts are skipped and dropped lazily', () => {
  const heap = new TimerHeap();
  const a = heap.add(1, noop, ['a']);
  const b = heap.add(2, noop, ['b']);
  heap.add(3, noop, ['c']);
  heap.remove(a);
  heap.remove(b);
  assert.is(a.callback, null);
  assert.is(heap.size, 3, 'removal is lazy');
  assert.is(heap.nextDeadline(), 3, 'nextDeadline drops cancelled entries at the top');
  assert.is(heap.size, 1);
  assert.equal(drain(heap, 10).map((h) => h.args[0]), ['c']);
});

test('removing twice, or after the timeout ran, is harmless', () => {
  const heap = new TimerHeap();
  const a = heap.add(1, noop, []);
  const [popped] = drain(heap, 1);
  assert.is(popped, a);
  heap.remove(a); // popped but not yet run (a callback removing a due timeout)
  assert.is(a.callback, null);
  heap.remove(a);
  const b = heap.add(5, noop, []);
  heap.remove(b);
  heap.remove(b);
  assert.is(heap.nextDeadline(), null);
  assert.is(heap.size, 0);
  // The cancellation count stayed consistent: nothing compacts wrongly later.
  for (let i = 0; i < 10; i++) heap.add(10 + i, noop, [i]);
  assert.equal(drain(heap, 100).map((h) => h.args[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('the heap is compacted when cancellations outnumber live timeouts', () => {
  const heap = new TimerHeap();
  const live = [];
  for (let i = 0; i < 100; i++) live.push(heap.add(1000 + i, noop, [i]));
  const cancelled = [];
  for (let i = 0; i < 2000; i++) cancelled.push(heap.add(500 + i, noop, []));
  for (const h of cancelled) heap.remove(h);
  assert.is(heap.size, 2100);
  drain(heap, 0); // nothing due: compaction happens on the way
  assert.is(heap.size, 100, 'cancelled entries were dropped');
  for (const h of cancelled) assert.is(h.inHeap, false);
  // The rebuilt heap is still a heap.
  assert.equal(drain(heap, 5000).map((h) => h.args[0]), live.map((_, i) => i));
});

test('no compaction below the threshold (lazy deletion suffices)', () => {
  const heap = new TimerHeap();
  heap.add(1000, noop, []);
  for (let i = 0; i < 100; i++) heap.remove(heap.add(2000 + i, noop, []));
  drain(heap, 0);
  assert.is(heap.size, 101);
});

test('clear drops everything and detaches the handles', () => {
  const heap = new TimerHeap();
  const handles = [heap.add(1, noop, []), heap.add(2, noop, [])];
  heap.remove(handles[0]!);
  heap.clear();
  assert.is(heap.size, 0);
  assert.is(heap.nextDeadline(), null);
  for (const h of handles) assert.is(h.inHeap, false);
  heap.remove(handles[1]!); // not counted as an in-heap cancellation
  for (let i = 0; i < 3; i++) heap.add(i, noop, [i]);
  assert.equal(drain(heap, 10).map((h) => h.args[0]), [0, 1, 2]);
});

test('a randomised schedule pops in sorted order', () => {
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const heap = new TimerHeap();
  const expected: Array<[number, number]> = [];
  for (let i = 0; i < 3000; i++) {
    const deadline = Math.floor(random() * 500);
    const h = heap.add(deadline, noop, [i]);
    if (random() < 0.4) heap.remove(h);
    else expected.push([deadline, i]);
  }
  expected.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const got: number[] = [];
  for (let now = 0; now < 500 + 37; now += 37) got.push(...drain(heap, now).map((h) => h.args[0] as number));
  const want = expected.map(([, i]) => i);
  assert.is(got.length, want.length);
  const firstMismatch = got.findIndex((v, k) => v !== want[k]);
  assert.is(firstMismatch, -1, `order differs at ${firstMismatch}`);
});

test('loop: 2000 added and removed timeouts are cleaned up (Tornado test_remove_timeout_cleanup)', async () => {
  const loop = new IOLoop({ makeCurrent: false });
  try {
    await loop.runSync(async () => {
      for (let i = 0; i < 2000; i++) loop.removeTimeout(loop.addTimeout(loop.time() + 3600, noop));
      const timers = (loop as unknown as { timers: TimerHeap }).timers;
      assert.ok(timers.size >= 2000); // plus runSync's own timeout
      await new Promise<void>((resolve) => loop.addCallback(() => loop.addCallback(resolve)));
      assert.ok(timers.size < 2000, `heap still holds ${timers.size} entries`);
    }, 5);
  } finally {
    loop.close();
  }
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
