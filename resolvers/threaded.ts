/**
 * `ThreadedResolver`: an `ExecutorResolver` on one thread pool shared by
 * every ThreadedResolver of the thread.
 *
 * Tornado's `tornado.netutil.ThreadedResolver`.
 */
import { ThreadPoolExecutor } from '../reactor/executor-pool.js';
import { ExecutorResolver } from './executor-resolver.js';

/** Options for `new ThreadedResolver()`. */
export interface ThreadedResolverOptions {
  /** Worker threads of the shared pool; only the first resolver's value counts (default 10). */
  numThreads?: number;
}

// Per thread, since module instances are: a worker thread that makes its
// own ThreadedResolver gets its own pool, as a forked Tornado process does.
let sharedPool: ThreadPoolExecutor | null = null;

/**
 * Non-blocking resolution on worker threads (Tornado's `ThreadedResolver`),
 * and gale's default `Resolver`. All ThreadedResolvers share one pool,
 * whose size the first one to be created sets (Tornado 3.1+). Closing a
 * ThreadedResolver never shuts the shared pool down. If someone else shuts
 * it down, the next ThreadedResolver created starts a new one.
 *
 * The pool's workers are `unref()`ed, so an idle pool never keeps the
 * process alive.
 */
export class ThreadedResolver extends ExecutorResolver {
  constructor(options: ThreadedResolverOptions = {}) {
    super({ executor: ThreadedResolver.createThreadpool(options.numThreads ?? 10), closeExecutor: false });
  }

  /** The shared pool, made with `numThreads` workers if there is none (or it was shut down). */
  static createThreadpool(numThreads: number): ThreadPoolExecutor {
    if (!sharedPool || sharedPool.isShutDown()) sharedPool = new ThreadPoolExecutor({ maxWorkers: numThreads });
    return sharedPool;
  }
}
