/**
 * The poller interface: what the IOLoop needs from epoll, poll or kqueue —
 * the role of Tornado's `_impl` objects (`_EPoll`, `_KQueue`, `_Select` in
 * `tornado.platform`) and of asyncio's `selectors`.
 *
 * Event bits are the IOLoop's (READ 0x001, WRITE 0x004, ERROR 0x018), which
 * are also epoll's and poll's own bits on Linux, so those backends pass them
 * through unchanged. Results land in two preallocated arrays (`readyFds`,
 * `readyEvents`) so a poll allocates nothing.
 *
 * ## The readiness contract (stated the way mio's `poll.rs` states its own)
 *
 * Every backend keeps these rules, and every `addHandler` handler can rely
 * on them and must cope with them:
 *
 * - **Level-triggered.** An fd is reported on every poll for as long as it is
 *   ready, not once per change. A handler need not drain the fd: it may read
 *   one chunk and leave the rest for the next iteration, which reports the
 *   fd again. (An edge-triggered backend would report it once, and a handler
 *   that stopped before EAGAIN would never hear of the rest: gale has none.)
 *   The converse: readiness that nobody consumes is reported again and
 *   again, so a handler that cannot act on it must `updateHandler` the bit
 *   away or `removeHandler`, or the loop spins.
 * - **ERROR may arrive alone**, and is always watched (the loop adds it to
 *   every mask; the kernel reports hang-ups and errors whether asked or not).
 *   A refused connect, a reset, a hung-up pipe can come as ERROR with
 *   neither READ nor WRITE, even for a handler that asked only for READ;
 *   and a hang-up stays reported until the fd is removed or closed. Poll
 *   reports a closed-but-registered fd (POLLNVAL) as ERROR; kqueue reports
 *   EOF on a write filter (a refused connect) as ERROR, EOF on a read filter
 *   as READ (data may still be buffered before it).
 * - **Readiness is a hint; wake-ups may be spurious.** A reported READ or
 *   WRITE can find the operation returning EAGAIN (an earlier handler in the
 *   same iteration consumed it, another process accepted the connection,
 *   the kernel changed its mind), and `poll()` can return 0 before its
 *   timeout (a signal: EINTR). A handler treats EAGAIN as "not now" and
 *   waits for the next report; the loop treats 0 as an ordinary iteration.
 *   Reports may also carry bits that were not asked for (ERROR always).
 * - **What a handler must do**: perform the operation until it returns
 *   EAGAIN, or, as gale's streams do, stop earlier and accept the level
 *   re-report (a short read means the socket is drained for now); handle
 *   ERROR on its own; never block.
 * - **Remove before close.** Remove an fd's handler before closing the fd
 *   (Tornado's order). `unregister` never throws for an fd that was closed
 *   first (the kernel already dropped it), but between the close and the
 *   unregister the fd number can be reused by a new fd, whose handler would
 *   then be the old one's. A handler removed during an iteration is not
 *   called for readiness reported in that same iteration.
 * - Each fd is registered at most once. The IOLoop checks its own table
 *   first and throws `FdRegistrationError` for a second `addHandler` or an
 *   `updateHandler` of an unknown fd, so it never asks a backend to
 *   `register` twice or `modify` an fd it does not watch. After `close()`
 *   every call but `unregister` (a no-op then) fails with EBADF instead of
 *   touching freed memory.
 *
 * Backends: ./uring/poller.ts (Linux, the default there when the kernel
 * gives a ring), ./epoll.ts (Linux where it does not), ./kqueue.ts (macOS
 * and the BSDs), ./poll.ts (everywhere). ./pollers.ts makes the one
 * ./loop-options.ts picks (the `poller` option, else `GALE_POLLER`).
 *
 * Above this contract, a stream asks its fd for bytes through the transport
 * contract (./transport.ts): a backend that does I/O itself (the ring)
 * provides its own `transports`; the others get the readiness ones.
 */
import type { TransportFactory } from './transport.js';

export type PollerName = 'epoll' | 'poll' | 'kqueue' | 'uring';

/** A readiness backend. */
export interface Poller {
  /** Which backend this is. */
  readonly name: PollerName;
  /** The ready fds of the last `poll()`, in its first `n` slots. */
  readonly readyFds: Int32Array;
  /** The events of the last `poll()`, parallel to `readyFds`. */
  readonly readyEvents: Int32Array;
  /** Starts watching `fd` for `events`. */
  register(fd: number, events: number): void;
  /** Changes the events watched on `fd` (the loop calls it only on a real change). */
  modify(fd: number, events: number): void;
  /** Stops watching `fd`. Never throws for an fd that was closed first. */
  unregister(fd: number): void;
  /**
   * Waits up to `timeoutMs` (-1: forever) and returns how many fds are
   * ready. A signal (EINTR) returns 0, so the loop can let Node run its
   * signal handlers.
   */
  poll(timeoutMs: number): number;
  /** Releases the backend's own fd and memory. */
  close(): void;
  /**
   * Hands the kernel whatever this poller has queued and not yet submitted
   * (a completion-based poller queues requests between waits); called when
   * the loop stops, so nothing written waits for a loop that may never run
   * again. Readiness pollers queue nothing and leave it out.
   */
  submitPending?(): void;
  /**
   * The transports streams and listeners on this backend get (./transport.ts).
   * A backend that does the I/O itself (the ring) provides them; readiness
   * backends leave it out and the loop uses ./readiness-transport.ts.
   */
  readonly transports?: TransportFactory;
  /**
   * Trace mode (`new IOLoop({ trace: true })`): from now on, remember what
   * each poll did below the readiness it reported, for `traceLastPoll`.
   * Readiness pollers have nothing to add and leave both out.
   */
  traceOn?(): void;
  /** Trace mode: what the last poll did (the ring: its SQEs, its CQEs by kind), or null. */
  traceLastPoll?(): string | null;
}

/** READ/WRITE/ERROR, as the IOLoop defines them. */
export const READ = 0x001;
export const WRITE = 0x004;
export const ERROR = 0x018;

/** How many ready fds one poll reports at most (the rest wait for the next). */
export const MAX_EVENTS = 1024;
