/**
 * `ThreadPoolExecutor`: tasks on `worker_threads`, results delivered through
 * the submitting loop's poller rather than through libuv.
 *
 * A worker posts its reply on a MessagePort and rings the executor's waker
 * fd; the waker sits in the submitting loop's poll set while tasks are in
 * flight. The loop wakes from its own poller, drains the waker, and pulls
 * every reply with `receiveMessageOnPort`. A loop that never looks at libuv
 * (`nodeInterop: false`) therefore still gets its results: Node's own
 * 'message' events would need libuv to run, and a loop blocked in epoll_wait
 * would sleep through them.
 *
 * Worker deaths are reported the same way (the dying worker posts its exit
 * and rings), with Node's 'exit' event as the backstop for deaths that run no
 * JavaScript. The waker is closed only once every worker thread has exited,
 * because until then a worker may still write to its fd number, which would
 * land in whatever file reused that number.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { Future, futureSetExceptionUnlessCancelled, futureSetResultUnlessCancelled } from './future.js';
import type { IOLoop } from './ioloop.js';
import { currentLoop } from './current-loop.js';
import { READ } from './poller.js';
import { appLog } from './log.js';
import { Waker } from './waker.js';
import type { Executor, ShutdownOptions } from './executor.js';
import {
  taskAddress, taskLabel, unpackThrown,
  type JobMessage, type ReplyMessage, type Task, type TaskAddress, type WorkerInit,
} from './executor-task.js';

/** Options for `new ThreadPoolExecutor()`. */
export interface ThreadPoolExecutorOptions {
  /** The most worker threads to run at once (default: min(32, CPUs + 4), as Python). */
  maxWorkers?: number;
}

interface Job {
  readonly id: number;
  readonly address: TaskAddress;
  readonly args: unknown[];
  readonly future: Future<any>;
}

/** One worker thread and what the executor knows about it. */
class Slot {
  job: Job | null = null;
  /** No longer given work: it crashed, or the executor terminated it. */
  dead = false;
  /** The last 'error' event, in case the worker died without reporting. */
  lastError: unknown = undefined;
  constructor(readonly worker: Worker, readonly port: MessagePort) {}
}

const workerUrl = new URL('./executor-worker.js', import.meta.url);

/**
 * Runs `TaskRef` tasks on a pool of worker threads, one task per worker at a
 * time, first come first served. Workers start on demand, up to `maxWorkers`,
 * and are `unref()`ed, so an idle pool never keeps the process alive.
 *
 * Arguments and results cross threads by structured clone (a `Buffer` comes
 * back as a `Uint8Array`). A task that returns a Promise is awaited in its
 * worker. A task's error rejects its Future with an Error of the same name,
 * message, stack and own fields such as `code`; built-in error classes keep
 * their class, and `OSError` and its subclasses come back as `OSError`. A worker that dies (an uncaught error,
 * `process.exit()`) rejects the Future of the task it was running and is
 * replaced for the tasks that follow.
 *
 * Results are delivered on the loop that was current when the task was
 * submitted (the latest such loop, when several submit), so that loop must be
 * running for Futures to settle.
 */
export class ThreadPoolExecutor implements Executor {
  /** The most worker threads this pool runs at once. */
  readonly maxWorkers: number;

  private readonly slots = new Set<Slot>(); // every thread that has not exited yet
  private readonly idle: Slot[] = [];
  private queue: Job[] = [];
  private usable = 0; // slots neither dead nor exited: counted against maxWorkers
  private running = 0; // jobs handed to a worker and not yet answered
  private nextId = 1;
  private waker: Waker | null = null;
  private loop: IOLoop | null = null;
  private closing = false;
  private stopped: Future<void> | null = null;
  // Registered instead of the bare fd so that `loop.close(true)` only makes the
  // loop forget us: the waker is ours to close, and only once workers are gone.
  private readonly wakeTarget = {
    fileno: (): number => this.waker!.fileno(),
    close: (): void => { this.loop = null; },
  };

  /**
   * Creates an idle pool: no thread starts until the first `submit()`.
   *
   * @throws RangeError if `maxWorkers` is not a positive integer.
   */
  constructor(options: ThreadPoolExecutorOptions = {}) {
    const maxWorkers = options.maxWorkers ?? Math.min(32, availableParallelism() + 4);
    if (!Number.isInteger(maxWorkers) || maxWorkers < 1) {
      throw new RangeError(`maxWorkers must be a positive integer, got ${String(maxWorkers)}`);
    }
    this.maxWorkers = maxWorkers;
  }

  /** Whether `shutdown()` was called: `submit()` now throws. */
  isShutDown(): boolean {
    return this.closing;
  }

  /** Worker threads of this pool that have not exited yet (for tests and diagnostics). */
  get liveWorkers(): number {
    return this.slots.size;
  }

  /**
   * Schedules `task(...args)` on a worker thread.
   *
   * @throws TypeError for a plain function (it cannot cross to a worker) or
   * an invalid TaskRef; Error after `shutdown()`. Everything that goes wrong
   * later, including arguments that cannot be cloned, rejects the Future.
   */
  submit<T>(task: Task, ...args: any[]): Future<T> {
    if (this.closing) throw new Error('cannot schedule new futures after shutdown');
    if (typeof task === 'function') {
      throw new TypeError(
        `ThreadPoolExecutor cannot run the plain function ${task.name || '(anonymous)'}: functions do not cross ` +
          'to worker threads. Export it from a module and submit defineTask(moduleUrl, name), or run it with dummyExecutor.',
      );
    }
    const address = taskAddress(task);
    const future = new Future<T>();
    this.queue.push({ id: this.nextId++, address, args, future });
    this.attach(currentLoop());
    this.dispatch();
    return future;
  }

  /**
   * Stops the pool; later `submit()` calls throw. With `wait` (the default),
   * running and queued tasks still finish and deliver their results, as
   * Python's `shutdown(wait=True)`; then the workers are terminated.
   * `cancelFutures` (Python 3.9's `cancel_futures`) cancels the Futures of
   * queued tasks that have not started; running ones still finish.
   *
   * With `wait` false (unlike Python, where the tasks still run), the
   * workers are terminated now and every unfinished task's Future is
   * rejected: gale's shutdown never blocks, so `false` is kept for "stop
   * now".
   *
   * Never blocks the loop. The returned Future settles once every worker
   * thread has exited and the waker is closed (a gale extension: the
   * `Executor` interface returns nothing).
   */
  shutdown(wait = true, options: ShutdownOptions = {}): Future<void> {
    this.closing = true;
    this.stopped ??= new Future<void>();
    if (options.cancelFutures) {
      const queued = this.queue;
      this.queue = [];
      for (const job of queued) job.future.cancel();
    }
    if (!wait) {
      this.drainAll(); // results that already arrived are still good
      const abandoned = this.queue;
      this.queue = [];
      for (const slot of this.slots) {
        if (slot.job) abandoned.push(slot.job);
        slot.job = null;
      }
      this.running = 0;
      this.terminateAll();
      for (const job of abandoned) {
        futureSetExceptionUnlessCancelled(job.future, new Error(`executor was shut down before ${taskLabel(job.address)} finished`));
      }
    }
    this.afterChange();
    return this.stopped;
  }

  // ------------------------------------------------------------ scheduling

  private dispatch(): void {
    const queue = this.queue;
    while (queue.length) {
      if (queue[0]!.future.done()) { // cancelled while it waited: never runs
        queue.shift();
        continue;
      }
      let slot = this.idle.pop();
      if (!slot) {
        if (this.usable >= this.maxWorkers) return;
        try {
          slot = this.spawn();
        } catch (error) {
          futureSetExceptionUnlessCancelled(queue.shift()!.future, error);
          continue;
        }
      }
      const job = queue.shift()!;
      const message: JobMessage = { id: job.id, module: job.address.module, name: job.address.name, args: job.args };
      try {
        slot.worker.postMessage(message);
      } catch (error) { // an argument that cannot be cloned
        this.idle.push(slot);
        futureSetExceptionUnlessCancelled(job.future, error);
        continue;
      }
      slot.job = job;
      this.running++;
    }
  }

  private spawn(): Slot {
    const { port1, port2 } = new MessageChannel();
    const init: WorkerInit = { port: port2, wakeFd: this.ensureWaker().writeFileno() };
    const worker = new Worker(workerUrl, { workerData: init, transferList: [port2] });
    worker.unref();
    const slot = new Slot(worker, port1);
    // Without an 'error' listener a worker's uncaught error would be rethrown here.
    worker.on('error', (error) => { slot.lastError = error; });
    worker.on('exit', (code) => this.onExit(slot, code));
    this.slots.add(slot);
    this.usable++;
    return slot;
  }

  /** Re-evaluates the pool after anything changed. */
  private afterChange(): void {
    this.dispatch();
    if (this.running || this.queue.length) return;
    this.detach();
    if (!this.closing) return;
    this.terminateAll();
    if (this.slots.size === 0 && this.stopped && !this.stopped.done()) {
      this.waker?.close();
      this.waker = null;
      this.stopped.setResult(undefined);
    }
  }

  private terminateAll(): void {
    for (const slot of this.slots) {
      if (slot.dead) continue;
      slot.dead = true;
      this.usable--;
      void slot.worker.terminate().catch(() => { /* it is going away either way */ });
    }
    this.idle.length = 0;
  }

  // ------------------------------------------------------------ the waker

  private ensureWaker(): Waker {
    return (this.waker ??= new Waker());
  }

  /** Registers the waker with `loop` (moving it from an earlier one). */
  private attach(loop: IOLoop): void {
    if (this.loop === loop) return;
    this.detach();
    this.ensureWaker();
    loop.addHandler(this.wakeTarget, this.onWake, READ);
    this.loop = loop;
  }

  private detach(): void {
    const loop = this.loop;
    this.loop = null;
    loop?.removeHandler(this.wakeTarget);
  }

  private readonly onWake = (): void => {
    // Quiet the waker before pulling replies: a reply posted after the pull
    // began is followed by a ring that wakes the loop again, never lost.
    this.waker?.consume();
    this.drainAll();
    this.afterChange();
  };

  // ------------------------------------------------------------ replies

  private drainAll(): void {
    for (const slot of this.slots) this.drain(slot);
  }

  private drain(slot: Slot): void {
    for (let received = receiveMessageOnPort(slot.port); received; received = receiveMessageOnPort(slot.port)) {
      this.handle(slot, received.message as ReplyMessage);
    }
  }

  private handle(slot: Slot, message: ReplyMessage): void {
    if ('exit' in message) {
      this.bury(slot, message.exit, message.error ? unpackThrown(message.error) : undefined);
      return;
    }
    const job = slot.job;
    if (!job || job.id !== message.id) return; // abandoned by shutdown(false)
    slot.job = null;
    this.running--;
    if (!slot.dead) this.idle.push(slot);
    if (message.ok) futureSetResultUnlessCancelled(job.future, message.value);
    else futureSetExceptionUnlessCancelled(job.future, unpackThrown(message.error));
  }

  /** A worker died on its own: fail its task; `dispatch()` will replace it. */
  private bury(slot: Slot, code: number, error: unknown): void {
    if (slot.dead) return;
    slot.dead = true;
    this.usable--;
    const at = this.idle.indexOf(slot);
    if (at >= 0) this.idle.splice(at, 1);
    const how = error === undefined
      ? `exited with code ${code}`
      : `died of an uncaught ${describeError(error)} (exit code ${code})`;
    const job = slot.job;
    slot.job = null;
    if (job) {
      this.running--;
      const crash = new Error(`executor worker ${how} while running ${taskLabel(job.address)}`, error === undefined ? undefined : { cause: error });
      futureSetExceptionUnlessCancelled(job.future, crash);
    } else if (error !== undefined) {
      // No Future to carry it: the log is the only place it can surface.
      appLog.error(`Uncaught exception in executor worker (exit code ${code}); it will be replaced`, error);
    }
  }

  /** Node's word that the thread is gone: the backstop, and the end of its fd use. */
  private onExit(slot: Slot, code: number): void {
    this.drain(slot); // replies and last words it posted before dying
    this.bury(slot, code, slot.lastError);
    this.slots.delete(slot);
    slot.port.close();
    this.afterChange();
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

let shared: ThreadPoolExecutor | null = null;

/**
 * The pool `IOLoop.runInExecutor(null, …)` uses when no default executor was
 * set: one per thread, created on first use with the default `maxWorkers`,
 * and created afresh if it was shut down.
 */
export function defaultExecutor(): ThreadPoolExecutor {
  if (!shared || shared.isShutDown()) shared = new ThreadPoolExecutor();
  return shared;
}
