/**
 * `Future`: Tornado's placeholder for an asynchronous result
 * (`tornado.concurrent.Future` and its helpers), which is also a
 * `PromiseLike`, so `await future` works anywhere.
 *
 * Semantics follow Tornado's Future with asyncio's cancellation (which the
 * `*UnlessCancelled` helpers exist for):
 * - done callbacks added to a done Future run at once, synchronously;
 * - a callback's exception is logged and does not stop the others;
 * - `cancel()` settles a pending Future as cancelled and returns true;
 * - setting a done Future's result throws `InvalidStateError`.
 *
 * A Future that fails and is never awaited does not trigger Node's
 * unhandled-rejection machinery: the Promise behind `then` only says "done"
 * (it never rejects), and is made lazily, only when someone awaits.
 */
import { appLog, describeCallback } from './log.js';

/** Raised by `result()` of a cancelled Future. */
export class CancelledError extends Error {
  constructor(message = 'Future was cancelled') { super(message); }
}
Object.defineProperty(CancelledError.prototype, 'name', { value: 'CancelledError', writable: true, configurable: true });

/** Raised when an operation does not finish in time (`gen.TimeoutError`, `runSync`). */
export class TimeoutError extends Error {}
Object.defineProperty(TimeoutError.prototype, 'name', { value: 'TimeoutError', writable: true, configurable: true });

/** Raised when a Future is asked for something its state does not allow. */
export class InvalidStateError extends Error {}
Object.defineProperty(InvalidStateError.prototype, 'name', { value: 'InvalidStateError', writable: true, configurable: true });

const PENDING = 0;
const RESULT = 1;
const FAILED = 2;
const CANCELLED = 3;
type State = typeof PENDING | typeof RESULT | typeof FAILED | typeof CANCELLED;

const futureBrand = Symbol.for('gale.Future');

// The Promise behind `then` of every done Future.
const FULFILLED_UNDEFINED: Promise<unknown> = Promise.resolve(undefined);

/** A placeholder for an asynchronous result (Tornado's `Future`). */
export class Future<T> implements PromiseLike<T> {
  // Declared here, set in the constructor: class field initialisers run as
  // a separate initialiser function, which the optimising compiler looks up
  // on the class with a generic property load at every `new Future()` (two
  // per echo round trip).
  private declare state: State;
  private declare value: T | undefined;
  private declare error: unknown;
  private declare callbacks: Array<(future: Future<T>) => void> | null;
  // The native Promise behind `then` of a pending Future, made on the first
  // `then` (never for a Future nobody awaits), and its resolve function
  // until the Future is done (see whenDone).
  private declare promise: Promise<void> | null;
  private declare resolvePromise: (() => void) | null;

  constructor() {
    this.state = PENDING;
    this.value = undefined;
    this.error = null;
    this.callbacks = null;
    this.promise = null;
    this.resolvePromise = null;
  }

  /** Whether the result (or exception) is available. */
  done(): boolean {
    return this.state !== PENDING;
  }

  /** Whether the operation is still in progress. */
  running(): boolean {
    return this.state === PENDING;
  }

  /** Whether the Future was cancelled. */
  cancelled(): boolean {
    return this.state === CANCELLED;
  }

  /** The result; throws the exception if it failed, or if it is not done yet. */
  result(): T {
    if (this.state === RESULT) return this.value as T;
    if (this.state === FAILED) throw this.error;
    if (this.state === CANCELLED) throw new CancelledError();
    throw new InvalidStateError('Result is not ready.');
  }

  /** The exception, or null if it succeeded; throws if not done yet. */
  exception(): unknown | null {
    if (this.state === FAILED) return this.error;
    if (this.state === RESULT) return null;
    if (this.state === CANCELLED) throw new CancelledError();
    throw new InvalidStateError('Exception is not set.');
  }

  /** Cancels a pending Future. Returns false if it was already done. */
  cancel(): boolean {
    if (this.state !== PENDING) return false;
    this.state = CANCELLED;
    this.finish();
    return true;
  }

  /** Sets the result and runs the done callbacks. */
  setResult(value: T): void {
    this.assertPending();
    this.value = value;
    this.state = RESULT;
    this.finish();
  }

  /** Sets the exception and runs the done callbacks. */
  setException(error: unknown): void {
    this.assertPending();
    this.error = error;
    this.state = FAILED;
    this.finish();
  }

  /** Runs `fn(this)` when done (at once if already done). */
  addDoneCallback(fn: (future: Future<T>) => void): void {
    if (this.state !== PENDING) {
      runDoneCallback(fn, this);
      return;
    }
    (this.callbacks ??= []).push(fn);
  }

  /**
   * Lets `await` and Promise chains consume the Future. What they get is
   * what `result()` returns or throws, as Tornado's `yield future` does: a
   * subclass that overrides `result()` (say, to hand out a context
   * manager) is honoured under `await`.
   */
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    // A flushed write's Future: the shared fulfilled Promise carries its
    // result already, with no reaction of ours per await.
    if (this.state === RESULT && this.value === undefined && this.result === Future.prototype.result) {
      return (FULFILLED_UNDEFINED as Promise<T>).then(onFulfilled, onRejected);
    }
    // Without onFulfilled the result passes through (R1 is then T).
    return this.whenDone().then(() => this.settleThen(onFulfilled, onRejected)) as Promise<R1 | R2>;
  }

  /** `Promise.prototype.catch` over the Future's outcome. */
  catch(onRejected: (error: unknown) => unknown): Promise<unknown> {
    return this.then(undefined, onRejected);
  }

  /**
   * A Promise fulfilled (with undefined) once the Future is done. It carries
   * no result: `settleThen` reads that from the Future. Resolving a native
   * Promise with an object looks up the object's `then`, and for a Buffer
   * (a read's result) that lookup walks four prototypes, two of them in
   * dictionary mode (~700 instructions); the `await` that consumes the
   * Future pays for one such lookup anyway, so this Promise does not pay
   * for another. Nor does it ever reject, so it needs no handler against
   * unhandled rejections: the caller's derived Promise carries a failure,
   * as a native Promise's would.
   */
  private whenDone(): Promise<void> {
    if (this.state !== PENDING) return FULFILLED_UNDEFINED as Promise<void>;
    if (this.promise === null) {
      this.promise = new Promise<void>((resolve) => {
        this.resolvePromise = resolve;
      });
    }
    return this.promise;
  }

  /**
   * One `then`'s reaction once the Future is done: its callback for what
   * `result()` returns or throws, as a native Promise would run it. Future's
   * own outcome is read from its state, without a throw (a JS throw and
   * catch costs a stack walk: ~1,000 instructions at every failed await,
   * such as a server's last read when its client goes away).
   */
  private settleThen<R1, R2>(
    onFulfilled: ((value: T) => R1 | PromiseLike<R1>) | null | undefined,
    onRejected: ((reason: unknown) => R2 | PromiseLike<R2>) | null | undefined,
  ): T | R1 | R2 | PromiseLike<R1 | R2> {
    let failed: boolean;
    let outcome: unknown;
    if (this.result === Future.prototype.result) {
      failed = this.state !== RESULT;
      outcome = !failed ? this.value : this.state === FAILED ? this.error : new CancelledError();
    } else {
      try {
        outcome = this.result();
        failed = false;
      } catch (error) {
        outcome = error;
        failed = true;
      }
    }
    if (!failed) {
      // A thenable result is adopted first, as a native Promise resolved with it would be.
      if (isAdoptable(outcome)) return (Promise.resolve(outcome) as Promise<T>).then(onFulfilled, onRejected);
      return typeof onFulfilled === 'function' ? onFulfilled(outcome as T) : (outcome as T);
    }
    if (typeof onRejected !== 'function') throw outcome;
    return onRejected(outcome);
  }

  private assertPending(): void {
    if (this.state !== PENDING) {
      throw new InvalidStateError(this.state === CANCELLED ? 'Future was cancelled' : 'Future is already done');
    }
  }

  private finish(): void {
    const resolve = this.resolvePromise;
    if (resolve !== null) {
      this.resolvePromise = null;
      resolve();
    }
    const callbacks = this.callbacks;
    if (!callbacks) return;
    this.callbacks = null;
    for (const fn of callbacks) runDoneCallback(fn, this);
  }

  /** @internal brand for `isFuture` across module copies. */
  get [futureBrand](): true {
    return true;
  }

  /** @internal */
  get [Symbol.toStringTag](): string {
    return 'Future';
  }
}

/**
 * Whether a Future's result is a thenable that `then` adopts before its
 * callback sees it (a Promise, a Future), as resolving a native Promise
 * with it would. A typed array (every read's Buffer) is taken as not
 * thenable without looking its `then` up: that lookup is what whenDone
 * exists to avoid (a typed array with a `then` of its own is not adopted).
 */
function isAdoptable(value: unknown): boolean {
  if (typeof value === 'object') {
    if (value === null || value instanceof Uint8Array) return false;
  } else if (typeof value !== 'function') {
    return false;
  }
  return typeof (value as { then?: unknown }).then === 'function';
}

function runDoneCallback<T>(fn: (future: Future<T>) => void, future: Future<T>): void {
  try {
    fn(future);
  } catch (error) {
    appLog.error(`Exception in callback ${describeCallback(fn)} for ${String(future)}`, error);
  }
}

/** Whether `x` is a gale `Future`. */
export function isFuture(x: unknown): x is Future<unknown> {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[futureBrand] === true;
}

/** Whether `x` can be awaited (has a `then` method). */
export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (typeof x === 'object' || typeof x === 'function') && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

/** Sets `future`'s result unless it was cancelled (or is otherwise done). */
export function futureSetResultUnlessCancelled<T>(future: Future<T>, value: T): void {
  if (!future.done()) future.setResult(value);
}

/** Sets `future`'s exception unless it was cancelled (or is otherwise done). */
export function futureSetExceptionUnlessCancelled(future: Future<any>, error: unknown): void {
  if (!future.done()) future.setException(error);
}

/**
 * Chains two futures: when `a` completes, `b` gets its result or exception.
 * `a` may be any PromiseLike; `b` is left alone if it is already done
 * (cancelled, or timed out by `withTimeout`).
 */
export function chainFuture<T>(a: PromiseLike<T>, b: Future<T>): void {
  if (isFuture(a)) {
    (a as Future<T>).addDoneCallback((done) => {
      if (b.done()) return;
      if (done.cancelled()) b.cancel();
      else if (done.exception() !== null) b.setException(done.exception());
      else b.setResult(done.result());
    });
    return;
  }
  a.then(
    (value) => futureSetResultUnlessCancelled(b, value),
    (error) => futureSetExceptionUnlessCancelled(b, error),
  );
}

/**
 * Wraps any PromiseLike (or a plain value) as a Future; a Future is
 * returned as it is (Tornado's `gen.convert_yielded`).
 */
export function toFuture<T>(value: T | PromiseLike<T>): Future<T> {
  if (isFuture(value)) return value as Future<T>;
  const future = new Future<T>();
  if (isThenable(value)) chainFuture(value as PromiseLike<T>, future);
  else future.setResult(value as T);
  return future;
}
