/**
 * The contract between the uring poller and the things that do I/O on the
 * ring rather than being polled: a stream socket's completion transport
 * (./socket-transport.ts), a listener's acceptor. No Tornado counterpart
 * (Tornado's loop only polls).
 *
 * ## Readiness emulated from completions
 * The IOLoop and the streams above it speak readiness: a handler watches
 * READ/WRITE on a fd and is called when it may act. An endpoint keeps the
 * requests it owns in flight on the ring (a multishot RECV, a SEND, an
 * ACCEPT…), folds their completions into its own state, and says from that
 * state which events to report (`readyEvents`), level-triggered: the poller
 * asks every active endpoint after each enter and reports it next to the
 * polled fds. The loop cannot tell the difference, so nothing above the
 * reactor has a second copy of its logic.
 *
 * ## Who does what
 * - The poller owns the ring, the id table and the lists: it calls `arm()`
 *   on every endpoint marked dirty just before its one `io_uring_enter`,
 *   routes each CQE whose `user_data` names an endpoint to `complete()`,
 *   and calls `readyEvents()` on the active ones after harvesting.
 * - An endpoint owns its requests: which SQEs to write (`arm`), what a CQE
 *   means (`complete`), what to cancel when its fd is closed (`detach`).
 *
 * ## user_data
 * Low word: the endpoint's id (an index in the poller's table, reused);
 * high word: `kind << 24 | generation`. The generation changes every time an
 * id is reused, so a CQE from a closed endpoint never reaches the next one
 * on the same id or fd number; the kind tells the endpoint which of its
 * requests completed. Kind 0 marks internal requests (cancels, removes) and
 * KIND_POLL the poller's own polls.
 */
import type { Ring } from './ring.js';

/** user_data high word: kind << 24 | generation (24 bits; 0 is never a generation). */
export const GEN_MASK = 0xffffff;

/** The kinds of request in `user_data`'s top byte. */
export const KIND_POLL = 1;
export const KIND_RECV = 2;
export const KIND_POLLOUT = 3;
export const KIND_SEND = 4;
/** Kinds 0x80–0xff: an acceptor's single-shot ACCEPTs, one kind per sockaddr slot (./acceptor.ts). */
export const KIND_ACCEPT_SLOT = 0x80;
export const KIND_CLOSE = 6;
export const KIND_CONNECT = 7;
export const KIND_READ = 8;
/** A completion socket's one-shot POLL_ADD for a hang-up its RECV cannot see (./socket-transport.ts). */
export const KIND_HANGUP = 9;

/** The next generation after `gen` (never 0). */
export function nextGen(gen: number): number {
  const next = (gen + 1) & GEN_MASK;
  return next === 0 ? 1 : next;
}

/** What an endpoint needs from its poller. */
export interface EndpointHost {
  /** The ring to write SQEs into (valid while `ring.fd >= 0`). */
  readonly ring: Ring;
  /** Calls the endpoint's `arm()` before the next enter. */
  markDirty(endpoint: CompletionEndpoint): void;
  /** Asks the endpoint's `readyEvents()` after the next enter. */
  markActive(endpoint: CompletionEndpoint): void;
  /** The endpoint's fd is about to be closed: cancel its requests now (see `detach`). */
  detach(endpoint: CompletionEndpoint): void;
  /**
   * Submits what is queued, then tells whether a CQE of this endpoint's
   * request `kind` waits unread in the CQ (the endpoint must not act on
   * the fd directly before it has seen that completion).
   */
  completionWaiting(endpoint: CompletionEndpoint, kind: number): boolean;
}

/** One fd doing its I/O on the ring (see the file comment). */
export interface CompletionEndpoint {
  /** The endpoint's fd. */
  readonly fd: number;
  /** Its index in the poller's table (user_data low word). */
  readonly id: number;
  /** Its generation (user_data high word, low 24 bits). */
  readonly gen: number;
  /** Set once its fd is closed (or being closed); it then only waits for its requests to end. */
  detached: boolean;
  /** In the poller's active list (asked for `readyEvents` after each enter). */
  active: boolean;
  /** In the poller's dirty list (`arm` runs before the next enter). */
  dirty: boolean;
  /** The loop (un)watches the fd: `events` are READ/WRITE; `registered` whether it is registered at all. */
  watch(events: number, registered: boolean): void;
  /** The events to report now, level-triggered. */
  readyEvents(): number;
  /** These events were just reported (a one-shot request behind them may need re-arming). */
  reported(events: number): void;
  /** Writes the SQEs that bring its requests in line with its state. */
  arm(): void;
  /** One of its CQEs: `kind` from user_data, the result and the CQE flags. */
  complete(kind: number, res: number, flags: number): void;
  /**
   * Its fd is about to be closed: write the SQEs that make the kernel let go
   * of the file (cancels, removes). Returns whether they must be submitted
   * at once (a request in flight holds a reference to the file).
   */
  cancelForClose(): boolean;
  /**
   * Whether the ring itself closes the fd (its CLOSE queued behind the
   * cancels `cancelForClose` wrote, or once the SENDs are done): then
   * nothing needs those SQEs in the kernel before the loop's next enter.
   */
  closesThroughRing?(): boolean;
  /** Whether a request of it is still in flight (its id stays taken until none is). */
  inFlight(): boolean;
  /** The ring is gone: forget every request and drop what it holds. */
  abandon(): void;
}
