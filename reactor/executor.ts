/**
 * Executors: run a task off the loop's back and get a `Future` for its result
 * (Python's `concurrent.futures`, as Tornado's `IOLoop.run_in_executor` uses
 * it).
 *
 * - `dummyExecutor` runs tasks at once on the calling thread;
 * - `ThreadPoolExecutor` (./executor-pool.ts) runs them on worker threads;
 * - a task for another thread is a `TaskRef`, an exported function named by
 *   module and name (./executor-task.ts), because functions cannot cross
 *   threads;
 * - `defaultExecutor()` (./executor-pool.ts) is the shared pool
 *   `IOLoop.runInExecutor(null, …)` falls back on.
 *
 * This file does not import the pool: the pool implements `Executor`, and
 * ioloop.ts imports both.
 */
import { Future, chainFuture, futureSetExceptionUnlessCancelled, futureSetResultUnlessCancelled, isThenable } from './future.js';
import { defineTask, taskAddress, taskFunction, type Task, type TaskRef } from './executor-task.js';

export { defineTask, type Task, type TaskRef };

/** Options of `Executor.shutdown` (Python's keyword arguments). */
export interface ShutdownOptions {
  /** Cancel the Futures of tasks still queued (not started); default false. */
  cancelFutures?: boolean;
}

/** Runs tasks and hands back a `Future` for each (Python's `Executor`). */
export interface Executor {
  /** Schedules `task(...args)`; the Future settles with its outcome. */
  submit<T>(task: Task, ...args: any[]): Future<T>;
  /**
   * Frees the executor's resources. With `wait` (default) running and queued
   * tasks finish; `cancelFutures` cancels the queued ones (Python 3.9+).
   */
  shutdown(wait?: boolean, options?: ShutdownOptions): void;
}

/**
 * Runs each task at once on the calling thread (Tornado's `DummyExecutor`):
 * for code that wants the executor interface without threads, and for tasks
 * that are plain functions. A `TaskRef` is imported first, so its Future
 * settles once the import and the call are done. Failures of any kind
 * (including an invalid task) reject the Future; `submit` never throws.
 * A task that returns a Promise or Future settles the Future when it does.
 */
export const dummyExecutor: Executor = Object.freeze({
  submit<T>(task: Task, ...args: any[]): Future<T> {
    const future = new Future<T>();
    try {
      if (typeof task === 'function') {
        settleWith(future, task(...args));
      } else {
        const address = taskAddress(task);
        import(address.module)
          .then((namespace: Record<string, unknown>) => settleWith(future, taskFunction(namespace, address)(...args)))
          .then(undefined, (error: unknown) => futureSetExceptionUnlessCancelled(future, error));
      }
    } catch (error) {
      future.setException(error);
    }
    return future;
  },
  shutdown(): void {
    // Nothing is held: every task ran to completion inside submit().
  },
});

function settleWith<T>(future: Future<T>, value: unknown): void {
  if (isThenable(value)) chainFuture(value as PromiseLike<T>, future);
  else futureSetResultUnlessCancelled(future, value as T);
}
