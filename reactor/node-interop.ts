/**
 * Node coexistence: how a gale loop that blocks in its own poller keeps
 * Node's event loop (libuv) working. Tornado has no counterpart (its loop
 * owns the thread); the IOLoop talks to this file only through one
 * `NodeInterop` object (at the bottom), whose interface is stated there.
 *
 * 1. libuv's I/O. libuv's backend (its epoll fd on Linux, kqueue on macOS)
 *    is itself pollable: it is readable when any libuv watcher is ready. The
 *    IOLoop registers it like any fd; when it fires, the loop simply yields
 *    to Node (`setImmediate`), and libuv runs the ready work — fs, child
 *    processes, worker messages, signal handlers — before the next iteration.
 *
 * 2. Node's timers are not fds. libuv computes its poll timeout from its
 *    timer heap, and `uv_backend_timeout()` exposes that number. But inside a
 *    `setImmediate` continuation — where the loop's iterations run, or in a
 *    nextTick within one — it always reads 0, because Node's immediate idle
 *    handle is active while immediates run. So when the loop is about to block, it first hops once into
 *    libuv's poll phase through a MessagePort message, where no idle handle
 *    is active and `uv_backend_timeout()` tells exactly how many ms remain
 *    until Node's next timer, and blocks for no longer than that. The hop
 *    costs a few µs (one port message, one FFI call) and happens only before
 *    a blocking wait, so an idle loop still sleeps in the kernel and a busy
 *    one never pays it; and it is skipped while its last answer still holds
 *    (below).
 *
 *    Hopping only when `process.getActiveResourcesInfo()` lists a 'Timeout'
 *    is not enough: that list shows ref'd timers only, and unref'd ones
 *    (Node's socket timeouts, housekeeping intervals) must fire too. For the
 *    same reason the timeout is read while the hop's port still holds libuv
 *    alive: with no active handle `uv_backend_timeout()` reads 0 whatever
 *    timers exist.
 *
 *    Hopping before every blocking wait would cost ~5 µs and one FFI call
 *    each, which an I/O-bound loop pays per message. So the answer is kept
 *    (as a deadline) and reused while it provably holds: a new Node timer,
 *    like anything else asynchronous, takes a fresh async id, and
 *    `asyncIdMark()` shows whether any was taken since the hop (see
 *    `NodeInterop.knownTimeoutMs`; a fired timer reactivated by `refresh()`
 *    takes a fresh id too). In steady I/O with nothing new on Node's side
 *    the loop hops about once a second: an answer is trusted for a second
 *    at most, for timers libuv runs with no async resource behind them
 *    (V8's delayed platform tasks).
 *
 *    Rejected alternatives: capping the poll timeout (busy-polls an idle
 *    loop), patching `setTimeout` (misses timers created before gale loaded,
 *    and `refresh()`), async_hooks hooks (slow every Promise in the process;
 *    the probe above installs none), and
 *    reading libuv's private `uv_loop_t` layout (breaks across versions).
 *    The probe (an `AsyncResource`, ~400 instructions) is the cheapest
 *    public way to read the id counter exactly: `executionAsyncId()`,
 *    `triggerAsyncId()` and `executionAsyncResource()` read the current
 *    context, not the counter, and the counter itself (`async_id_fields`
 *    of Node's async_wrap binding) is reachable only through
 *    `process.binding('async_wrap')`, which Node 20 answers with a runtime
 *    DeprecationWarning (DEP0111) printed in every process that loads gale.
 *
 * 3. Pending `setImmediate` callbacks of the application ('Immediate' in the
 *    same list) make the loop poll without blocking, so they run at once.
 */
import { AsyncResource } from 'node:async_hooks';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { uvBackendFd, uvBackendTimeout, uvDefaultLoop } from './sys/libc.js';

let uvLoop = 0;

function defaultUvLoop(): number {
  if (!uvLoop) uvLoop = uvDefaultLoop();
  return uvLoop;
}

/** libuv's backend fd for this thread's Node event loop. */
export function nodeBackendFd(): number {
  return uvBackendFd(defaultUvLoop());
}

/**
 * Whether the application has setImmediate callbacks queued (one cheap call,
 * no FFI): the loop then polls without blocking, so they run at once.
 */
export function nodeHasImmediates(): boolean {
  return process.getActiveResourcesInfo().includes('Immediate');
}

/**
 * Ms until Node's next timer (-1: none; 0: libuv has work now). Valid only
 * from libuv's poll phase: call it inside `PollPhaseHop`'s callback.
 */
export function nodeTimeoutMs(): number {
  return uvBackendTimeout(defaultUvLoop());
}

const probeOptions = { requireManualDestroy: true };

// Async ids this thread's loops took themselves (their probes, and the
// setImmediates and nextTicks that schedule their iterations), and those
// Node took for its bookkeeping (see `beginNodeBookkeeping`).
let ownAsyncIds = 0;
// Open `beginNodeBookkeeping` calls, the probe's id when the outermost
// began, and whether one took ids since the loop last looked (see below).
let bookkeepingDepth = 0;
let bookkeepingStart = 0;
let bookkeepingTookIds = false;

/**
 * A loop took one async id itself (a `setImmediate` or `process.nextTick`
 * scheduling its next iteration): `asyncIdMark()` leaves it out.
 */
export function tookOwnAsyncId(): void {
  if (bookkeepingDepth === 0) ownAsyncIds++; // inside a bracket, the bracket counts it
}

/**
 * How many async ids were taken on this thread by anything but the loops
 * themselves and Node's bookkeeping (below), as of now (read by allocating
 * one id, ~20 ns). Every async resource — a Timeout, ref'd or not, an
 * Immediate, a request, a nextTick — takes the next id from one counter, so
 * an unchanged mark means none was created in between, except by the loops
 * (their ids are subtracted: see `tookOwnAsyncId`) and by Node's
 * bookkeeping (`beginNodeBookkeeping`, `tookBookkeepingId`).
 */
export function asyncIdMark(): number {
  if (bookkeepingDepth === 0) ownAsyncIds++; // inside a bracket, the bracket counts it
  return probeAsyncId() - ownAsyncIds;
}

function probeAsyncId(): number {
  return new AsyncResource('GALE_PROBE', probeOptions).asyncId();
}

// Node's bookkeeping. Node's TLS objects take async ids for things that are
// no work for libuv and need no turn of Node's: a write request on a
// `JSStream` handle (gale's cipher pipe finishes it itself), the TLSSocket's
// and its handles' ids, the nextTicks of its start and close (queued inside
// the loop's iteration, they run before the next one; queued from a
// continuation after it, right after the next one). Counted as taken, they
// made every iteration that did TLS work hand its turn to Node and throw
// away the cached answer about Node's next timer (2–3 yields and 1–3 hops
// per handshake, each a libuv turn, and a hop also two eventfd syscalls and
// a MessagePort message). So gale's TLS layer declares them, one of two ways:
//
// - a synchronous call into Node's TLS machinery that runs no application
//   code (starting an engine, handing it plaintext or ciphertext, destroying
//   it) is bracketed by `beginNodeBookkeeping`/`endNodeBookkeeping`, and
//   every id taken inside is left out. spec/ssl-bookkeeping pins which
//   kinds of resource Node creates inside (write requests, ticks, the
//   engine's own handles, the immediate below: never a Timeout, a socket or
//   a request for libuv, which need Node's turn);
// - outside such a call, `tookBookkeepingId()` declares one id that is known
//   to be bookkeeping (a `JSStream` write request: each `onwrite` follows
//   the creation of exactly one).
//
// Node may queue an Immediate inside such a call (the TLSSocket's
// `destroySSL`, on its pipe's close): that is no timer, so the answer about
// Node's next timer still holds, but it must run before the loop blocks. So
// a call that took ids makes the next wait look for queued immediates
// (`NodeInterop.capBeforeBlocking`), as a changed mark does.

/**
 * Begins a synchronous call into Node's own machinery whose new async ids
 * are bookkeeping (see above): they are left out of `asyncIdMark` once
 * `endNodeBookkeeping` is called. Calls may nest; the outermost counts.
 * Only around code that runs no application callback.
 */
export function beginNodeBookkeeping(): void {
  if (bookkeepingDepth++ !== 0) return;
  ownAsyncIds++; // the probe below
  bookkeepingStart = probeAsyncId();
}

/** Ends what `beginNodeBookkeeping` began (call it in a `finally`). */
export function endNodeBookkeeping(): void {
  if (--bookkeepingDepth !== 0) return;
  // The ids taken since the start probe, and the end probe itself.
  const taken = probeAsyncId() - bookkeepingStart;
  ownAsyncIds += taken;
  if (taken > 1) bookkeepingTookIds = true;
}

/** Whether a `beginNodeBookkeeping` call is open (for the spec that checks what Node creates inside). */
export function inNodeBookkeeping(): boolean {
  return bookkeepingDepth !== 0;
}

/**
 * Node took one async id for bookkeeping (see above), outside a
 * `beginNodeBookkeeping` call (inside one it is already left out).
 */
export function tookBookkeepingId(): void {
  if (bookkeepingDepth === 0) ownAsyncIds++;
}

/** Whether Node's bookkeeping took ids since the last call (see above): then look for queued immediates. */
function bookkeepingSinceLastLook(): boolean {
  const took = bookkeepingTookIds;
  bookkeepingTookIds = false;
  return took;
}

/**
 * Runs a callback from libuv's poll phase: a message posted to ourselves on
 * a MessagePort is delivered there. The port is unref'd so it never keeps
 * the process alive by itself.
 */
export class PollPhaseHop {
  private readonly sender: MessagePort;
  private readonly receiver: MessagePort;
  private pending: (() => void) | null = null;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.sender = port1;
    this.receiver = port2;
    this.receiver.on('message', () => {
      const run = this.pending;
      this.pending = null;
      run?.();
    });
    this.receiver.unref();
  }

  /** Schedules `run` for libuv's next poll phase (one at a time). */
  schedule(run: () => void): void {
    this.pending = run;
    this.receiver.ref();
    this.sender.postMessage(null);
  }

  /** Lets the port stop holding the process open once the hop ran. */
  settle(): void {
    this.receiver.unref();
  }

  /**
   * Closes the channel. A callback still waiting for its hop runs from a
   * setImmediate instead (its message will never arrive): the loop that
   * scheduled it must get to see that it was closed, and settle.
   */
  close(): void {
    this.sender.close();
    this.receiver.close();
    const run = this.pending;
    this.pending = null;
    if (run) setImmediate(run);
  }
}

/** How long libuv's answer for Node's next timer is reused at most (seconds). */
const ANSWER_TRUST_S = 1;

/**
 * Everything one IOLoop needs to live beside Node's event loop, and all the
 * state it keeps for that. The loop's whole interface to it:
 *
 * - `fd`: libuv's backend fd. The loop registers it for READ; when it is
 *   ready there is nothing to dispatch, the loop just yields to Node.
 * - `capBeforeBlocking(ms)`: the loop is about to block for `ms` (> 0) in
 *   an ordinary iteration (a setImmediate callback). Returns the wait Node
 *   allows — 0 if Node has immediates queued, else `ms` capped by Node's
 *   next timer when the last answer about it still holds — or null: only
 *   libuv's poll phase can tell, so `hop` there first.
 * - `hop(resume)`: runs `resume` once from libuv's poll phase. There,
 *   `capInPollPhase(ms)` asks libuv (only if `ms` > 0), remembers the answer
 *   and lets the hop go; or `settle()` lets it go without asking, for a loop
 *   that stopped meanwhile.
 * - `close()`: releases the hop's channel.
 */
export class NodeInterop {
  /** libuv's backend fd (the loop watches it for READ). */
  readonly fd: number;
  private readonly pollPhase = new PollPhaseHop();
  private readonly now: () => number;
  // Node's next timer as the last hop read it (on `now`'s clock; Infinity:
  // none), when that was, and the async-id mark taken then (-1: none, ask).
  private nodeTimerDeadline = Infinity;
  private answeredAt = 0;
  private asyncMark = -1;
  // Whether the application had immediates queued when the mark was taken.
  private immediatesAtMark = true;
  // The async-id mark as of now, when the loop has just taken one and
  // nothing ran since (-1: take one). See `markStillHolds`.
  private currentMark = -1;

  /** `now` is the loop's clock, in seconds (tests may fake it). */
  constructor(now: () => number) {
    this.now = now;
    this.fd = nodeBackendFd();
  }

  /** See the class comment: `ms` capped by what is known, or null (hop first). */
  capBeforeBlocking(ms: number): number | null {
    const nodeMs = this.knownTimeoutMs();
    // Listing Node's resources (~0.1-0.2 µs and an array) is skipped while
    // no async id was taken since the last mark and none was queued then:
    // an Immediate takes an id, so none can be queued now — unless Node's
    // bookkeeping took it (see `beginNodeBookkeeping`).
    if (bookkeepingSinceLastLook() || nodeMs === null || this.immediatesAtMark) {
      this.immediatesAtMark = nodeHasImmediates();
      if (this.immediatesAtMark) return 0;
    }
    if (nodeMs === null) return null;
    return nodeMs >= 0 && nodeMs < ms ? nodeMs : ms;
  }

  /**
   * Tells the next `capBeforeBlocking` that `asyncIdMark()` would return
   * `mark` now (the loop took it as its iteration started and nothing ran
   * since), so it need not take one again; -1 forgets it. The loop sets it
   * just before it plans a wait and clears it right after.
   */
  markStillHolds(mark: number): void {
    this.currentMark = mark;
  }

  /** Runs `resume` from libuv's next poll phase (one at a time). */
  hop(resume: () => void): void {
    this.pollPhase.schedule(resume);
  }

  /**
   * From `hop`'s callback only: `ms` capped by Node's next timer as libuv
   * tells it now (one FFI call, made only if `ms` > 0); the answer is kept
   * for `capBeforeBlocking`. Lets the hop go.
   */
  capInPollPhase(ms: number): number {
    this.asyncMark = -1;
    if (ms !== 0) {
      // Asked before settle() unrefs the hop's port: with no active handle
      // libuv answers 0 whatever timers exist (see the top of this file).
      const nodeMs = nodeTimeoutMs();
      this.answeredAt = this.now();
      this.nodeTimerDeadline = nodeMs < 0 ? Infinity : this.answeredAt + nodeMs / 1000;
      this.asyncMark = asyncIdMark();
      // libuv answers 0 while ref'd immediates are queued (its idle handle).
      this.immediatesAtMark = nodeMs === 0;
      if (nodeMs >= 0 && nodeMs < ms) ms = nodeMs;
    }
    this.pollPhase.settle();
    return ms;
  }

  /** From `hop`'s callback, when the loop will not poll: lets the hop go. */
  settle(): void {
    this.pollPhase.settle();
  }

  /** Releases the hop's channel (a pending `resume` then runs from a setImmediate). */
  close(): void {
    this.pollPhase.close();
  }

  /**
   * Ms until Node's next timer (-1: none) as the last hop read it, if that
   * answer still holds; null if the loop must hop and ask libuv again.
   *
   * It holds while nothing on this thread created an async resource since:
   * every Node timer, ref'd or not, is one (a Timeout takes a fresh async
   * id), and so is whatever could lead to one (a request, a connection, an
   * immediate, a nextTick). Async ids come from one counter, so a mark
   * (`asyncIdMark`, which leaves out the loops' own ids) unchanged since
   * the last one proves it. Anything else, or the known deadline passing, means ask
   * again. A rescheduled running timer (`refresh()`, an interval re-arming)
   * only moves later, so the old answer just wakes the loop early; a fired
   * timer that `refresh()` reactivates takes a fresh id.
   */
  private knownTimeoutMs(): number | null {
    const previous = this.asyncMark;
    if (previous < 0) return null;
    const mark = this.currentMark >= 0 ? this.currentMark : asyncIdMark();
    if (mark !== previous) {
      this.asyncMark = -1; // stays unknown until libuv is asked again
      return null;
    }
    // A safety net for timers libuv starts with no async resource behind
    // them (V8's delayed platform tasks): trust an answer for a second only.
    const now = this.now();
    const trustMs = Math.ceil((this.answeredAt + ANSWER_TRUST_S - now) * 1000);
    if (trustMs <= 0) return null;
    if (this.nodeTimerDeadline === Infinity) return trustMs;
    const ms = Math.ceil((this.nodeTimerDeadline - now) * 1000);
    return ms > 0 ? Math.min(ms, trustMs) : null;
  }
}
