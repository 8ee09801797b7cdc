/**
 * IOLoop: gale's reactor — Tornado's `tornado.ioloop` (`PollIOLoop`), on
 * raw fds, inside Node.
 *
 * ## One iteration, and why each phase is where it is
 *
 * `iteration()` below runs these phases top to bottom, like the body of
 * Tornado's `while True:` in `PollIOLoop.start` or libuv's `uv_run`:
 *
 *   1. Take the callbacks queued so far and the timeouts that are due.
 *      Callbacks added while these run wait for the next iteration, so a
 *      callback that re-adds itself cannot starve I/O. Due timeouts are
 *      collected *before* callbacks run (Tornado's order), so a callback that
 *      removes a due timeout still prevents it from running.
 *   2. Run the callbacks, then the due timeouts. An exception from any of
 *      them is logged ("Exception in callback …") and the loop goes on; a
 *      callback that returns a Promise or Future has its failure logged too.
 *   3. Poll, for as long as `pollTimeout()` allows (the wait plan's
 *      rules, all listed in ./wait-plan.ts). With Node interop, finding
 *      that out may first take a hop into libuv's poll phase; the
 *      iteration then continues from there.
 *   4. Dispatch `handler(fd, events)` for each ready fd. Readiness is
 *      snapshotted first: a handler removed by an earlier handler in the same
 *      iteration is not called (Tornado pops its pending events).
 *   5. Hand over to the next iteration. `await` continuations (microtasks)
 *      and `process.nextTick` callbacks always run before it starts. If
 *      this iteration did work (found I/O, ran something), libuv has no I/O
 *      ready and fewer than `TURN_BATCH` iterations (and `TURN_WORK_BUDGET`
 *      FFI calls plus events) ran in this Node turn, the next one runs in
 *      the same turn: a microtask queued now queues it
 *      as a nextTick, which Node runs only once every microtask has run
 *      (`iterationAfterMicrotasks`), and it first checks that nothing on
 *      Node's side was created meanwhile (`iterationInTurn`). Otherwise the
 *      loop yields to Node with `setImmediate`, and Node's timers,
 *      immediates and I/O run first. A wait inside a batch is capped at
 *      `BATCHED_WAIT_CAP_MS`, and without Node interop there is none
 *      (`pollTimeout`). docs/reactor.md, "Several iterations per Node
 *      turn", gives the reasons. (An `await Promise.resolve()` would not do
 *      as the hand-over: it runs before the continuations it should follow,
 *      and starves nextTick and libuv.)
 *
 * A loop that is no longer running stops at the top of an iteration, or
 * just before polling (Tornado's `if not self._running: break`).
 *
 * ## Living beside Node's own event loop
 *
 * While the reactor blocks in epoll/poll/kqueue, Node's libuv loop cannot
 * run. ./node-interop.ts keeps it working, and all its state is one
 * `NodeInterop` object: libuv's backend fd sits in the reactor's poll set (a
 * ready libuv means "yield now"), and before a blocking wait the loop hops
 * into libuv's poll phase once to learn when the next Node timer is due
 * (unless its last answer provably still holds). `nodeInterop: false` turns
 * all of this off for a loop that owns the thread outright; it is also the
 * only choice in worker threads, because libuv exports only the main
 * thread's loop (`uv_default_loop`).
 *
 * ## Counting FFI calls
 *
 * Each FFI call costs a few µs (10–20× the syscall itself), so the loop
 * counts them per iteration and reports them in `stats()`; the benchmarks
 * and the FFI budget in DESIGN.md are checked against that figure.
 */
// \`process\` is the global, not an ESM import of 'node:process': such an
// import builds the module's ESM face, which reads every export once, and
// reading \`process.stdin\` or \`process.report\` loads ~20 more built-ins
// (docs/memory.md). Its properties are a slow generic lookup each (a
// dictionary-mode object), so the hot path's two (the clock, the nextTick
// of phase 5) are read once, below.
import { isMainThread } from 'node:worker_threads';
import { ffiCounter } from './sys/ffi.js';
import { inMicrotask } from './microtask.js';
import { close as closeFd } from './sys/libc.js';
import { errno as E } from './sys/errors.js';
import { appLog, describeCallback, genLog } from './log.js';
import { Future, TimeoutError, isThenable, toFuture } from './future.js';
import { createPoller } from './pollers.js';
import { resolveBackend, type URingOptions } from './loop-options.js';
import { readinessTransports } from './readiness-transport.js';
import type {
  FdSource, ListenerRequest, ListenerTransport, StreamRequest, StreamTransport, TransportFactory,
} from './transport.js';
import type { Poller, PollerName } from './poller.js';
import { TimerHeap, TimeoutHandle } from './timers.js';
import { NodeInterop, asyncIdMark, tookOwnAsyncId } from './node-interop.js';
import { MAX_POLL_MS, loopWaitMs, type LoopWaitFacts } from './wait-plan.js';
import { Waker } from './waker.js';
import { registerWorkerLoop, workerPollCapMs, type LoopRegistration } from './worker-loops.js';
import { FdRegistrationError, LoopStateError } from './loop-errors.js';
import { checkFunction, checkInteger, checkSeconds, describeValue } from './sys/validate.js';
import type { Executor, Task } from './executor.js';
import { defaultExecutor } from './executor-pool.js';
import { provideCurrentLoop } from './current-loop.js';

export { TimeoutHandle };

/**
 * @internal Where every loop reads its clock: `process.hrtime`, read once
 * (a lookup on \`process\` costs ~100 instructions a use). One object, so
 * spec/ioloop-batch can count clock reads by replacing `hrtime` here.
 */
export const loopClock = { hrtime: process.hrtime };

// Phase 5's nextTick, read once for the same reason (Node's own modules
// hold it the same way). spec/loop-work therefore sees only the
// application's nextTicks; the loop's own are its `batched` count.
const nextTick = process.nextTick;

/**
 * Milliseconds on the monotonic clock, as `performance.now()` reads it but
 * without `node:perf_hooks`: importing that (or touching the global
 * `performance`) loads nine of Node's internal modules, ~0.45 MiB of an idle
 * process (docs/using.md, "What the package loads"). `process.hrtime()`
 * reads the same clock for the same cost (~70 ns).
 */
function monotonicMs(): number {
  const time = loopClock.hrtime(); // [seconds, nanoseconds]
  return time[0]! * 1e3 + time[1]! / 1e6;
}

/** Wall-clock ms at the monotonic clock's zero: `time()` reads like epoch seconds. */
const CLOCK_ORIGIN_MS = Date.now() - monotonicMs();

/** Something the loop can watch: an fd number or an object with `fileno()`. */
export type FdLike = number | { fileno(): number };

/** Options for `new IOLoop()`. */
export interface IOLoopOptions {
  /** Make this loop current (default: only if no loop is current yet). */
  makeCurrent?: boolean;
  /**
   * The backend (default: `GALE_POLLER`, else the platform's best: io_uring
   * on Linux, falling back to epoll where the kernel refuses a ring).
   */
  poller?: 'auto' | PollerName;
  /**
   * Options of the io_uring backend (each defaults to its `GALE_URING_*`
   * variable; ignored on other backends): `streams` (`'ring'`, `'reads'`,
   * `'readiness'`), `pipes`, `accept`, `connect`, `submit` (`'enter'`,
   * `'turn'`), `sendBudget`. docs/uring.md says what each changes.
   */
  uring?: URingOptions;
  /**
   * Keep Node's own event loop working while this loop waits (default: true
   * on the main thread; in worker threads it is unavailable, and Node's
   * timers and I/O there run only between the loop's iterations).
   */
  nodeInterop?: boolean;
  /** Log every iteration (default: `GALE_TRACE=1`). */
  trace?: boolean;
}

/** Counters of the loop's work since it was created. */
export interface IOLoopStats {
  iterations: number;
  ffiCalls: number;
  events: number;
  callbacks: number;
  timeouts: number;
  /**
   * Times the loop yielded to Node's event loop with `setImmediate` to start
   * its next iteration: each costs a libuv turn (docs/reactor.md, "Several
   * iterations per Node turn").
   */
  yields: number;
  /**
   * Times an iteration scheduled the next one in the same Node turn instead
   * (one microtask and one `process.nextTick`, no libuv turn).
   */
  batched: number;
  /** Iterations that hopped into libuv's poll phase to learn when Node's next timer is due. */
  hops: number;
}

type Callback = (...args: any[]) => unknown;

interface HandlerEntry {
  readonly target: FdLike;
  readonly handler: (fd: any, events: number) => void;
  events: number;
  removed: boolean;
}


/**
 * The most iterations one Node turn runs back to back (phase 5). libuv's
 * own turn (timers, immediates, its poll) then comes at least once every
 * this many iterations, so Node's timers and the application's immediates
 * wait at most this many non-blocking iterations; Node's I/O does not wait
 * at all (a ready libuv fd ends the batch). Why 16: docs/reactor.md.
 */
export const TURN_BATCH = 16;

/**
 * A batch also ends once its iterations have dispatched this many events
 * and made this many FFI calls together: batching pays off for short
 * iterations only (a libuv turn costs about what 2–10 FFI calls do), and
 * Node's timers should wait for about one heavy iteration at most, as
 * they do in libuv, which runs every ready I/O callback of one poll
 * before its timers. docs/reactor.md says why 64.
 */
export const TURN_WORK_BUDGET = 64;

/** The longest wait of an iteration inside a batch, in ms (see `pollTimeout`). */
export const BATCHED_WAIT_CAP_MS = 10;

/** `pollTimeout`: yield to Node before the wait (a batch without Node interop). */
const YIELD_BEFORE_BLOCKING = -2;

// Per thread: each worker thread gets its own module instance.
let currentLoop: IOLoop | null = null;
let instanceLoop: IOLoop | null = null;

function filenoOf(fd: FdLike): number {
  return typeof fd === 'number' ? fd : fd.fileno();
}

/** A level-triggered I/O event loop (Tornado's `IOLoop`). */
export class IOLoop {
  /** No events. */
  static readonly NONE = 0 as const;
  /** The fd is readable. */
  static readonly READ = 0x001 as const;
  /** The fd is writable. */
  static readonly WRITE = 0x004 as const;
  /** An error or hang-up on the fd. */
  static readonly ERROR = 0x018 as const;

  // The same four on every instance: Tornado code writes `self.io_loop.READ`.
  /** `IOLoop.NONE`, for code that reads it from the loop instance. */
  readonly NONE = IOLoop.NONE;
  /** `IOLoop.READ`, for code that reads it from the loop instance. */
  readonly READ = IOLoop.READ;
  /** `IOLoop.WRITE`, for code that reads it from the loop instance. */
  readonly WRITE = IOLoop.WRITE;
  /** `IOLoop.ERROR`, for code that reads it from the loop instance. */
  readonly ERROR = IOLoop.ERROR;

  /** Which readiness backend this loop uses. */
  readonly pollerName: PollerName;

  private readonly poller: Poller;
  private readonly transports: TransportFactory;
  private readonly handlers = new Map<number, HandlerEntry>();
  private readonly readyEntries: Array<HandlerEntry | undefined> = [];
  private callbacks: Callback[] = [];
  private callbackArgs: any[][] = [];
  private spareCallbacks: Callback[] = [];
  private spareArgs: any[][] = [];
  private readonly timers = new TimerHeap();
  private readonly dueTimeouts: TimeoutHandle[] = [];
  private running = false;
  private stopped = false;
  private closing = false;
  private settleStart: (() => void) | null = null;
  private failStart: ((error: unknown) => void) | null = null;
  private previousCurrent: IOLoop | null = null;
  // The async-id mark taken as the current iteration started (iterationInTurn).
  private turnMark = -1;
  // The clock as phase 1 read it (-1: it did not), and that reading while
  // the loop plans a wait after an iteration that ran nothing (-1
  // otherwise): microseconds old, it stands for now (see planningTime).
  private phaseOneTime = -1;
  private planningNow = -1;
  private readonly counts: IOLoopStats = {
    iterations: 0, ffiCalls: 0, events: 0, callbacks: 0, timeouts: 0, yields: 0, batched: 0, hops: 0,
  };
  // Iterations run since Node's event loop last had a turn (phase 5's
  // batch), and FFI calls plus events counted when that turn began.
  private inTurn = 0;
  private turnWorkStart = 0;
  private ffiSeen = 0; // ffiCounter.calls at the last charge (see chargeFfiCalls)
  private readonly interop: NodeInterop | null = null;
  // Worker threads only: what lets another thread end this loop's wait
  // (see ./worker-loops.ts).
  private readonly threadWaker: Waker | null = null;
  private readonly registration: LoopRegistration | null = null;
  private blockingThresholdMs = 0;
  private readonly tracing: boolean;
  // Whether the poller's wait can end before its timeout with nothing to
  // report: a ring's does, on the completion of a send it submitted. A
  // readiness poller's empty return is its timeout (or a signal), so the
  // loop reads no clock around its waits (phase 5, pollDispatchAndYield).
  private readonly waitsEndEarly: boolean;
  private failingCallback: unknown = null;
  // What holds an fd past its stream's close() (a TLS stream's lingering
  // close): ended when the loop closes, which no handler or timer survives.
  private readonly closers = new Set<() => void>();
  private executor: Executor | null = null;
  // What pollTimeout hands the wait plan (reused: planning allocates nothing).
  private readonly waitFacts: LoopWaitFacts = {
    ranSomething: false, callbacksQueued: false, nextDeadline: null, now: 0, workerCapMs: null,
  };
  // Per-iteration figures for trace mode.
  private traceRan = 0;
  private traceTimeouts = 0;

  /**
   * @throws {LoopStateError} with `makeCurrent: true` while another loop is
   * current, or `nodeInterop: true` in a worker thread.
   */
  constructor(options: IOLoopOptions = {}) {
    // Refuse before acquiring anything: a failed construction must not leak
    // the poller's fd or the interop channel.
    if (options.makeCurrent && IOLoop.current(false) !== null) throw new LoopStateError('current IOLoop already exists');
    // libuv exports only uv_default_loop(), the main thread's loop: a worker's
    // own event loop cannot be watched or asked for its timers from here.
    const nodeInterop = options.nodeInterop ?? isMainThread;
    if (nodeInterop && !isMainThread) {
      throw new LoopStateError('nodeInterop is only available on the main thread; pass nodeInterop: false in worker threads');
    }
    // The one place options meet the environment (./loop-options.ts).
    const backend = resolveBackend(options);
    this.poller = createPoller(backend.poller, backend.uring);
    this.pollerName = this.poller.name;
    this.transports = this.poller.transports ?? readinessTransports;
    this.tracing = backend.trace;
    this.waitsEndEarly = this.poller.name === 'uring';
    if (this.tracing) this.poller.traceOn?.();
    if (nodeInterop) {
      const interop = new NodeInterop(() => this.planningTime());
      this.interop = interop;
      this.poller.register(interop.fd, IOLoop.READ);
    }
    if (!isMainThread) {
      // A worker thread's loop must end its wait when the thread is asked to
      // stop; nothing else would make the poll return (./worker-loops.ts).
      const waker = new Waker();
      this.threadWaker = waker;
      this.addHandler(waker, () => waker.consume(), IOLoop.READ);
      const poller = this.poller as Poller & { fileno?: () => number };
      this.registration = registerWorkerLoop(waker.writeFileno(), poller.fileno?.() ?? -1, () => this.close());
    }
    if (options.makeCurrent === undefined) {
      if (IOLoop.current(false) === null) this.makeCurrent();
    } else if (options.makeCurrent) {
      this.makeCurrent();
    }
  }

  // ------------------------------------------------------------ current loop

  /**
   * The current thread's loop. With `instance` true (the default, as in
   * Tornado 4.4) and no current loop, returns the global `instance()`.
   */
  static current(instance = true): IOLoop | null {
    if (currentLoop) return currentLoop;
    return instance ? IOLoop.instance() : null;
  }

  static {
    // For the executor pool, which this file builds on (./current-loop.ts says why).
    provideCurrentLoop(() => IOLoop.current()!);
  }

  /** The global loop, created on first use (Tornado's `IOLoop.instance()`). */
  static instance(): IOLoop {
    instanceLoop ??= new IOLoop({ makeCurrent: false });
    return instanceLoop;
  }

  /** Whether the global instance exists. */
  static initialized(): boolean {
    return instanceLoop !== null;
  }

  /** Forgets the current loop. */
  static clearCurrent(): void {
    currentLoop = null;
  }

  /** Forgets the global instance. */
  static clearInstance(): void {
    instanceLoop = null;
  }

  /** Makes this loop the current thread's loop. */
  makeCurrent(): void {
    currentLoop = this;
  }

  /**
   * Installs this loop as the global instance.
   *
   * @throws {LoopStateError} if a global instance exists already.
   */
  install(): void {
    if (instanceLoop) throw new LoopStateError('IOLoop instance already initialized');
    instanceLoop = this;
  }

  // ------------------------------------------------------------ running

  /**
   * Runs the loop until `stop()`. The returned Promise settles once the loop
   * has stopped.
   *
   * @throws {LoopStateError} at once, if the loop is already running or closed.
   */
  start(): Promise<void> {
    if (this.closing) throw new LoopStateError('IOLoop is closing');
    if (this.running) throw new LoopStateError('IOLoop is already running');
    if (this.stopped) {
      // stop() before start(): Tornado returns at once.
      this.stopped = false;
      return Promise.resolve();
    }
    this.running = true;
    this.ffiSeen = ffiCounter.calls;
    this.previousCurrent = currentLoop;
    currentLoop = this;
    return new Promise<void>((resolve, reject) => {
      this.settleStart = resolve;
      this.failStart = reject;
      this.inTurn = 0;
      tookOwnAsyncId(); // the Immediate
      setImmediate(this.iterationAfterNodeTurn);
    });
  }

  /** Stops the loop after the current iteration; `start()`'s Promise then settles. */
  stop(): void {
    this.running = false;
    this.stopped = true;
  }

  /** Whether the loop is between `start()` and `stop()`. */
  isRunning(): boolean {
    return this.running;
  }

  /**
   * Starts the loop, runs `func`, and stops the loop when what `func`
   * returned (a value, a Promise or a Future) is done. With `timeout`
   * seconds, rejects with `TimeoutError` if it takes longer. Rejects with
   * `LoopStateError` if the loop is already running.
   */
  async runSync<T>(func: () => T | PromiseLike<T>, timeout?: number): Promise<T> {
    if (this.running) throw new LoopStateError('IOLoop is already running');
    let outcome: Future<T> | null = null;
    // Only this run may be stopped by this run's outcome: work that outlives
    // a timed-out run must not end the next one when it finally completes.
    let active = true;
    const stop = () => { if (active) this.stop(); };
    this.addCallback(() => {
      try {
        outcome = toFuture(func());
      } catch (error) {
        outcome = new Future<T>();
        outcome.setException(error);
      }
      this.addFuture(outcome, stop);
    });
    const timer = timeout === undefined || timeout === null ? null : this.callLater(timeout, stop);
    try {
      await this.start();
    } finally {
      active = false;
      if (timer) this.removeTimeout(timer);
    }
    const done = outcome as Future<T> | null;
    if (!done || !done.done()) throw new TimeoutError(`Operation timed out after ${timeout} seconds`);
    return done.result();
  }

  /**
   * Closes the loop, releasing its poller. With `allFds`, also closes every
   * registered fd (or calls `close()` on registered objects).
   */
  close(allFds = false): void {
    if (this.closing) return;
    this.closing = true;
    this.running = false;
    // Leave the registry before the waker's fd closes: no other thread may
    // ring an fd number that could be reused.
    this.registration?.release();
    for (const closer of this.closers) {
      try {
        closer();
      } catch (error) {
        genLog.debug('Error ending what the loop was to close', error);
      }
    }
    this.closers.clear();
    if (allFds) {
      for (const entry of this.handlers.values()) {
        try {
          const target = entry.target as FdLike & { close?: () => void };
          if (typeof target === 'object' && typeof target.close === 'function') target.close();
          else closeFd(filenoOf(target));
        } catch { /* already closed: nothing left to release */ }
      }
    }
    this.handlers.clear();
    this.timers.clear();
    this.callbacks = [];
    this.callbackArgs = [];
    this.poller.close();
    this.interop?.close();
    this.threadWaker?.close();
    if (currentLoop === this) currentLoop = null;
    if (instanceLoop === this) instanceLoop = null;
  }

  /**
   * @internal Calls `closer` when this loop closes (with or without
   * `allFds`), unless the returned function was called first. For what
   * keeps an fd open on the loop after its stream's `close()` (Tornado's
   * streams close theirs at once): it must not outlive the loop.
   */
  atClose(closer: () => void): () => void {
    checkFunction('closer', closer);
    this.closers.add(closer);
    return () => {
      this.closers.delete(closer);
    };
  }

  // ------------------------------------------------------------ handlers

  /**
   * Calls `handler(fd, events)` whenever `fd` has any of `events` (ERROR is
   * always watched too). What a handler must expect — level-triggered
   * reports, ERROR alone, spurious readiness — is stated in ./poller.ts.
   *
   * @throws {FdRegistrationError} if `fd` already has a handler.
   */
  addHandler<F extends FdLike>(fd: F, handler: (fd: F, events: number) => void, events: number): void {
    const fileno = filenoOf(fd);
    checkFunction('handler', handler);
    checkInteger('events', events);
    if (this.handlers.has(fileno)) throw new FdRegistrationError(fileno, `fd ${fileno} is already registered`);
    const mask = events | IOLoop.ERROR;
    this.poller.register(fileno, mask);
    this.handlers.set(fileno, { target: fd, handler, events: mask, removed: false });
  }

  /**
   * Changes the events watched on `fd`; a no-op if they are unchanged.
   *
   * @throws {FdRegistrationError} if `fd` has no handler.
   */
  updateHandler(fd: FdLike, events: number): void {
    const fileno = filenoOf(fd);
    const entry = this.handlers.get(fileno);
    checkInteger('events', events);
    if (!entry) throw new FdRegistrationError(fileno, `fd ${fileno} is not registered`);
    const mask = events | IOLoop.ERROR;
    if (mask === entry.events) return;
    this.poller.modify(fileno, mask);
    entry.events = mask;
  }

  /**
   * Stops watching `fd`. Anything not registered (even null) is only
   * logged at debug level, "Error deleting fd from IOLoop", as Tornado's
   * poller refusing to unregister it is.
   */
  removeHandler(fd: FdLike): void {
    let fileno: number;
    try {
      fileno = filenoOf(fd);
    } catch (error) {
      genLog.debug('Error deleting fd from IOLoop', error);
      return;
    }
    const entry = this.handlers.get(fileno);
    if (!entry) {
      genLog.debug('Error deleting fd from IOLoop', new FdRegistrationError(fileno, `fd ${fileno} is not registered`));
      return;
    }
    this.handlers.delete(fileno);
    entry.removed = true; // skips any readiness already reported for it
    try {
      this.poller.unregister(fileno);
    } catch (error) {
      genLog.debug('Error deleting fd from IOLoop', error);
    }
  }

  /**
   * @internal The transport for a stream's fd (`source.fileno()`) or a
   * listener's, from this loop's backend: readiness or completion, chosen
   * here once (./transport.ts states the contract both keep). Ask before
   * `addHandler` of the fd.
   */
  transportFor(source: FdSource, request: StreamRequest): StreamTransport;
  transportFor(fd: number, request: ListenerRequest): ListenerTransport;
  transportFor(target: FdSource | number, request: StreamRequest | ListenerRequest): StreamTransport | ListenerTransport {
    if (request.kind === 'listener') return this.transports.listener(target as number, request);
    return this.transports.stream(target as FdSource, request, this);
  }

  // ------------------------------------------------------------ callbacks

  /** Calls `callback(...args)` on the next iteration. Ignored once closing. */
  addCallback(callback: Callback, ...args: any[]): void {
    if (typeof callback !== 'function') checkFunction('callback', callback);
    if (this.closing) return;
    this.callbacks.push(callback);
    this.callbackArgs.push(args);
  }

  /**
   * `addCallback` for signal handlers. Node runs `process.on(signal)`
   * handlers on the loop's thread between iterations, so this is the same.
   */
  addCallbackFromSignal(callback: Callback, ...args: any[]): void {
    this.addCallback(callback, ...args);
  }

  /** Calls `callback` on the next iteration, detached from the caller. */
  spawnCallback(callback: Callback, ...args: any[]): void {
    this.addCallback(callback, ...args);
  }

  /** Calls `callback(future)` on the loop once `future` is done. */
  addFuture<T>(future: PromiseLike<T>, callback: (future: Future<T>) => void): void {
    toFuture(future).addDoneCallback((done) => this.addCallback(callback, done));
  }

  // ------------------------------------------------------------ timeouts

  /**
   * Runs `callback(...args)` at `deadline` (on the `time()` clock), or
   * `{ seconds }` from now.
   */
  addTimeout(deadline: number | { seconds: number }, callback: Callback, ...args: any[]): TimeoutHandle {
    checkFunction('callback', callback);
    return this.timers.add(this.deadlineOf(deadline), callback, args);
  }

  /** Runs `callback(...args)` after `delay` seconds. */
  callLater(delay: number, callback: Callback, ...args: any[]): TimeoutHandle {
    return this.addTimeout(this.time() + checkSeconds('delay', delay), callback, ...args);
  }

  /** Runs `callback(...args)` at `when` (on the `time()` clock). */
  callAt(when: number, callback: Callback, ...args: any[]): TimeoutHandle {
    return this.addTimeout(checkSeconds('when', when), callback, ...args);
  }

  /**
   * The absolute time (on the `time()` clock) that a deadline argument
   * names: a number is already one (Tornado's float deadline), `{ seconds }`
   * counts from now (Tornado's timedelta).
   *
   * @throws {TypeError|RangeError} naming what was passed, for anything else.
   */
  deadlineOf(deadline: number | { seconds: number }): number {
    if (typeof deadline === 'number') return checkSeconds('deadline', deadline);
    if (typeof deadline === 'object' && deadline !== null && 'seconds' in deadline) {
      return this.time() + checkSeconds('deadline.seconds', deadline.seconds);
    }
    throw new TypeError(`deadline must be a time() deadline in seconds or { seconds }, got ${describeValue(deadline)}`);
  }

  /** Cancels a pending timeout; harmless for one that already ran. */
  removeTimeout(timeout: TimeoutHandle): void {
    this.timers.remove(timeout);
  }

  /**
   * The loop's clock, in seconds: monotonic (never jumps with the wall
   * clock) but anchored at the process's start time, so it reads like
   * epoch seconds. Tests may replace it on an instance to fake time.
   */
  time(): number {
    return (CLOCK_ORIGIN_MS + monotonicMs()) / 1000;
  }

  // ------------------------------------------------------------ executors

  /**
   * Runs `task(...args)` on an executor (the loop's default if null); the
   * Future settles on this loop.
   */
  runInExecutor<T>(executor: Executor | null, task: Task, ...args: any[]): Future<T> {
    const chosen = executor ?? this.executor ?? defaultExecutor();
    // A ThreadPoolExecutor delivers results on the loop current at submit
    // time: make that this loop, whichever loop the caller runs on
    // (regression: another loop got them, or none if it did not run).
    const previous = currentLoop;
    currentLoop = this;
    try {
      return chosen.submit<T>(task, ...args);
    } finally {
      currentLoop = previous;
    }
  }

  /** Sets the executor `runInExecutor(null, …)` uses. */
  setDefaultExecutor(executor: Executor): void {
    this.executor = executor;
  }

  // ------------------------------------------------------------ diagnostics

  /**
   * Logs an exception from a callback, handler or timeout. Override to
   * handle them differently; the loop keeps running either way.
   */
  handleCallbackException(error: unknown): void {
    appLog.error(`Exception in callback ${describeCallback(this.failingCallback)}`, error);
  }

  /** Warns about any callback or handler that runs longer than `seconds`. */
  setBlockingLogThreshold(seconds: number): void {
    this.blockingThresholdMs = seconds > 0 ? seconds * 1000 : 0;
  }

  /** What the loop has done since it was created. */
  stats(): IOLoopStats {
    return { ...this.counts };
  }

  // ------------------------------------------------------------ the iteration

  /**
   * One iteration, phases 1–5 of the comment at the top of this file.
   * `start()` schedules the first; each one schedules the next (phase 5),
   * from a `setImmediate` or, within a batch, from `iterationInTurn`.
   */
  private readonly iteration = (): void => {
    try {
      if (!this.running) return this.finishStopping();
      this.counts.iterations++;
      const ran = this.runCallbacksAndTimeouts(); // phases 1–2: take, run
      const timeoutMs = this.planWait(ran); // how long phase 3 may block
      if (timeoutMs === null) {
        // Only libuv can tell (rule 4): continue from its poll phase, which
        // is a Node turn of its own.
        this.counts.hops++;
        this.inTurn = 0;
        return this.interop!.hop(this.iterationInPollPhase);
      }
      if (timeoutMs === YIELD_BEFORE_BLOCKING) {
        // Nothing ran and the loop would block inside a batch without
        // Node interop: Node gets its turn first, and this did-nothing
        // iteration is not counted; the next one, after Node's turn, blocks.
        this.counts.iterations--;
        return this.yieldToNode();
      }
      this.pollDispatchAndYield(timeoutMs, ran); // phases 3–5: poll, dispatch, yield
    } catch (error) {
      this.crash(error);
    } finally {
      this.chargeFfiCalls();
    }
  };

  /**
   * The rest of an iteration that hopped into libuv's poll phase to learn
   * when Node's next timer is due (`pollTimeout()`, rule 4).
   */
  private readonly iterationInPollPhase = (): void => {
    try {
      if (!this.running) {
        this.interop!.settle(); // stopped or closed while hopping: let the hop go
        return this.finishStopping();
      }
      this.markTurnStart(); // Node ran meanwhile
      // Time has passed, and microtasks have run, since phase 2: compute again.
      this.pollDispatchAndYield(this.pollTimeout(false, true), false); // phases 3–5: poll, dispatch, yield
    } catch (error) {
      this.crash(error);
    } finally {
      this.chargeFfiCalls();
    }
  };

  /**
   * Phase 5 within a batch, part one: a microtask queued after the
   * iteration, so it runs once every continuation the iteration resolved
   * has been queued. It queues `iterationInTurn` as a nextTick, and Node
   * runs nextTicks only once the microtask queue is empty — so the next
   * iteration starts after every continuation, however many `await` hops
   * it takes, has run (docs/reactor.md, "Several iterations per Node turn").
   */
  private readonly iterationAfterMicrotasks = (): void => {
    tookOwnAsyncId(); // the nextTick
    nextTick(this.iterationInTurn);
  };

  /**
   * Phase 5 within a batch, part two: the next iteration, in the same Node
   * turn — unless something on this thread took an async id since the last
   * iteration started (a Node timer, an immediate, a nextTick, a request:
   * Node has new work, which may be what the loop's next wait depends on, as
   * Node's TLS engine does on its own immediates); then Node gets its turn first.
   */
  private readonly iterationInTurn = (): void => {
    if (asyncIdMark() !== this.turnMark) return this.yieldToNode();
    this.iteration();
  };

  /** Phase 5 outside a batch: the next iteration after Node's next turn. */
  private yieldToNode(): void {
    this.inTurn = 0;
    this.counts.yields++;
    tookOwnAsyncId(); // the Immediate
    setImmediate(this.iterationAfterNodeTurn);
  }

  /** An iteration after Node's turn. */
  private readonly iterationAfterNodeTurn = (): void => {
    this.markTurnStart();
    this.iteration();
  };

  /** A Node turn begins: the batch's baselines (async ids, FFI calls plus events) start again. */
  private markTurnStart(): void {
    this.turnMark = asyncIdMark();
    this.turnWorkStart = ffiCounter.calls + this.counts.events;
  }

  /**
   * `pollTimeout` right after phases 1–2. `turnMark` was taken as this
   * iteration started (iterationInTurn or markTurnStart): if nothing ran
   * since, it is still the mark, and the wait plan need not take another
   * (an AsyncResource each); nor does it read the clock again if phase 1
   * did (planningTime).
   */
  private planWait(ran: boolean): number | null {
    if (ran) return this.pollTimeout(ran);
    this.interop?.markStillHolds(this.turnMark);
    this.planningNow = this.phaseOneTime;
    try {
      return this.pollTimeout(ran);
    } finally {
      this.interop?.markStillHolds(-1);
      this.planningNow = -1;
    }
  }

  /**
   * The clock for planning a wait: phase 1's reading when nothing ran
   * since (the wait is planned microseconds later, and rounded up to whole
   * ms), else a fresh one. One clock read per iteration, not three.
   */
  private planningTime(): number {
    return this.planningNow >= 0 ? this.planningNow : this.time();
  }

  /** Phases 1–2. Returns whether anything ran. */
  private runCallbacksAndTimeouts(): boolean {
    const due = this.dueTimeouts;
    this.phaseOneTime = -1;
    if (this.timers.size) this.timers.popDue(this.phaseOneTime = this.time(), due);
    const callbacks = this.callbacks;
    const ncallbacks = callbacks.length;
    if (ncallbacks !== 0) {
      // Swap the queue out: callbacks added from here on wait for next
      // time. Only when there is one: the four stores of a swap are four
      // write barriers, and an iteration that ran nothing (every blocking
      // wait of a ping-pong) has nothing to swap.
      const args = this.callbackArgs;
      this.callbacks = this.spareCallbacks;
      this.callbackArgs = this.spareArgs;
      for (let i = 0; i < ncallbacks; i++) this.runCallback(callbacks[i]!, args[i]!);
      // Setting an array's length is a call into V8's runtime, even to
      // the length it has: not paid when nothing ran.
      callbacks.length = 0;
      args.length = 0;
      this.spareCallbacks = callbacks;
      this.spareArgs = args;
    }
    let ntimeouts = 0;
    for (let i = 0; i < due.length; i++) {
      const timeout = due[i]!;
      const callback = timeout.callback;
      if (callback === null) continue; // removed by an earlier callback this iteration
      timeout.callback = null;
      ntimeouts++;
      this.runCallback(callback, timeout.args);
    }
    if (due.length !== 0) due.length = 0;
    this.counts.callbacks += ncallbacks;
    this.counts.timeouts += ntimeouts;
    this.traceRan = ncallbacks;
    this.traceTimeouts = ntimeouts;
    return ncallbacks + ntimeouts > 0;
  }

  /**
   * How long phase 3 may block, in ms, or null for "ask libuv first": the
   * wait plan's rules 1–4 (./wait-plan.ts lists every rule of the wait in
   * one comment, the ring's own after them).
   */
  private pollTimeout(ranSomething: boolean, inPollPhase: true): number;
  private pollTimeout(ranSomething: boolean, inPollPhase?: false): number | null;
  private pollTimeout(ranSomething: boolean, inPollPhase = false): number | null {
    // Within a batch (phase 5) without Node interop, Node's timers are
    // unknown: before a wait, Node gets its turn, as it would without batches.
    const batched = this.inTurn !== 0 && !inPollPhase;
    if (batched && this.interop === null) {
      return ranSomething || this.callbacks.length !== 0 ? 0 : YIELD_BEFORE_BLOCKING;
    }
    const facts = this.waitFacts;
    facts.ranSomething = ranSomething;
    facts.callbacksQueued = this.callbacks.length !== 0;
    facts.nextDeadline = ranSomething || facts.callbacksQueued ? null : this.timers.nextDeadline();
    facts.now = facts.nextDeadline === null ? 0 : this.planningTime();
    // In a worker thread, the fallback for endings no hook sees (worker-loops.ts).
    facts.workerCapMs = this.threadWaker === null ? null : workerPollCapMs();
    const ms = loopWaitMs(facts, this.interop, inPollPhase);
    // Node processes unhandled rejections only once its nextTick queue is
    // empty, which a batch keeps from happening, and nothing shows whether
    // one is pending: a wait inside a batch is kept short (docs/reactor.md).
    return batched && ms !== null && ms > BATCHED_WAIT_CAP_MS ? BATCHED_WAIT_CAP_MS : ms;
  }

  /** Phases 3–5: poll, dispatch, and schedule the next iteration. */
  private pollDispatchAndYield(timeoutMs: number, ran: boolean): void {
    // Stopped by a callback: end before polling (Tornado's `if not self._running: break`).
    if (!this.running) return this.finishStopping();
    const timed = this.waitsEndEarly && timeoutMs > 1;
    const started = this.tracing || timed ? monotonicMs() : 0;
    const n = this.poller.poll(timeoutMs); // phase 3
    const nodeReady = this.dispatch(n); // phase 4
    if (this.tracing) this.traceIteration(timeoutMs, n, started);
    // A wait that ended well before its timeout with nothing to report was
    // ended by the poller's own work — on a ring, the completion of a send
    // the wait submitted (ping-pong's reply) — not by its timeout, which
    // may be Node's next timer: the batch may go on.
    const wokeEarly = timed && n === 0 && monotonicMs() - started < timeoutMs - 1;
    this.scheduleNext(n !== 0 || ran || wokeEarly, nodeReady); // phase 5
  }

  /**
   * Phase 5: the next iteration runs in this same Node turn, after every
   * microtask (see `iterationAfterMicrotasks`), while this one did work
   * (found I/O or ran something), libuv has no I/O ready and the batch is
   * under `TURN_BATCH` iterations and `TURN_WORK_BUDGET`; otherwise it
   * yields to Node with `setImmediate`.
   */
  private scheduleNext(didWork: boolean, nodeReady: boolean): void {
    const work = ffiCounter.calls + this.counts.events - this.turnWorkStart;
    if (didWork && !nodeReady && this.inTurn < TURN_BATCH - 1 && work < TURN_WORK_BUDGET) {
      this.inTurn++;
      this.counts.batched++;
      inMicrotask(this.iterationAfterMicrotasks); // no async id of its own
      return;
    }
    this.yieldToNode();
  }

  /**
   * Phase 4: calls the handler of each of the `n` ready fds. Returns whether
   * libuv's fd was among them (Node has I/O ready).
   */
  private dispatch(n: number): boolean {
    const poller = this.poller;
    const fds = poller.readyFds;
    const entries = this.readyEntries;
    const nodeFd = this.interop === null ? -1 : this.interop.fd;
    if (n === 1) {
      // One ready fd (every wait of a ping-pong): no earlier handler can
      // remove it, so there is nothing to snapshot.
      const fd = fds[0]!;
      if (fd === nodeFd) return true;
      const entry = this.handlers.get(fd);
      if (entry === undefined) return false;
      this.runHandler(entry, poller.readyEvents[0]!);
      this.counts.events++; // after the handler, as below
      return false;
    }
    let nodeReady = false;
    for (let i = 0; i < n; i++) {
      const fd = fds[i]!;
      if (fd === nodeFd) nodeReady = true;
      entries[i] = this.handlers.get(fd);
    }
    let dispatched = 0;
    for (let i = 0; i < n; i++) {
      const entry = entries[i];
      entries[i] = undefined;
      if (entry === undefined || entry.removed) continue; // libuv's fd, or removed meanwhile
      dispatched++;
      this.runHandler(entry, poller.readyEvents[i]!);
    }
    this.counts.events += dispatched;
    return nodeReady;
  }

  /**
   * Charges the loop with every FFI call made on its thread since the last
   * charge: its own phases, and also the `await` continuations and Node
   * callbacks that ran between its iterations (a stream write issued after
   * `await stream.readBytes()` happens there, not inside the iteration).
   */
  private chargeFfiCalls(): void {
    const now = ffiCounter.calls;
    this.counts.ffiCalls += now - this.ffiSeen;
    this.ffiSeen = now;
  }

  private runCallback(callback: Callback, args: any[]): void {
    const started = this.blockingThresholdMs ? monotonicMs() : 0;
    try {
      const result = args.length ? callback(...args) : callback();
      if (isThenable(result)) {
        result.then(undefined, (error) => this.reportCallbackError(callback, error));
      }
    } catch (error) {
      this.reportCallbackError(callback, error);
    }
    if (started) this.checkBlocking(callback, started);
  }

  private runHandler(entry: HandlerEntry, events: number): void {
    const started = this.blockingThresholdMs ? monotonicMs() : 0;
    try {
      entry.handler(entry.target, events);
    } catch (error) {
      // A peer closing on us mid-write is routine (Tornado ignores EPIPE here).
      if ((error as { errno?: number })?.errno !== E.EPIPE) this.reportCallbackError(entry.handler, error);
    }
    if (started) this.checkBlocking(entry.handler, started);
  }

  private reportCallbackError(callback: unknown, error: unknown): void {
    this.failingCallback = callback;
    try {
      this.handleCallbackException(error);
    } catch (logError) {
      // Even a broken override must not stop the loop.
      appLog.error('Exception in handleCallbackException', logError);
    } finally {
      this.failingCallback = null;
    }
  }

  private checkBlocking(callback: unknown, started: number): void {
    const elapsed = monotonicMs() - started;
    if (elapsed > this.blockingThresholdMs) {
      genLog.warn(`IOLoop blocked for ${(elapsed / 1000).toFixed(3)} seconds in ${describeCallback(callback)}`);
    }
  }

  private traceIteration(timeoutMs: number, n: number, started: number): void {
    const nodeFd = this.interop?.fd ?? -1;
    const ready: string[] = [];
    for (let i = 0; i < n; i++) {
      const fd = this.poller.readyFds[i]!;
      ready.push(`${fd === nodeFd ? 'node' : fd}:${eventNames(this.poller.readyEvents[i]!)}`);
    }
    genLog.info(
      `[trace] iteration ${this.counts.iterations}: ran ${this.traceRan} callbacks, ${this.traceTimeouts} timeouts; ` +
        `poll(${timeoutMs === MAX_POLL_MS ? 'idle' : `${timeoutMs} ms`}) -> ${n} ready [${ready.join(' ')}]; ` +
        `poll+dispatch ${(monotonicMs() - started).toFixed(3)} ms; ${this.timers.size} timeouts pending`,
    );
    const below = this.poller.traceLastPoll?.();
    if (below) genLog.info(`[trace]   ${below}`);
  }

  private finishStopping(): void {
    this.stopped = false;
    // io_uring: SQEs written since the last enter (a stream's SEND or
    // CLOSE) reach the kernel now, not whenever the loop next runs.
    this.poller.submitPending?.();
    this.restoreCurrent();
    const settle = this.settleStart;
    this.settleStart = this.failStart = null;
    settle?.();
  }

  /**
   * Puts back the loop that was current when start() ran (Tornado restores
   * `old_current`): a loop that was current before it ran stays current
   * after, unless it was closed meanwhile.
   */
  private restoreCurrent(): void {
    const previous = this.previousCurrent;
    this.previousCurrent = null;
    currentLoop = previous === this && this.closing ? null : previous;
  }

  /** A failure of the loop's own machinery (not a callback's): stop and report. */
  private crash(error: unknown): void {
    this.running = false;
    this.stopped = false;
    this.restoreCurrent();
    const fail = this.failStart;
    this.settleStart = this.failStart = null;
    fail?.(error);
  }
}

function eventNames(events: number): string {
  const names: string[] = [];
  if (events & IOLoop.READ) names.push('R');
  if (events & IOLoop.WRITE) names.push('W');
  if (events & IOLoop.ERROR) names.push('E');
  return names.join('') || '-';
}
