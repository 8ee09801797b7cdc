/**
 * Tornado's `gen` helpers that still matter with `async`/`await`: `sleep`,
 * `withTimeout`, `moment` and `multi`, and for code that treats what a
 * coroutine returns as a Future, `coroutine` and `maybeFuture` (from
 * `tornado.gen`; coroutines themselves are plain `async` functions).
 */
import { appLog } from './log.js';
import { Future, TimeoutError, chainFuture, isFuture, toFuture } from './future.js';
import { IOLoop } from './ioloop.js';
import { checkFunction, checkSeconds } from './sys/validate.js';

export { TimeoutError };

/**
 * Tornado's `@gen.coroutine` for an `async` function (or any function):
 * the wrapper returns a gale `Future` instead of a Promise, so callers can
 * use `done()`, `result()` and `addDoneCallback()` on it as Tornado code
 * does. A synchronous throw becomes the Future's exception, as in Tornado.
 * `this` is passed through, so it wraps methods too.
 */
export function coroutine<A extends any[], T>(fn: (...args: A) => T | PromiseLike<T>): (...args: A) => Future<T> {
  checkFunction('fn', fn);
  const wrapper = function (this: unknown, ...args: A): Future<T> {
    let result: T | PromiseLike<T>;
    try {
      result = fn.apply(this, args);
    } catch (error) {
      const future = new Future<T>();
      future.setException(error);
      return future;
    }
    return toFuture(result);
  };
  Object.defineProperty(wrapper, 'name', { value: fn.name, configurable: true });
  return wrapper;
}

/**
 * Tornado's `gen.maybe_future(x)`: `x` if it is a Future, otherwise a
 * Future of it — a Promise or other thenable is followed, a plain value is
 * the result at once. (The same as `toFuture`, under Tornado's name.)
 */
export function maybeFuture<T>(x: T | PromiseLike<T>): Future<T> {
  return toFuture(x);
}

/** A Future that resolves after `seconds` on the current loop. */
export function sleep(seconds: number): Future<void> {
  checkSeconds('seconds', seconds);
  const future = new Future<void>();
  IOLoop.current()!.callLater(seconds, () => {
    if (!future.done()) future.setResult(undefined);
  });
  return future;
}

/**
 * Wraps `future` in a Future that fails with `TimeoutError` at `timeout`
 * (a deadline on the loop's clock, or `{ seconds }` from now). The wrapped
 * operation is not cancelled; if it later fails, that is logged unless its
 * error is one of `quietExceptions`.
 */
export function withTimeout<T>(
  timeout: number | { seconds: number },
  future: PromiseLike<T>,
  options: { quietExceptions?: Array<new (...args: any[]) => Error> } = {},
): Future<T> {
  const result = new Future<T>();
  const source = toFuture(future);
  chainFuture(source, result);
  const loop = IOLoop.current()!;
  const quiet = options.quietExceptions ?? [];
  const deadline = loop.deadlineOf(timeout);
  const handle = loop.addTimeout(deadline, () => {
    if (result.done()) return;
    // A bare number is an absolute deadline (Tornado's rule): say so, since
    // `withTimeout(2, f)` — meant as "two seconds" — lands here at once.
    const relative = typeof timeout === 'number' ? ' (a number is a deadline on IOLoop.time(); pass { seconds: N } for a relative timeout)' : '';
    result.setException(new TimeoutError(`Timeout: deadline ${deadline.toFixed(3)} passed at loop time ${loop.time().toFixed(3)}${relative}`));
    source.addDoneCallback((late) => {
      if (late.cancelled()) return;
      const error = late.exception();
      if (error !== null && !quiet.some((cls) => error instanceof cls)) {
        appLog.error(`Exception in Future ${String(late)} after timeout`, error);
      }
    });
  });
  source.addDoneCallback(() => loop.removeTimeout(handle));
  return result;
}

/**
 * `await moment` yields to the loop for one iteration, letting other
 * callbacks and I/O run (Tornado's `gen.moment`).
 */
export const moment: PromiseLike<void> = {
  then<R1 = void, R2 = never>(
    onFulfilled?: ((value: void) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): PromiseLike<R1 | R2> {
    const future = new Future<void>();
    const loop = IOLoop.current(false);
    if (loop) loop.addCallback(() => future.setResult(undefined));
    else setImmediate(() => future.setResult(undefined));
    return future.then(onFulfilled, onRejected);
  },
};

/**
 * Waits for every child. Resolves with their results in order; if any
 * fail, rejects with the first error (once all have settled, as Tornado 4.4
 * does) and logs the others — except errors that are instances of
 * `quietExceptions` (Tornado's `quiet_exceptions`).
 */
export function multi<T>(
  children: PromiseLike<T>[],
  options: { quietExceptions?: Array<new (...args: any[]) => Error> } = {},
): Future<T[]> {
  const futures = children.map((child) => (isFuture(child) ? (child as Future<T>) : toFuture(child)));
  const quiet = options.quietExceptions ?? [];
  const result = new Future<T[]>();
  if (!futures.length) {
    result.setResult([]);
    return result;
  }
  let unfinished = futures.length;
  const onDone = () => {
    if (--unfinished) return;
    const values: T[] = [];
    for (const child of futures) {
      try {
        values.push(child.result());
      } catch (error) {
        if (!result.done()) result.setException(error);
        else if (!quiet.some((cls) => error instanceof cls)) appLog.error('Multiple exceptions in yield list', error);
      }
    }
    if (!result.done()) result.setResult(values);
  };
  for (const child of futures) child.addDoneCallback(onDone);
  return result;
}
