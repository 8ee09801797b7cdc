/**
 * Counting what a loop does for the code under test while it should be
 * waiting, apart from its hand-overs to Node (TLS specs).
 *
 * `loop.stats().iterations` is not that count: every time libuv's own fd is
 * ready the loop yields a turn to Node, and that is an iteration too. V8
 * makes such turns by itself: it runs its incremental marking and its C++
 * heap's (cppgc) incremental sweeping as foreground tasks, one step per
 * task, each posted through libuv's async handle (a write to its eventfd)
 * and each posting the next — one libuv turn, so one loop iteration, per
 * step. V8's memory reducer starts such a cycle when the process looks
 * idle, which is what a spec that sleeps to watch the loop makes it look
 * like; on a starved CPU (load 13–15) the cycle takes 50–250 steps
 * (measured with `perf record -e syscalls:sys_enter_write -g`: 145
 * eventfd writes from `IncrementalMarkingJob::ScheduleTask` and
 * `cppgc::internal::Sweeper::SweeperImpl::ScheduleIncrementalSweeping`
 * during a 300 ms sleep that took 145 iterations, with no fd event,
 * callback or immediate of anyone's).
 */
import type { IOLoop } from '../reactor/ioloop.js';

/** What the code under test made the loop do (see the top). */
export interface LoopWork {
  /** Handler calls for ready fds (libuv's own fd excluded). */
  events: number;
  /** Callbacks the loop ran (`addCallback`). */
  callbacks: number;
  /** `process.nextTick`s queued by anything but the loop (its own batching does not go through `process.nextTick`). */
  ticks: number;
  /** `setImmediate`s queued by anything but the loop's own yields. */
  immediates: number;
  /** All iterations, Node's hand-overs included (for messages). */
  iterations: number;
}

/**
 * Runs `fn` and counts the work it caused on `loop` (the loop's own
 * hand-overs to Node left out: their immediates are its `yields`, and its
 * nextTicks, its `batched`, are not seen here at all).
 */
export async function countLoopWork(loop: IOLoop, fn: () => PromiseLike<void>): Promise<LoopWork> {
  let ticks = 0;
  let immediates = 0;
  const nextTick = process.nextTick;
  const setImmediate = globalThis.setImmediate;
  process.nextTick = function countedNextTick(this: unknown, ...args: unknown[]) {
    ticks++;
    return (nextTick as (...a: unknown[]) => void).apply(this, args);
  } as typeof process.nextTick;
  globalThis.setImmediate = function countedSetImmediate(this: unknown, ...args: unknown[]) {
    immediates++;
    return (setImmediate as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof globalThis.setImmediate;
  const before = loop.stats();
  try {
    await fn();
  } finally {
    process.nextTick = nextTick;
    globalThis.setImmediate = setImmediate;
  }
  const after = loop.stats();
  return {
    events: after.events - before.events,
    callbacks: after.callbacks - before.callbacks,
    ticks, // the loop's own nextTicks do not go through process.nextTick (reactor/ioloop.ts)
    immediates: immediates - (after.yields - before.yields),
    iterations: after.iterations - before.iterations,
  };
}

/** The sum of the counts that measure work (iterations left out). */
export function totalWork(work: LoopWork): number {
  return work.events + work.callbacks + work.ticks + work.immediates;
}
