/**
 * The wait plan: how long an iteration's poll may block, and, on a ring,
 * whether and how it enters the kernel — every rule in one place, listed
 * the way libuv's design document lists its own. The IOLoop computes
 * rules 1–4 (`loopWaitMs`) and hands every poller the result; a poller that
 * does I/O itself (the ring) refines it with rules 5–8 (`planRingWait`).
 * epoll, poll and kqueue obey rules 1–4 as they are: their wait is the
 * timeout they are given.
 *
 *   1. **0 if anything ran** in phase 2 or callbacks are queued: what ran
 *      may have resolved Promises whose continuations (microtasks) have not
 *      run yet; they run only when the loop returns to Node (phase 5), so
 *      blocking now could sleep through work that is already due.
 *   2. Otherwise **until the loop's next timeout** (0 if it is due), capped
 *      at an hour (`MAX_POLL_MS`, Tornado's `_POLL_TIMEOUT`): even an idle
 *      loop wakes now and then. In a worker thread no longer than 1 s (10 ms
 *      once the main thread is exiting): the fallback that lets the thread
 *      be stopped even when no hook woke it (./worker-loops.ts).
 *   3. **Node interop**, only when rules 1–2 would block: 0 if the
 *      application has `setImmediate` callbacks queued, so they run in this
 *      iteration's phase 5 rather than after a wait.
 *   4. **Node interop**: no longer than until Node's next timer, ref'd or
 *      not. Only libuv knows it, and it tells only from its poll phase: if
 *      its last answer provably still holds, that caps the wait; if not, the
 *      plan is "ask libuv first" (null) and the iteration hops into libuv's
 *      poll phase and plans again there (where rule 3 is libuv's own: it
 *      answers 0 while immediates are queued). See ./node-interop.ts.
 *
 *   Inside a batch (several iterations in one Node turn: ./ioloop.ts,
 *   phase 5), `IOLoop.pollTimeout` bounds rules 1–4 further: a wait is at
 *   most `BATCHED_WAIT_CAP_MS` (10 ms), because Node reports unhandled
 *   rejections only once its nextTick queue empties, which a batch defers;
 *   and without Node interop there is no wait at all: the loop yields to
 *   Node first and the iteration after that plans again.
 *
 * On a ring (./uring/poller.ts), with what rules 1–4 allowed:
 *
 *   5. **Ready endpoints wait for nothing**: an endpoint that has events to
 *      report now (bytes received, a connection accepted, room to write)
 *      makes the wait 0; it is reported whether or not anything completes.
 *   6. **An enter may be skipped**, only when the wait is 0, nothing has
 *      completed since the last enter (no CQE posted, and the kernel's
 *      IORING_SQ_TASKRUN flag clear: with TASKRUN_FLAG it flags any deferred
 *      completion), nothing new was armed (a fresh POLL_ADD or RECV must be
 *      submitted at once to be reported as epoll would report it), and the
 *      last one was not skipped (never twice in a row, so queued SENDs and
 *      CLOSEs wait at most one iteration). A loop busy with callbacks then
 *      pays half an FFI call per iteration instead of one.
 *   7. **Blocking**: with a wait left and no CQE already posted, enter and
 *      wait for one CQE, at most that long (-1: forever). One CQE is enough:
 *      the next iteration does not block (handlers ran) and gathers the rest.
 *      A batch-wait timer would cost a wake-up of its own on every idle wait.
 *      A SEND the socket takes at once posts no CQE (a quiet SEND:
 *      ./uring/send-queue.ts), so an echo's reply no longer ends the wait
 *      it is submitted with: one enter and one iteration per round trip
 *      (its effect on time is not measured yet: see below and docs/uring.md,
 *      "Quiet SENDs"). Nor did the wait skip the CQEs of SENDs submitted with it (asking
 *      for one more CQE per such SEND, `min_wait_usec` bounding a SEND that
 *      parks): tried for ping-pong, whose reply's SEND completes inside the
 *      enter and ends the wait at once — 1.01 enters per round trip instead
 *      of 2.00, but more server CPU per round trip and fewer round trips per
 *      second on the 2-vCPU VM (docs/uring.md): the second enter works as a
 *      short poll before the thread sleeps, and a sleep that starts sooner
 *      more often ends in a full wake-up of the vCPU. Nor does a wait that
 *      only internal CQEs ended (that SEND's) wait again inside the same
 *      poll: built and measured twice (issue 18), under ffi-rs and under
 *      koffi — one loop iteration per round trip instead of two, the same
 *      two enters, and no less server CPU (ping-pong: cheaper in 16 of 46
 *      interleaved A/B pairs, medians 5 % higher; connect 5 of 12, bulk
 *      14 of 28; docs/uring.md). Why is not proven; likely the reason
 *      above: the empty iteration delays the sleep a few microseconds more.
 *   8. **Batches**: otherwise enter without waiting, with no timeout at all
 *      (a zero timeout arms an already-expired hrtimer: a timer interrupt
 *      and two clock reprogrammings per enter, 15–20 % of bulk-echo server
 *      CPU on this VM) — unless the last enter left a full batch of CQEs
 *      (a backlog: the kernel runs only max(20, min_complete) deferred
 *      completions per enter), then ask for `batch` with a zero timeout, so
 *      one enter drains up to that many.
 */
import type { NodeInterop } from './node-interop.js';

/** Tornado's `_POLL_TIMEOUT`: even an idle loop wakes once an hour. */
export const MAX_POLL_MS = 3600 * 1000;

/** Deferred completions the kernel runs per enter unless more are asked for (IO_LOCAL_TW_DEFAULT_MAX). */
export const TASKRUN_BATCH = 20;

/** What the loop knows when it plans its wait (rules 1–4). */
export interface LoopWaitFacts {
  /** Phase 2 ran a callback or a timeout. */
  ranSomething: boolean;
  /** Callbacks are queued for the next iteration. */
  callbacksQueued: boolean;
  /** The next timeout's deadline on the loop's clock, or null. */
  nextDeadline: number | null;
  /** The loop's clock now (seconds). */
  now: number;
  /** A worker thread's cap (rule 2), or null on the main thread. */
  workerCapMs: number | null;
}

/**
 * Rules 1–4: how long the poll may block, in ms (-1 never: an idle loop
 * waits at most `MAX_POLL_MS`), or null for "ask libuv first" (rule 4,
 * before the hop). `inPollPhase`: planning again from libuv's poll phase.
 */
export function loopWaitMs(facts: LoopWaitFacts, interop: NodeInterop | null, inPollPhase: boolean): number | null {
  let ms = 0; // rule 1
  if (!facts.ranSomething && !facts.callbacksQueued) {
    const next = facts.nextDeadline; // rule 2
    if (next === null) {
      ms = MAX_POLL_MS;
    } else {
      ms = Math.ceil((next - facts.now) * 1000);
      ms = ms <= 0 ? 0 : Math.min(ms, MAX_POLL_MS);
    }
  }
  if (facts.workerCapMs !== null) ms = Math.min(ms, facts.workerCapMs); // rule 2, worker threads
  if (interop === null) return ms;
  if (inPollPhase) return interop.capInPollPhase(ms); // rule 4, asking libuv if ms > 0
  return ms === 0 ? 0 : interop.capBeforeBlocking(ms); // rules 3–4 from what is known
}

/** What a ring poller knows when it plans its enter (rules 5–8). */
export interface RingWaitFacts {
  /** An endpoint has events to report now (rule 5). */
  endpointReady: boolean;
  /** Something was armed for this enter that must be submitted now (rule 6). */
  armedNow: boolean;
  /** CQEs are posted, or the kernel flags deferred completions (rule 6). */
  completed: boolean;
  /** CQEs are posted and unread (rule 7). */
  cqesPosted: boolean;
  /** The last poll skipped its enter (rule 6). */
  skippedLast: boolean;
  /** The last enter left a full batch of CQEs (rule 8). */
  backlog: boolean;
}

/** The enter a ring poller makes (rules 5–8), written into one reused object. */
export interface RingWaitPlan {
  /** Make no enter at all this time (rule 6). */
  skip: boolean;
  /** min_complete for the enter. */
  minComplete: number;
  /** The enter's timeout in ms (-1: forever), or null for none (rule 8). */
  timeoutMs: number | null;
}

/** Rules 5–8 on top of `loopMs` (rules 1–4); `batch`: the most CQEs one enter should gather. */
export function planRingWait(plan: RingWaitPlan, loopMs: number, facts: RingWaitFacts, batch: number): void {
  const waitMs = loopMs !== 0 && facts.endpointReady ? 0 : loopMs; // rule 5
  plan.skip = waitMs === 0 && !facts.armedNow && !facts.completed && !facts.skippedLast; // rule 6
  if (waitMs !== 0 && !facts.cqesPosted) {
    plan.minComplete = 1; // rule 7
    plan.timeoutMs = waitMs;
  } else if (facts.backlog) {
    plan.minComplete = batch; // rule 8, draining a backlog
    plan.timeoutMs = 0;
  } else {
    plan.minComplete = 0; // rule 8
    plan.timeoutMs = null;
  }
}
