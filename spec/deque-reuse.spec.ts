/**
 * The FIFO the ring's hot lists and the locks and queues share (reactor/deque.ts): order kept
 * across fills and drains, entries replaced in place, compaction of a
 * queue that never drains, and nothing kept alive once an entry is gone.
 * Pure JS: no ring, no fd.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Deque } from '../reactor/deque.js';
import { fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();

/** What the queue's array holds, front first, `undefined` included (white-box: its capacity and what it keeps). */
function slots<T>(queue: Deque<T>): Array<T | undefined> {
  return [...(queue as unknown as { items: Array<T | undefined> }).items];
}

test('FIFO order across fills and drains; at() and set() index from the front', () => {
  const queue = new Deque<number>();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 5; i++) queue.push(round * 10 + i);
    assert.is(queue.length, 5);
    assert.is(queue.shift(), round * 10);
    assert.is(queue.at(0), round * 10 + 1);
    queue.set(0, -1);
    assert.equal([queue.shift(), queue.shift(), queue.shift(), queue.shift()], [-1, round * 10 + 2, round * 10 + 3, round * 10 + 4]);
    assert.is(queue.length, 0);
  }
});

test('emptying keeps the array\'s capacity and drops every reference', () => {
  const queue = new Deque<object>();
  for (let i = 0; i < 4; i++) queue.push({ i });
  queue.shift();
  queue.clear();
  assert.is(queue.length, 0);
  assert.equal(slots(queue), [undefined, undefined, undefined, undefined]);
  queue.push({ i: 9 });
  assert.is(slots(queue).length, 4, 'the push reused a slot: no regrowth');
  assert.equal(queue.shift(), { i: 9 });
  assert.equal(slots(queue), [undefined, undefined, undefined, undefined]);
});

test('a queue that never drains is compacted: its array stays bounded, its order intact', () => {
  const queue = new Deque<number>();
  let next = 0;
  let expected = 0;
  for (let i = 0; i < 10; i++) queue.push(next++);
  for (let step = 0; step < 10_000; step++) {
    queue.push(next++);
    assert.is(queue.shift(), expected++);
  }
  assert.is(queue.length, 10);
  assert.ok(slots(queue).length <= 2 * (64 + 10) + 2, `array of ${slots(queue).length}`);
  for (let i = 0; i < 10; i++) assert.is(queue.at(i), expected + i);
});

test('no fd left open', () => {
  checkFds();
});

test.run();
