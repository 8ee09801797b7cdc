/**
 * One in-flight operation of a completion endpoint: a RECV, a POLLOUT, a
 * CONNECT, a pipe's READ, an acceptor's ACCEPT in one of its slots — from
 * the SQE that starts it to the CQE that ends it. tokio-uring keeps one
 * such lifecycle record per operation (`Op<T>`: submitted, completed,
 * cancelled while its buffer must stay alive); so do gale's endpoints,
 * instead of a pair of hand-rolled "armed"/"cancelling" flags each.
 *
 * The lifecycle:
 *
 *   idle --start()--> armed --(its final CQE) finish()--> idle
 *                       |
 *                       +--cancel()--> armed + cancelling --finish()--> idle
 *
 * - `udHi` is the high word of its `user_data`: its kind (which of the
 *   endpoint's operations, ./endpoint.ts) and the endpoint's generation, so
 *   a CQE finds it and a stale one (an older endpoint on the same id) does
 *   not.
 * - `buffer` is the native memory its SQE points at (a READ's buffer, a
 *   CONNECT's sockaddr). While armed the kernel may still read or write it:
 *   the owner frees it only once `armed` is false — after the CQE, or once
 *   the ring is gone (`abandon`). (An acceptor's ACCEPTs point into one
 *   region of address slots that the acceptor frees when none is armed.)
 * - A multishot operation (RECV) stays armed across CQEs; the one without
 *   IORING_CQE_F_MORE finishes it.
 */
import type { Region } from '../sys/arena.js';
import type { Ring } from './ring.js';

/** One operation's lifecycle (see the file comment). */
export class Operation {
  /** user_data high word: kind << 24 | generation. */
  readonly udHi: number;
  /** Its SQE is written and its final CQE not yet seen. */
  armed = false;
  /** A cancel of it is written: its final CQE will end it (-ECANCELED, or a result that raced the cancel). */
  cancelling = false;
  /** The native memory its SQE points at, or null: the kernel's while `armed`. */
  buffer: Region | null = null;

  /**
   * `endpointId`: the user_data low word of every operation of its
   * endpoint. `isPoll`: a POLL_ADD, cancelled with POLL_REMOVE.
   */
  constructor(readonly endpointId: number, kind: number, gen: number, private readonly isPoll = false) {
    this.udHi = (kind << 24) | gen;
  }

  /** Its SQE has just been written (with this user_data). */
  start(): void {
    this.armed = true;
    this.cancelling = false;
  }

  /** Its final CQE has arrived (or the ring is gone): the memory it used is the owner's again. */
  finish(): void {
    this.armed = false;
    this.cancelling = false;
  }

  /**
   * Writes its cancel (ASYNC_CANCEL, or POLL_REMOVE for a poll), once: a
   * second call while one is in flight writes nothing. Returns whether it
   * is still in flight.
   */
  cancel(ring: Ring): boolean {
    if (!this.armed) return false;
    if (!this.cancelling) {
      if (this.isPoll) ring.pollRemove(this.endpointId, this.udHi);
      else ring.cancel(this.endpointId, this.udHi);
      this.cancelling = true;
    }
    return true;
  }
}
