/**
 * `ExecutorResolver`: lookups run as tasks on an executor, so the loop keeps
 * serving while getaddrinfo blocks a worker thread.
 *
 * Tornado's `tornado.netutil.ExecutorResolver`.
 */
import { Future, futureSetExceptionUnlessCancelled, futureSetResultUnlessCancelled } from '../reactor/future.js';
import { IOLoop } from '../reactor/ioloop.js';
import { defineTask, type Executor } from '../reactor/executor.js';
import { Resolver, ResolverClosedError, settledFuture, type Resolved } from './base.js';
import { resolveLiteral } from './literal.js';
import { unpackLookup, type LookupOutcome } from './resolve-task.js';

/** The worker-side lookup (./resolve-task.ts, `resolve`). */
export const resolveTask = defineTask(new URL('./resolve-task.js', import.meta.url), 'resolve');

/** Options for `new ExecutorResolver()`. */
export interface ExecutorResolverOptions {
  /**
   * Where lookups run. Default: the loop's default executor (the shared
   * thread pool unless `IOLoop.setDefaultExecutor` chose another), looked
   * up at each lookup.
   */
  executor?: Executor;
  /**
   * Shut `executor` down when the resolver closes. Default true for an
   * executor passed in (Tornado's default), and never for the loop's
   * default executor, which others share.
   */
  closeExecutor?: boolean;
}

/**
 * Runs each lookup as a task on an executor (Tornado's `ExecutorResolver`).
 * Literal IP hosts are answered on the loop's thread and never reach the
 * executor.
 *
 * Closing the resolver rejects every lookup still in flight with
 * `ResolverClosedError` and cancels its task: a queued task never runs, and
 * the answer of a running one is dropped when it arrives. Cancelling a
 * lookup's Future cancels its task the same way.
 */
export class ExecutorResolver extends Resolver {
  /** The executor lookups run on; null means the loop's default executor. */
  readonly executor: Executor | null;
  private readonly closeExecutor: boolean;
  // Our Future -> the executor's, to cancel the task when ours settles first.
  private readonly inFlight = new Map<Future<Resolved>, Future<LookupOutcome>>();

  constructor(options: ExecutorResolverOptions = {}) {
    super();
    this.executor = options.executor ?? null;
    this.closeExecutor = this.executor !== null && (options.closeExecutor ?? true);
  }

  /** Lookups still waiting for their task (for tests and diagnostics). */
  get pending(): number {
    return this.inFlight.size;
  }

  /** A literal here; anything else as a task on the executor. */
  protected resolveFuture(host: string, port: number, family: number): Future<Resolved> {
    // A literal of the wrong family throws GaiError here: it must not leave the thread either.
    const literal = resolveLiteral(host, port, family);
    if (literal) return settledFuture(() => literal);
    const job = this.executor
      ? this.executor.submit<LookupOutcome>(resolveTask, host, port, family)
      : IOLoop.current()!.runInExecutor<LookupOutcome>(null, resolveTask, host, port, family);
    const future = new Future<Resolved>();
    this.inFlight.set(future, job);
    future.addDoneCallback(() => {
      this.inFlight.delete(future);
      if (!job.done()) job.cancel();
    });
    job.addDoneCallback((done) => {
      if (future.done()) return; // closed or cancelled meanwhile: the answer has no taker
      if (done.cancelled()) {
        future.setException(new ResolverClosedError(`the lookup of ${host} was cancelled by its executor`));
        return;
      }
      const error = done.exception();
      if (error !== null) {
        future.setException(error);
        return;
      }
      try {
        futureSetResultUnlessCancelled(future, unpackLookup(done.result()));
      } catch (failure) {
        futureSetExceptionUnlessCancelled(future, failure);
      }
    });
    return future;
  }

  /**
   * Rejects the lookups in flight, then shuts the executor down if this
   * resolver owns it (without waiting: the executor finishes its running
   * tasks in the background, and their answers are dropped).
   */
  override close(): void {
    if (this.closed) return;
    super.close();
    for (const future of [...this.inFlight.keys()]) {
      futureSetExceptionUnlessCancelled(future, new ResolverClosedError(`${this.constructor.name} was closed while a lookup was in flight`));
    }
    if (this.closeExecutor) this.executor!.shutdown();
  }
}
