/**
 * `Future`: Tornado's placeholder for an asynchronous result
 * (`tornado.concurrent.Future` and its helpers), which is also a native
 * Promise, so `await future` works anywhere.
 *
 * Semantics follow Tornado's Future with asyncio's cancellation (which the
 * `*UnlessCancelled` helpers exist for):
 * - done callbacks added to a done Future run at once, synchronously;
 * - a callback's exception is logged and does not stop the others;
 * - `cancel()` settles a pending Future as cancelled and returns true;
 * - setting a done Future's result throws `InvalidStateError`.
 *
 * A Future is a native Promise underneath, settled together with it, so
 * `await future` is V8's own await of a Promise (see the class's comment).
 * A Future that fails and is never awaited does not trigger Node's
 * unhandled-rejection machinery: a failing Future's Promise gets a no-op
 * handler of its own just before it is rejected.
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

const nativeThen = Promise.prototype.then;

// The resolving functions of the Future being constructed: one executor
// for every Future, so that none allocates a closure of its own to
// capture them. (Its two stores into this module's context, an old
// object, each call the write barrier; a closure per Future instead
// measured worse, its garbage bringing more scavenges: docs/ffi.md, "A
// third pass".)
let capturedResolve: ((value: any) => void) | null = null;
let capturedReject: ((error: unknown) => void) | null = null;
function captureResolvers(resolve: (value: any) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

function ignoreRejection(): void {}

// Set while `doneFuture()` makes a Future that is done at birth.
let bornDone = false;
function fulfilAtBirth(resolve: (value: undefined) => void): void {
  resolve(undefined);
}

/**
 * A placeholder for an asynchronous result (Tornado's `Future`).
 *
 * It is a native Promise, settled when the Future is (`setResult`,
 * `setException`, `cancel`), and its prototype's `constructor` is
 * `Promise` (set below the class): so `await future` is V8's await of a
 * native Promise (PromiseResolve hands the Future itself back; one
 * reaction, no job before it), where a thenable object costs a
 * PromiseResolveThenableJob, a Promise, two resolving functions and a
 * call to `then`, which makes a Promise and a derived one, per `await`
 * (docs/using.md, "A Future is a native Promise"). A subclass (class
 * syntax gives it a `constructor` of its own) is awaited as a thenable,
 * through `then`, so an overriding `result()` is honoured. Promises that
 * Promise methods derive from a Future (`then`, `catch`, `finally`) are
 * plain Promises (`Symbol.species`).
 *
 * The class body does not name its own class: esbuild's keepNames would
 * then emit it as `_Future` and rename it at load, and V8 would never keep
 * an optimised constructor for the renamed Promise subclass
 * (docs/benchmarks-history.md, "A Future that is a native Promise").
 */
export class Future<T> extends Promise<T> implements PromiseLike<T> {
  // Declared here, set in the constructor: class field initialisers run as
  // a separate initialiser function, which the optimising compiler looks up
  // on the class with a generic property load at every `new Future()` (two
  // per echo round trip).
  private declare state: State;
  private declare value: T | undefined;
  private declare error: unknown;
  private declare callbacks: Array<(future: Future<T>) => void> | null;
  // The native Promise's resolving functions, until the Future is done.
  private declare resolveNative: ((value: T) => void) | null;
  private declare rejectNative: ((error: unknown) => void) | null;

  /** Promise methods that make a new Promise (`then`, `finally`…) make a plain one, never a Future. */
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  constructor() {
    super(bornDone ? fulfilAtBirth : captureResolvers);
    this.state = bornDone ? RESULT : PENDING;
    this.value = undefined;
    this.error = null;
    this.callbacks = null;
    this.resolveNative = capturedResolve;
    this.rejectNative = capturedReject;
    capturedResolve = null;
    capturedReject = null;
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
   * Lets Promise chains consume the Future. What they get is what
   * `result()` returns or throws, as Tornado's `yield future` does: a
   * subclass that overrides `result()` (say, to hand out a context
   * manager) is honoured, under `await` too (a subclass is awaited
   * through `then`). The Promise returned is a plain one.
   */
  override then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: any) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    // Future's own result() gives what the native Promise carries.
    if (this.result === futureResult) return nativeThen.call(this, onFulfilled, onRejected) as Promise<R1 | R2>;
    const read = (): T => this.result();
    return (nativeThen.call(this, read, read) as Promise<T>).then(onFulfilled, onRejected);
  }

  private assertPending(): void {
    if (this.state !== PENDING) {
      throw new InvalidStateError(this.state === CANCELLED ? 'Future was cancelled' : 'Future is already done');
    }
  }

  private finish(): void {
    const resolve = this.resolveNative!;
    const reject = this.rejectNative!;
    this.resolveNative = null;
    this.rejectNative = null;
    if (this.state === RESULT) {
      resolve(this.value as T);
    } else {
      // A failed Future nobody awaits is no unhandled rejection (Tornado
      // logs nothing for it either): its Promise gets a handler before it
      // is rejected, so V8 never reports it to Node. Awaiting it still
      // throws. (Only on this path: a successful Future pays nothing.)
      nativeThen.call(this, undefined, ignoreRejection);
      reject(this.state === FAILED ? this.error : new CancelledError());
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
  override get [Symbol.toStringTag](): string {
    return 'Future';
  }
}

const futureResult = Future.prototype.result;

// `await future` takes V8's native path only when the object's
// `constructor` is `Promise` itself (PromiseResolve's check); a subclass's
// own class keeps its `constructor`, and is awaited through `then`.
Object.defineProperty(Future.prototype, 'constructor', { value: Promise, writable: true, configurable: true, enumerable: false });

function runDoneCallback<T>(fn: (future: Future<T>) => void, future: Future<T>): void {
  try {
    fn(future);
  } catch (error) {
    appLog.error(`Exception in callback ${describeCallback(fn)} for ${String(future)}`, error);
  }
}

/**
 * The Future already done with undefined, as `new Future<void>()` and
 * `setResult(undefined)` would give (a write whose bytes the kernel took at
 * once): one per thread, made fulfilled at first use (no resolving
 * functions kept) and never settled again. A done Future cannot change
 * (`setResult`/`setException` throw, `cancel()` is false, a done callback
 * runs at once), so sharing it shows only in its identity: every such write
 * returns this same object. Making one per write was a Promise, its two
 * resolving functions and their context each time (~750 instructions and
 * ~270 bytes per echo round trip: docs/ffi.md, "Epoll per round trip").
 */
export function doneFuture(): Future<void> {
  return theDoneFuture ?? makeDoneFuture();
}

let theDoneFuture: Future<void> | null = null;

function makeDoneFuture(): Future<void> {
  bornDone = true;
  try {
    theDoneFuture = new Future<void>();
  } finally {
    bornDone = false;
  }
  return theDoneFuture;
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
