/**
 * Loops in worker threads that never keep a thread from ending. (Tornado has
 * no counterpart: its IOLoop in a Python thread is woken by the same waker
 * this file rings, and Python threads cannot be killed from outside.)
 *
 * The problem. A gale loop with nothing to do blocks inside an FFI call
 * (`epoll_wait`). Node ends a worker thread — `worker.terminate()`,
 * `process.exit()` in the main thread, the worker's parent going away — by
 * asking V8 to stop running JS there and waiting for the thread to finish.
 * V8 can only act when the thread runs JS, and nothing makes the system call
 * return, so the wait never ends: `terminate()` never settles and
 * `process.exit()` hangs.
 *
 * The mechanism. Every loop created on a worker thread gets a waker (an
 * eventfd, a pipe elsewhere) and a slot in a registry shared by all threads
 * (a SharedArrayBuffer handed to each new Worker through
 * `setEnvironmentData`): its thread id and its waker's fd. fds belong to
 * the process, so any thread can make that loop's poll return by writing to
 * its waker, and the thread then finishes as soon as it touches JS again.
 * The registry is rung where an ending is requested:
 *   - `Worker.prototype.terminate` is wrapped: after Node has asked the
 *     thread to stop (synchronously, inside the original), the thread's
 *     loops are woken; when the thread is gone, the fds its loops could not
 *     close themselves are closed;
 *   - `process.on('exit')` on the main thread sets the shared "exiting"
 *     flag and wakes every loop: from then on, worker loops wait at most
 *     `EXITING_POLL_CAP_MS` at a time, so they notice Node's stop request,
 *     which comes only after the 'exit' listeners have run;
 *   - `wakeThread(threadId)` lets an application wake a worker's loops after
 *     posting it a message (the loop then yields to Node, which delivers the
 *     message, whose handler may call `loop.stop()`).
 *
 * The fallback. Some endings run no JS that could ring: a nested worker
 * whose parent worker is terminated, a worker started before this module
 * was loaded on the thread that terminates it. For those, a worker-thread
 * loop never blocks longer than `WORKER_POLL_CAP_MS` (1 s): an idle worker
 * loop makes one empty iteration a second (a few µs of CPU), and such an
 * ending takes at most that long. Main-thread loops are not capped.
 * Rejected alternatives: a short cap alone (busy-polls every idle worker),
 * watching the worker's own libuv backend fd as the main thread does
 * (libuv exports only the main thread's loop; a worker's is unreachable),
 * and a signal to interrupt the system call (needs a handler installed in
 * C, and libuv owns the signal dispositions).
 *
 * Slot safety: a slot is ACTIVE only while its fds are open. Ringing takes
 * the slot (ACTIVE → RINGING) for the one write; releasing it (the loop
 * closing, or the terminate cleanup) waits for a ring in progress, marks it
 * FREE, and only then closes the fds, so a ring never writes to an fd number
 * that was closed and reused.
 */
import {
  Worker, getEnvironmentData, isMainThread, setEnvironmentData, threadId as ownThreadId,
} from 'node:worker_threads';
import { close } from './sys/libc.js';
import { wakeFd } from './waker.js';

/** How long a worker-thread loop waits at most, when nothing is due (the fallback above). */
export const WORKER_POLL_CAP_MS = 1000;
/** How long it waits at most once the main thread is exiting. */
export const EXITING_POLL_CAP_MS = 10;

const REGISTRY_KEY = 'gale:worker-loops';
const SLOTS = 1024;
const HEADER = 4; // [0] exiting flag
const FIELDS = 4; // state, threadId, wake fd, poller fd
const FREE = 0;
const CLAIMING = 1;
const ACTIVE = 2;
const RINGING = 3;

function sharedRegistry(): Int32Array {
  let buffer = getEnvironmentData(REGISTRY_KEY) as SharedArrayBuffer | undefined;
  if (!(buffer instanceof SharedArrayBuffer)) {
    buffer = new SharedArrayBuffer((HEADER + SLOTS * FIELDS) * 4);
    // Inherited by every Worker this thread starts from now on (and theirs).
    setEnvironmentData(REGISTRY_KEY, buffer);
  }
  return new Int32Array(buffer);
}

const registry = sharedRegistry();
const base = (slot: number) => HEADER + slot * FIELDS;

/** A worker-thread loop's entry in the registry. */
export interface LoopRegistration {
  /** Leaves the registry; the caller closes its fds afterwards. */
  release(): void;
}

// This thread's registered loops: closed when the thread ends with JS still
// running (natural end, process.exit() in the worker, an uncaught error).
const ownLoops = new Set<() => void>();

/**
 * How long a worker-thread loop may block right now (ms): the fallback cap,
 * or a short one once the main thread is exiting.
 */
export function workerPollCapMs(): number {
  return Atomics.load(registry, 0) ? EXITING_POLL_CAP_MS : WORKER_POLL_CAP_MS;
}

/**
 * Registers a worker-thread loop: its waker's write fd, its poller's fd (-1
 * if it has none), and how to close it when the thread ends. Returns null
 * when the registry is full: the loop then relies on the fallback cap.
 */
export function registerWorkerLoop(wakeFileno: number, pollerFileno: number, closeLoop: () => void): LoopRegistration | null {
  for (let slot = 0; slot < SLOTS; slot++) {
    const at = base(slot);
    if (Atomics.compareExchange(registry, at, FREE, CLAIMING) !== FREE) continue;
    registry[at + 1] = ownThreadId;
    registry[at + 2] = wakeFileno;
    registry[at + 3] = pollerFileno;
    Atomics.store(registry, at, ACTIVE);
    ownLoops.add(closeLoop);
    return {
      release: () => {
        ownLoops.delete(closeLoop);
        releaseSlot(at);
      },
    };
  }
  return null;
}

/** Marks a slot FREE once no ring is in progress on it. True if it was ACTIVE. */
function releaseSlot(at: number): boolean {
  for (;;) {
    const state = Atomics.compareExchange(registry, at, ACTIVE, FREE);
    if (state === ACTIVE) return true;
    if (state !== RINGING) return false;
    Atomics.wait(registry, at, RINGING, 1); // a ring is one write: wait it out
  }
}

function ring(at: number): boolean {
  if (Atomics.compareExchange(registry, at, ACTIVE, RINGING) !== ACTIVE) return false;
  try {
    wakeFd(registry[at + 2]!);
  } catch {
    // The loop's waker is full or the write failed: nothing more to do.
  } finally {
    Atomics.store(registry, at, ACTIVE);
    Atomics.notify(registry, at);
  }
  return true;
}

/**
 * Wakes every gale loop of worker thread `threadId` (`worker.threadId`),
 * from any thread. The loop makes one iteration and yields to Node, which
 * delivers pending messages: post a message, then wake, to reach a worker
 * whose loop is idle. Returns how many loops were woken.
 */
export function wakeThread(threadId: number): number {
  let woken = 0;
  for (let slot = 0; slot < SLOTS; slot++) {
    const at = base(slot);
    if (registry[at + 1] === threadId && Atomics.load(registry, at) === ACTIVE && ring(at)) woken++;
  }
  return woken;
}

function wakeAll(): void {
  for (let slot = 0; slot < SLOTS; slot++) ring(base(slot));
}

/** After a thread is gone: closes the fds of its loops that never closed. */
function reclaimThread(threadId: number): void {
  for (let slot = 0; slot < SLOTS; slot++) {
    const at = base(slot);
    if (registry[at + 1] !== threadId) continue;
    const wake = registry[at + 2]!;
    const poller = registry[at + 3]!;
    if (!releaseSlot(at)) continue;
    for (const fd of new Set([wake, poller])) {
      if (fd >= 0) try { close(fd); } catch { /* already closed */ }
    }
  }
}

// ------------------------------------------------------------ the hooks

const HOOKED = Symbol.for('gale.workerLoops.terminateHooked');
type Terminate = (this: Worker, ...args: unknown[]) => Promise<number>;

function hookTerminate(): void {
  const proto = Worker.prototype as unknown as Record<symbol | string, unknown>;
  if (proto[HOOKED]) return;
  const original = proto.terminate as Terminate;
  // The one place that runs after Node has asked a worker to stop: wake its
  // loops so the request takes effect, and close what they leave behind.
  const terminate: Terminate = function (this: Worker, ...args: unknown[]) {
    const id = this.threadId;
    const done = original.apply(this, args);
    wakeThread(id);
    return Promise.resolve(done).then((code) => {
      reclaimThread(id);
      return code;
    });
  };
  proto.terminate = terminate;
  proto[HOOKED] = true;
}

hookTerminate();
if (isMainThread) {
  process.on('exit', () => {
    Atomics.store(registry, 0, 1);
    wakeAll();
  });
} else {
  process.on('exit', () => {
    for (const closeLoop of [...ownLoops]) {
      try { closeLoop(); } catch { /* the thread is ending: release what can be */ }
    }
  });
}
