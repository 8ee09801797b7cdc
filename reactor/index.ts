/**
 * gale/reactor: the event loop and everything it is made of, as API.md
 * names them — `IOLoop` (Tornado's `tornado.ioloop`) and its misuse errors,
 * `PeriodicCallback`, `Future` and the gen helpers, the executors, logging
 * and `OSError`.
 *
 * Modules inside gale import each other's files directly, never this one;
 * it exists for applications (`import { IOLoop } from 'gale/reactor'`).
 */
export { IOLoop, TimeoutHandle, type FdLike, type IOLoopOptions, type IOLoopStats } from './ioloop.js';
export type { URingOptions, URingStreamsMode } from './loop-options.js';
export { LoopStateError, FdRegistrationError } from './loop-errors.js';
export { PeriodicCallback } from './periodic.js';
export { wakeThread } from './worker-loops.js';
export {
  Future, CancelledError, InvalidStateError, TimeoutError, isFuture, chainFuture,
  futureSetResultUnlessCancelled, futureSetExceptionUnlessCancelled,
} from './future.js';
export { sleep, withTimeout, moment, multi } from './gen.js';
export { defineTask, dummyExecutor, type Executor, type Task, type TaskRef } from './executor.js';
export { ThreadPoolExecutor, type ThreadPoolExecutorOptions } from './executor-pool.js';
export { setLogger, appLog, genLog, accessLog, type Logger, type LogRecord, type LoggerName, type Channel } from './log.js';
export { OSError } from './sys/errors.js';

// tornado.locks, tornado.queues, and what ports of Tornado libraries need
// next to them (gen.coroutine, gen.maybe_future, convert_yielded, errno).
export { Condition, Event, Semaphore, BoundedSemaphore, Lock, type Releaser, type Deadline } from './locks.js';
export { Queue, PriorityQueue, LifoQueue, QueueEmpty, QueueFull } from './queues.js';
export { coroutine, maybeFuture } from './gen.js';
export { toFuture } from './future.js';
export { errno, errnoFromException } from './errno.js';
