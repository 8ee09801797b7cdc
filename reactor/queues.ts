/**
 * Tornado 4.4's `tornado.queues`: `Queue` (first in, first out),
 * `PriorityQueue` (lowest first, in Python's order) and `LifoQueue` (last
 * in, first out), to coordinate producer and consumer coroutines on one
 * loop, with `QueueEmpty` and `QueueFull`.
 *
 * Futures settle when Tornado's do: `put()` on a queue with room returns a
 * Future that is already done; a `put` or `get` that meets a waiting
 * partner settles the partner's Future synchronously; `join()` is done
 * inside the `taskDone()` that finishes the last task. Waiters that timed
 * out stay in line until the next `put`/`get` sweeps them from its front,
 * as in Tornado.
 */
import { inspect } from 'node:util';
import { Future, TimeoutError } from './future.js';
import { Deque } from './deque.js';
import { Event } from './locks.js';
import { heapPop, heapPush } from './python-order.js';
import { checkNumber, describeValue } from './sys/validate.js';
import { armWaiterTimeout, waiterDeadline, type Deadline } from './waiter-timeout.js';

/** Thrown by `Queue.getNowait()` when the queue has no items. */
export class QueueEmpty extends Error {}
Object.defineProperty(QueueEmpty.prototype, 'name', { value: 'QueueEmpty', writable: true, configurable: true });

/** Thrown by `Queue.putNowait()` when the queue is at its maximum size. */
export class QueueFull extends Error {}
Object.defineProperty(QueueFull.prototype, 'name', { value: 'QueueFull', writable: true, configurable: true });

// What put() returns when the item went in at once (Tornado's gen._null_future):
// a done Future cannot change, so one serves every such put.
const nullFuture = new Future<void>();
nullFuture.setResult(undefined);

/** What a Queue's subclass keeps its items in (`_init` makes it). */
export interface QueueStorage<T> extends Iterable<T> {
  readonly length: number;
}

function timeOut(future: Future<any>, timeout: ReturnType<typeof waiterDeadline>): void {
  if (timeout) armWaiterTimeout(future, timeout, () => future.setException(new TimeoutError('Timeout')));
}

/**
 * Coordinates producer and consumer coroutines (Tornado's `Queue`). With
 * `maxsize` 0 (the default) it is unbounded; otherwise `put()` waits while
 * it holds `maxsize` items. `for await (const item of queue)` gets items
 * forever (Tornado's `async for`); pair each with `taskDone()`.
 */
export class Queue<T = unknown> {
  /** @internal Where the items are (Tornado's `_queue`; subclasses make it in `_init`). */
  declare protected _queue: QueueStorage<T>;
  /** @internal Futures of pending `get()`s, oldest first (Tornado's `_getters`). */
  readonly _getters = new Deque<Future<T>>();
  /** @internal Pending `put()`s as [item, Future] (Tornado's `_putters`). */
  readonly _putters = new Deque<[T, Future<void>]>();
  private readonly _maxsize: number;
  private unfinishedTasks = 0;
  private readonly finished = new Event();

  /**
   * `maxsize` may be any number ≥ 0 (a queue is full when `qsize() >=
   * maxsize`, so 1.3 holds two items, as in Tornado); `TypeError` for null
   * or a non-number, `RangeError` for a negative one or NaN.
   */
  constructor(maxsize = 0) {
    if (maxsize === null) throw new TypeError("maxsize can't be null");
    if (typeof maxsize !== 'number') throw new TypeError(`maxsize must be a number, got ${describeValue(maxsize)}`);
    checkNumber('maxsize', maxsize);
    if (maxsize < 0) throw new RangeError("maxsize can't be negative");
    this._maxsize = maxsize;
    this._init();
    this.finished.set();
  }

  /** Number of items allowed in the queue (0: unbounded). */
  get maxsize(): number {
    return this._maxsize;
  }

  /** Number of items in the queue. */
  qsize(): number {
    return this._queue.length;
  }

  /** Whether it holds no items. */
  empty(): boolean {
    return this._queue.length === 0;
  }

  /** Whether it holds `maxsize` items (never, when unbounded). */
  full(): boolean {
    if (this._maxsize === 0) return false;
    return this.qsize() >= this._maxsize;
  }

  /**
   * Puts `item` in, waiting while the queue is full. The Future is already
   * done when there was room; otherwise it resolves once the item is in, or
   * rejects with `TimeoutError` at `timeout` (and the item is not put).
   */
  put(item: T, timeout?: Deadline | null): Future<void> {
    const at = waiterDeadline(timeout);
    try {
      this.putNowait(item);
    } catch (error) {
      if (!(error instanceof QueueFull)) throw error;
      const future = new Future<void>();
      this._putters.push([item, future]);
      timeOut(future, at);
      return future;
    }
    return nullFuture;
  }

  /** Puts `item` in without waiting; `QueueFull` when there is no room. */
  putNowait(item: T): void {
    this.consumeExpired();
    if (this._getters.length) {
      // Waiting getters mean the queue is empty: the item goes straight through.
      this.putInternal(item);
      this._getters.shift()!.setResult(this._get());
    } else if (this.full()) {
      throw new QueueFull(`queue is full (maxsize=${this._maxsize})`);
    } else {
      this.putInternal(item);
    }
  }

  /**
   * Removes and returns an item: the Future is already done when one is
   * there; otherwise it resolves with the next one put, or rejects with
   * `TimeoutError` at `timeout`.
   */
  get(timeout?: Deadline | null): Future<T> {
    const at = waiterDeadline(timeout);
    const future = new Future<T>();
    try {
      future.setResult(this.getNowait());
    } catch (error) {
      if (!(error instanceof QueueEmpty)) throw error;
      this._getters.push(future);
      timeOut(future, at);
    }
    return future;
  }

  /** Removes and returns an item without waiting; `QueueEmpty` when there is none. */
  getNowait(): T {
    this.consumeExpired();
    if (this._putters.length) {
      // Waiting putters mean the queue is full: the first one's item goes in
      // before one comes out (so a LifoQueue hands back that very item).
      const [item, putter] = this._putters.shift()!;
      try {
        this.putInternal(item);
      } catch (error) {
        putter.setException(error); // an item a PriorityQueue cannot order
        return this.getNowait();
      }
      putter.setResult(undefined);
      return this._get();
    }
    if (this.qsize()) return this._get();
    throw new QueueEmpty('queue is empty');
  }

  /**
   * Marks one task fetched by `get()` as processed. When every `put()` is
   * matched by a `taskDone()`, `join()` resolves. `RangeError` if called
   * more times than items were put.
   */
  taskDone(): void {
    if (this.unfinishedTasks <= 0) throw new RangeError('taskDone() called too many times');
    this.unfinishedTasks -= 1;
    if (this.unfinishedTasks === 0) this.finished.set();
  }

  /**
   * Resolves once every item put has been processed (`taskDone()`), or
   * rejects with `TimeoutError` at `timeout` (`Event.wait`'s reading: only
   * absent or null means none).
   */
  join(timeout?: Deadline | null): Future<void> {
    return this.finished.wait(timeout);
  }

  /** `for await (const item of queue)`: each step is a `get()` (Tornado's `async for`); it never ends by itself. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.get().then((value) => ({ value, done: false })),
    };
  }

  // These three are overridable in subclasses (Tornado's hooks). The
  // constructor calls _init before a subclass's own fields exist, so a
  // subclass keeps its state in what _init makes.
  /** Makes the storage (`this._queue`). */
  protected _init(): void {
    this._queue = new Deque<T>();
  }

  /** Removes and returns the next item. */
  protected _get(): T {
    return (this._queue as Deque<T>).shift() as T;
  }

  /** Stores `item`. */
  protected _put(item: T): void {
    (this._queue as Deque<T>).push(item);
  }
  // End of the overridable methods.

  private putInternal(item: T): void {
    // Store first: if _put throws (an item a PriorityQueue cannot order),
    // nothing else has changed.
    this._put(item);
    this.unfinishedTasks += 1;
    this.finished.clear();
  }

  private consumeExpired(): void {
    // Remove timed-out waiters from the front.
    while (this._putters.length && this._putters.peek()![1].done()) this._putters.shift();
    while (this._getters.length && this._getters.peek()!.done()) this._getters.shift();
  }

  /** `<Queue maxsize=1 queue=deque([…]) getters[1] putters[2] tasks=3>` (Tornado's `str`). */
  toString(): string {
    return `<${this.constructor.name} ${this.format()}>`;
  }

  private format(): string {
    let result = `maxsize=${this._maxsize}`;
    if (this._queue.length) result += ` queue=${this.formatItems()}`;
    if (this._getters.length) result += ` getters[${this._getters.length}]`;
    if (this._putters.length) result += ` putters[${this._putters.length}]`;
    if (this.unfinishedTasks) result += ` tasks=${this.unfinishedTasks}`;
    return result;
  }

  private formatItems(): string {
    const items = [...this._queue].map((item) => inspect(item, { breakLength: Infinity, depth: 2 })).join(', ');
    return this._queue instanceof Deque ? `deque([${items}])` : `[${items}]`;
  }
}

/**
 * A `Queue` that gives the lowest item first (Tornado's `PriorityQueue`,
 * over Python's `heapq`). Items are typically `[priority, data]` arrays;
 * they are ordered as Python orders them (numbers, strings, and arrays
 * element-wise like tuples); putting an item that cannot be compared with
 * the others is a `TypeError` and leaves the queue unchanged.
 */
export class PriorityQueue<T = unknown> extends Queue<T> {
  declare protected _queue: T[];

  protected override _init(): void {
    this._queue = [];
  }

  protected override _put(item: T): void {
    heapPush(this._queue, item);
  }

  protected override _get(): T {
    return heapPop(this._queue);
  }
}

/** A `Queue` that gives the most recently put item first (Tornado's `LifoQueue`). */
export class LifoQueue<T = unknown> extends Queue<T> {
  declare protected _queue: T[];

  protected override _init(): void {
    this._queue = [];
  }

  protected override _put(item: T): void {
    this._queue.push(item);
  }

  protected override _get(): T {
    return this._queue.pop() as T;
  }
}
