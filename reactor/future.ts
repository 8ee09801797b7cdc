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
 * unhandled-rejection machinery: the Promise behind `then` is made lazily, only
 * when someone awaits, and always has a handler attached.
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

// The Promise behind `then` of every done Future whose result is undefined.
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
  // The native Promise behind `then`, made on the first `then` (never for a
  // Future nobody awaits), and its resolving functions while it is pending.
  private declare promise: Promise<T> | null;
  private declare resolvePromise: ((value: T) => void) | null;
  private declare rejectPromise: ((error: unknown) => void) | null;

  constructor() {
    this.state = PENDING;
    this.value = undefined;
    this.error = null;
    this.callbacks = null;
    this.promise = null;
    this.resolvePromise = null;
    this.rejectPromise = null;
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
    // Future's own result() returns the stored value: the settled Promise
    // carries it already, with no extra step per await.
    if (this.result === Future.prototype.result) return this.asPromise().then(onFulfilled, onRejected);
    const read = (): T => this.result();
    return this.asPromise().then(read, read).then(onFulfilled, onRejected);
  }

  /** `Promise.prototype.catch` over the Future's outcome. */
  catch(onRejected: (error: unknown) => unknown): Promise<unknown> {
    return this.then(undefined, onRejected);
  }

  /**
   * The native Promise behind `then`. It needs no handler of its own
   * against unhandled rejections: it is only ever made by `then`, which
   * attaches one at once (the caller's derived Promise then carries the
   * rejection, as a native Promise's would). Without that extra `catch`
   * an `await` costs one Promise and one microtask less.
   */
  private asPromise(): Promise<T> {
    if (this.promise) return this.promise;
    switch (this.state) {
      // A write's Future is done with undefined by the time it is awaited,
      // as often as not: they all share one fulfilled Promise.
      case RESULT: this.promise = this.value === undefined ? (FULFILLED_UNDEFINED as Promise<T>) : Promise.resolve(this.value as T); break;
      case FAILED: this.promise = Promise.reject(this.error); break;
      case CANCELLED: this.promise = Promise.reject(new CancelledError()); break;
      default:
        this.promise = new Promise<T>((resolve, reject) => {
          this.resolvePromise = resolve;
          this.rejectPromise = reject;
        });
    }
    return this.promise;
  }

  private assertPending(): void {
    if (this.state !== PENDING) {
      throw new InvalidStateError(this.state === CANCELLED ? 'Future was cancelled' : 'Future is already done');
    }
  }

  private finish(): void {
    const resolve = this.resolvePromise;
    if (resolve !== null) {
      const reject = this.rejectPromise!;
      this.resolvePromise = null;
      this.rejectPromise = null;
      if (this.state === RESULT) resolve(this.value as T);
      else reject(this.state === FAILED ? this.error : new CancelledError());
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
