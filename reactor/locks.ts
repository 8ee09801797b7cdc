/**
 * Tornado 4.4's `tornado.locks`: `Condition`, `Event`, `Semaphore`,
 * `BoundedSemaphore` and `Lock`, coordination primitives for coroutines on
 * one loop (not thread-safe, as Tornado's are not).
 *
 * Futures settle when Tornado's do: `notify()`, `set()` and `release()` set
 * the waiters' results synchronously, in the order they waited. A timeout
 * follows Tornado's `if timeout:` (see waiter-timeout.ts). Waiters that
 * timed out are dropped lazily, as Tornado drops them: `Condition` and
 * `Semaphore` sweep their queue after every 100 timeouts, `Event` forgets a
 * waiter as soon as it is done.
 *
 * `with (yield lock.acquire()):` ports to `using _ = await lock.acquire()`:
 * `acquire()` resolves to a `Releaser`, which is disposable. `Semaphore` and
 * `Lock` themselves are not, so `using _ = sem` (Tornado's `with sem:`,
 * which raises) throws `TypeError` before the block runs.
 */
import { Future, TimeoutError } from './future.js';
import { Deque } from './deque.js';
import { describeValue } from './sys/validate.js';
import { armWaiterTimeout, timeoutDeadline, waiterDeadline, type Deadline } from './waiter-timeout.js';

export type { Deadline };

/**
 * What `Semaphore.acquire()` and `Lock.acquire()` resolve to: releases what
 * was acquired once, by `release()` or at the end of a `using` block
 * (Tornado's `_ReleasingContextManager`). Later calls do nothing, so an
 * early `release()` inside a `using` block is safe.
 */
export interface Releaser {
  /** Releases the semaphore or lock (the first call only). */
  release(): void;
  /** `release()`, for `using _ = await sem.acquire()`. */
  [Symbol.dispose](): void;
}

class ReleasingContextManager implements Releaser {
  private released = false;

  constructor(private readonly obj: { release(): void }) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.obj.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * Base of the primitives that keep a queue of waiters which may time out:
 * every 101st timeout sweeps the finished ones out, so a loop of
 * `await condition.wait(shortTimeout)` cannot grow the queue without bound.
 */
abstract class TimeoutGarbageCollector {
  /** @internal The waiting Futures, oldest first (Tornado's `_waiters`; tests count it). */
  _waiters = new Deque<Future<any>>();
  private timeouts = 0;

  protected garbageCollect(): void {
    // Occasionally clear timed-out waiters.
    if (++this.timeouts > 100) {
      this.timeouts = 0;
      this._waiters.retain((w) => !w.done());
    }
  }
}

/**
 * Lets coroutines wait until another one notifies them (Tornado's
 * `Condition`; like `threading.Condition` without the lock).
 */
export class Condition extends TimeoutGarbageCollector {
  /** `<Condition>`, or `<Condition waiters[N]>` while some wait. */
  override toString(): string {
    let result = `<${this.constructor.name}`;
    if (this._waiters.length) result += ` waiters[${this._waiters.length}]`;
    return `${result}>`;
  }

  /**
   * Waits for `notify`. Resolves `true` when notified, or `false` once
   * `timeout` (a deadline on the loop's clock, or `{ seconds }`) passes.
   */
  wait(timeout?: Deadline | null): Future<boolean> {
    const at = waiterDeadline(timeout);
    const waiter = new Future<boolean>();
    this._waiters.push(waiter);
    if (at) {
      armWaiterTimeout(waiter, at, () => {
        waiter.setResult(false);
        this.garbageCollect();
      });
    }
    return waiter;
  }

  /** Wakes `n` waiters (those that timed out or were cancelled do not count). */
  notify(n = 1): void {
    const waiters: Array<Future<boolean>> = []; // Waiters we plan to run right now.
    while (n > 0 && this._waiters.length) {
      const waiter = this._waiters.shift()!;
      if (!waiter.done()) { // Might have timed out.
        n -= 1;
        waiters.push(waiter);
      }
    }
    for (const waiter of waiters) waiter.setResult(true);
  }

  /** Wakes every waiter. */
  notifyAll(): void {
    this.notify(this._waiters.length);
  }
}

/**
 * A flag coroutines can wait for (Tornado's `Event`, like
 * `threading.Event`): `wait()` blocks until `set()`, and does not block
 * again until `clear()`.
 */
export class Event {
  private value = false;
  // Pending waiters only: each leaves the set when it is done (set, timed
  // out or cancelled), so timed-out waits never pile up (Tornado 5's Event).
  private readonly waiters = new Set<Future<void>>();

  /** `<Event set>` or `<Event clear>`. */
  toString(): string {
    return `<${this.constructor.name} ${this.isSet() ? 'set' : 'clear'}>`;
  }

  /** Whether the flag is set. */
  isSet(): boolean {
    return this.value;
  }

  /** Sets the flag and wakes every waiter; later `wait()`s do not block. */
  set(): void {
    if (this.value) return;
    this.value = true;
    for (const waiter of [...this.waiters]) {
      if (!waiter.done()) waiter.setResult(undefined);
    }
  }

  /** Clears the flag: `wait()` blocks again until `set()`. */
  clear(): void {
    this.value = false;
  }

  /**
   * A Future that resolves once the flag is set (at once if it is), or
   * rejects with `TimeoutError` once `timeout` passes. As with
   * `withTimeout`, only an absent or null `timeout` means none.
   */
  wait(timeout?: Deadline | null): Future<void> {
    const at = timeoutDeadline(timeout); // Tornado: `if timeout is None`, then with_timeout
    const waiter = new Future<void>();
    if (this.value) {
      waiter.setResult(undefined);
      return waiter;
    }
    this.waiters.add(waiter);
    waiter.addDoneCallback(() => this.waiters.delete(waiter));
    if (at) armWaiterTimeout(waiter, at, () => waiter.setException(new TimeoutError('Timeout')));
    return waiter;
  }

  /** @internal How many waiters are pending (for tests: timed-out ones must not stay). */
  get _waiterCount(): number {
    return this.waiters.size;
  }
}

/**
 * A lock that can be acquired `value` times before it blocks (Tornado's
 * `Semaphore`): a counter of `release()` calls minus `acquire()` calls,
 * plus the initial value; `acquire()` waits while it is 0.
 */
export class Semaphore extends TimeoutGarbageCollector {
  /** @internal The counter (Tornado's `_value`). */
  protected _value: number;

  /** `value` must be a number ≥ 0 (`RangeError` if negative, as Tornado's `ValueError`). */
  constructor(value = 1) {
    super();
    if (typeof value !== 'number' || Number.isNaN(value)) {
      throw new TypeError(`semaphore initial value must be a number, got ${describeValue(value)}`);
    }
    if (value < 0) throw new RangeError('semaphore initial value must be >= 0');
    this._value = value;
  }

  /** `<Semaphore [unlocked,value:1]>`, `<Semaphore [locked,waiters:2]>`. */
  override toString(): string {
    let extra = this._value === 0 ? 'locked' : `unlocked,value:${this._value}`;
    if (this._waiters.length) extra = `${extra},waiters:${this._waiters.length}`;
    return `<${this.constructor.name} [${extra}]>`;
  }

  /** Increments the counter and wakes the first waiter still waiting. */
  release(): void {
    this._value += 1;
    while (this._waiters.length) {
      const waiter = this._waiters.shift()!;
      if (!waiter.done()) {
        this._value -= 1;
        // The waiter's `using` block (Tornado's `with`) releases at its end.
        waiter.setResult(new ReleasingContextManager(this));
        break;
      }
    }
  }

  /**
   * Decrements the counter: the Future resolves at once when it is above
   * 0, otherwise after a `release()`, or rejects with `TimeoutError` once
   * `timeout` passes. It resolves to a `Releaser`.
   */
  acquire(timeout?: Deadline | null): Future<Releaser> {
    const at = waiterDeadline(timeout);
    const waiter = new Future<Releaser>();
    if (this._value > 0) {
      this._value -= 1;
      waiter.setResult(new ReleasingContextManager(this));
    } else {
      this._waiters.push(waiter);
      if (at) {
        armWaiterTimeout(waiter, at, () => {
          waiter.setException(new TimeoutError('Timeout'));
          this.garbageCollect();
        });
      }
    }
    return waiter;
  }
}

/**
 * A `Semaphore` that refuses to be released above its initial value
 * (`RangeError`, Tornado's `ValueError`): a sign of a bug.
 */
export class BoundedSemaphore extends Semaphore {
  private readonly initialValue: number;

  constructor(value = 1) {
    super(value);
    this.initialValue = value;
  }

  /** Increments the counter and wakes one waiter; `RangeError` past the initial value. */
  override release(): void {
    if (this._value >= this.initialValue) throw new RangeError('Semaphore released too many times');
    super.release();
  }
}

/**
 * A lock for coroutines (Tornado's `Lock`): `acquire()` locks it, or waits
 * (first come, first served) until the holder calls `release()`.
 * Releasing an unlocked lock throws (Tornado's `RuntimeError`).
 */
export class Lock {
  private readonly block = new BoundedSemaphore(1);

  /** `<Lock _block=<BoundedSemaphore [unlocked,value:1]>>`. */
  toString(): string {
    return `<${this.constructor.name} _block=${String(this.block)}>`;
  }

  /** Locks it: resolves to a `Releaser` once it is ours, or rejects with `TimeoutError` at `timeout`. */
  acquire(timeout?: Deadline | null): Future<Releaser> {
    return this.block.acquire(timeout);
  }

  /** Unlocks it; the first waiter in line gets it. Throws if it is not locked. */
  release(): void {
    try {
      this.block.release();
    } catch (error) {
      if (error instanceof RangeError) throw new Error('release unlocked lock', { cause: error });
      throw error;
    }
  }
}
