/**
 * The SENDs of one completion socket (ring sends): bytes copied into native
 * slots, submitted as one chain of linked SENDs, and what the kernel has
 * taken so far. No Tornado counterpart (Tornado calls send() on readiness);
 * ./socket-transport.ts decides when to fill it and what its completions
 * mean for the stream.
 *
 * ## Order
 * Bytes must reach the socket in the order the stream wrote them. Two SENDs
 * in flight on one socket that are not linked may run in either order (one
 * waits for POLLOUT, the other is tried inline), so a chain is only ever
 * submitted when nothing is in flight, and the SENDs of one chain are linked
 * (`IOSQE_IO_LINK`): the kernel runs them one after another and posts their
 * CQEs in order. `MSG_WAITALL` makes the kernel retry a partial send on a
 * stream socket itself, so a short result means it stopped on an error: a
 * short or failed SEND breaks the link, the rest of the chain completes with
 * -ECANCELED, and once the last of its CQEs is in, what is left is
 * resubmitted from where the short one stopped (or dropped, after an error).
 *
 * A chain is at most MAX_CHAIN SENDs (never more than the SQ holds), and its
 * SQEs are written only once the SQ has room for all of them
 * (`Ring.reserve`). The kernel ends a chain at the end of each submission:
 * a chain longer than the SQ used to be split by the SQ-full flush into two
 * chains running side by side, which sent the bytes out of order and posted
 * their CQEs interleaved, so `complete` took one chain's CQE for the
 * other's head entry, counted a "short" SEND and sent bytes again (8 MiB
 * queued as 1000-byte writes in 4 KiB slots: 2,049 SENDs, 1,024 SQEs;
 * spec/write-contract.spec.ts). What is queued beyond MAX_CHAIN goes as the
 * next chain, once this one's last CQE is in.
 *
 * ## Quiet SENDs: no CQE for a reply that goes out at once
 * A chain of one SEND (a reply, the usual write) goes out with
 * `IOSQE_CQE_SKIP_SUCCESS` and `MSG_DONTWAIT` where the kernel can skip
 * CQEs. Its CQE was what woke the loop's blocking wait in an echo (the
 * SEND completes inside the enter that submits it), costing a second loop
 * iteration per round trip. The slot is free again once the kernel has
 * stopped reading it, and for a non-zerocopy SEND that is when the send
 * returns: the bytes are copied into the socket's buffer then. A SEND
 * that cannot complete at once (the socket's buffer full) would be parked
 * on an internal poll and read the slot later, with no CQE to say when;
 * `MSG_DONTWAIT` sets REQ_F_NOWAIT, and io_queue_async then fails an
 * -EAGAIN instead of parking it. So a quiet SEND is issued inline during
 * the enter that consumes its SQE (it is never linked, so never queued
 * behind another request) and either sent everything (no CQE) or failed,
 * and a failure always posts its CQE (req_set_fail clears the skip flag),
 * in that same enter: -EAGAIN, the partial count (`MSG_WAITALL`'s retry
 * is refused by REQ_F_NOWAIT too: io_sendrecv_fail reports what was done),
 * or the error. Hence the rule the poller applies after harvesting
 * (`quietDone`): once the SQ head has passed the SEND's SQE and the CQ has
 * been read to the end (with no overflow held back), a quiet SEND that
 * got no CQE sent all of its bytes. After a quiet SEND fails short, the
 * socket's next SENDs are ordinary ones (the kernel waits for room and
 * posts their CQEs) until its queue has drained: a socket that is full
 * does not try again on every enter. Checked against Linux 6.18's
 * io_uring/net.c (io_sendmsg_prep, io_send, io_sendrecv_fail) and
 * io_uring.c (io_queue_async); docs/uring.md.
 *
 * ## Direct SENDs: a large write sent without a copy
 * A write of one part of 32–64 KiB — a chunk the provided buffers handed
 * over (./provided-buffers.ts) that the stream writes back, or a Buffer of
 * the caller's own that a `readInto` loop reuses — was copied into a slot
 * like any write, 64 KiB of `memmove` per chunk: most of a bulk echo's
 * user time. Its address comes from koffi (../sys/ffi.ts `addressOf`). The write contract
 * lets the caller reuse its Buffer as soon as `write()` resolves its
 * Future, which on a ring is inside `write()`, so the kernel may read the
 * caller's memory only before `send` returns. `sendNow` therefore writes a
 * quiet SEND (`MSG_DONTWAIT`, no CQE on success) from the chunk's own
 * memory and submits it at once (one io_uring_enter): issued inline, it is
 * over when the enter returns (see "Quiet SENDs"). No CQE for it and its
 * SQE consumed: every byte was sent, nothing is copied. Otherwise (the
 * socket's buffer was full: -EAGAIN or a short count waits in the CQ) the
 * chunk is copied into a slot then — the caller still cannot have touched
 * it — and the queue goes on as after any quiet SEND that failed: its CQE
 * resends the rest from the slot as an ordinary SEND. Only for a queue
 * with nothing queued or in flight (order), and where quiet SENDs are on.
 * The price is that enter, one FFI call per chunk, against the copy.
 *
 * ## Memory
 * Slots come from the ring's free lists (./send-memory.ts) and go back as soon
 * as their SEND has completed: a socket holds at most the `limit` its
 * owner fills up to (./socket-transport.ts: SEND_BUFFER), and all the
 * sockets of a ring together at most their `SendBudget` (below) — what
 * the kernel's `tcp_mem` pressure does for socket buffers on epoll.
 */
import { errno as E } from '../sys/errors.js';
import { IOSQE_CQE_SKIP_SUCCESS, IOSQE_IO_LINK } from './ring.js';
import { LARGE_SLOT, type SendBudget, type SendSlot, type SendSlots } from './send-memory.js';
import { KIND_SEND } from './endpoint.js';
import type { Ring } from './ring.js';
import { Deque } from '../deque.js';

const MSG_WAITALL = 0x100;
const MSG_NOSIGNAL = 0x4000;
const MSG_DONTWAIT = 0x40;
/** An ordinary SEND's flags: no SIGPIPE, and the kernel retries a partial send. */
const SEND_FLAGS = MSG_NOSIGNAL | MSG_WAITALL;
/** A quiet SEND's (see the file comment): also fail rather than park. */
const QUIET_SEND_FLAGS = SEND_FLAGS | MSG_DONTWAIT;

/** One slot's worth of queued bytes. */
interface Entry {
  slot: SendSlot;
  length: number;
  /** Bytes of it the kernel has taken (a short SEND goes on from here). */
  sent: number;
}

/**
 * The most SENDs one chain links (see the file comment). 256 × 64 KiB
 * slots is more than SEND_BUFFER, so a queue of large slots always goes as
 * one chain; a streak of small writes fills large slots too (`fill`).
 */
export const MAX_CHAIN = 256;

/** What a send queue needs from its socket's poller. */
export interface SendHost {
  readonly ring: Ring;
  readonly slots: SendSlots;
  readonly sendBudget: SendBudget;
  readonly completionStats: { shortSends: number; sendCopiedBytes: number; sendDirectBytes: number; quietSends: number; quietRetries: number };
  /** Whether a chain of one SEND may go quiet (the kernel can skip CQEs, and the host wants it). */
  readonly quietSends: boolean;
  /** A quiet SEND of this queue was written (see the file comment): the host concludes it after an enter. */
  quietSendWritten(queue: SendQueue): void;
}

/** The queued and in-flight SENDs of one socket. */
export class SendQueue {
  /** Bytes queued and not yet taken by the kernel. */
  bytes = 0;
  /** SENDs submitted whose CQEs have not arrived. */
  inFlight = 0;
  /** Bytes the kernel has taken since the queue was made. */
  sent = 0;
  /** The errno a SEND failed with (0: none); the queue is dropped then. */
  errno = 0;
  /**
   * The owner cancelled the SENDs in flight (a lingering close cut short):
   * once their CQEs are in, what is left is dropped, not resubmitted (a
   * cancelled SEND that had sent part of its bytes looks like a short one).
   */
  cancelled = false;
  /** The SEND in flight is a quiet one (no CQE if it sends everything; see the file comment). */
  quiet = false;
  /** The SQ position (`Ring.sqPosition`) right after the quiet SEND's SQE. */
  quietPosition = 0;
  /** In its poller's list of quiet SENDs to settle (the poller's bookkeeping). */
  quietListed = false;
  /** Whether the next chain of one may go quiet: not since a quiet SEND failed short, until the queue drains. */
  private quietAllowed = true;

  // Never truncated (../deque.ts): an echo fills and empties it every round trip.
  private readonly entries = new Deque<Entry>();
  /**
   * Entries whose SEND is done, reused by the next (an echo made one per
   * round trip, ~45 bytes of garbage); at most as many as were ever queued at once.
   */
  private readonly spareEntries: Entry[] = [];
  /** How many entries from the front are in a submitted chain: small writes are appended only to a later one. */
  private submitted = 0;
  /** The chain in flight broke (short or failed SEND): its remaining CQEs are -ECANCELED. */
  private broken = false;

  /** The high word of every SEND's user_data (kind and generation). */
  private readonly udHi: number;

  constructor(private readonly host: SendHost, private readonly fd: number,
    readonly id: number, readonly gen: number) {
    this.udHi = (KIND_SEND << 24) | gen;
  }

  /** Whether anything is queued or in flight. */
  busy(): boolean {
    return this.inFlight > 0 || this.bytes > 0;
  }

  /**
   * Copies the bytes of `parts` (from `parts[first]` at `offset`), after
   * skipping `skip` of them, into slots, until `limit` bytes are queued.
   * Returns how many it copied.
   */
  fill(parts: readonly Uint8Array[], first: number, offset: number, skip: number, limit: number): number {
    if (skip === 0 && parts.length - first === 1) {
      // One part that fits where it goes (a reply): the fast path below.
      const part = parts[first]!;
      const n = part.length - offset;
      if (n > 0 && n <= limit - this.bytes && n <= LARGE_SLOT) {
        const entries = this.entries;
        const last = entries.length - 1;
        let entry: Entry | null = null;
        if (last < this.submitted) entry = this.newEntry(n);
        else {
          const tail = entries.at(last);
          if (tail.slot.size - tail.length >= n) entry = tail;
        }
        if (entry !== null) return this.copyIn(entry, offset === 0 ? part : part.subarray(offset));
      }
    }
    let i = first;
    let start = offset;
    while (i < parts.length && skip > 0) {
      const left = parts[i]!.length - start;
      if (skip < left) {
        start += skip;
        skip = 0;
        break;
      }
      skip -= left;
      i++;
      start = 0;
    }
    let copied = 0;
    const last = this.entries.length - 1;
    let slot: Entry | null = last >= this.submitted ? this.entries.at(last) : null;
    while (i < parts.length && this.bytes < limit) {
      const part = parts[i]!;
      // `length`, not `byteLength` (the same for bytes): TurboFan inlines the
      // first and leaves the second a generic property load (~200
      // instructions) on the Buffers streams hand over.
      const available = part.length - start;
      if (available <= 0) {
        i++;
        start = 0;
        continue;
      }
      if (slot === null || slot.length === slot.slot.size) {
        // Continuing a full slot means a streak of writes: a large slot, so
        // a chain carries up to MAX_CHAIN × 64 KiB, not MAX_CHAIN × 4 KiB.
        const want = slot === null ? this.remaining(parts, i, start) : LARGE_SLOT;
        slot = this.newEntry(Math.min(limit - this.bytes, want));
      }
      const take = Math.min(available, slot.slot.size - slot.length, limit - this.bytes);
      slot.slot.bytes.set(take === part.length ? part : part.subarray(start, start + take), slot.length);
      slot.length += take;
      this.bytes += take;
      copied += take;
      start += take;
    }
    this.host.sendBudget.adjust(copied);
    this.host.completionStats.sendCopiedBytes += copied;
    return copied;
  }

  /** Copies all of `bytes` to the end of `entry` (which has room for them); returns how many. */
  private copyIn(entry: Entry, bytes: Uint8Array): number {
    const n = bytes.length;
    entry.slot.bytes.set(bytes, entry.length);
    entry.length += n;
    this.bytes += n;
    this.host.sendBudget.adjust(n);
    this.host.completionStats.sendCopiedBytes += n;
    return n;
  }

  /** Whether `sendNow` may send a chunk now: nothing queued or in flight, and quiet SENDs on and allowed. */
  canSendNow(): boolean {
    return this.inFlight === 0 && this.bytes === 0 && this.errno === 0 && this.mayGoQuiet();
  }

  /** Whether the next SEND may go quiet: quiet SENDs on, none failed short since the queue last drained, not cancelled. */
  private mayGoQuiet(): boolean {
    return this.quietAllowed && this.host.quietSends && !this.cancelled;
  }

  /** Writes a quiet SEND of `length` bytes at `addr`; returns the SQ position right after it. */
  private writeQuietSend(addr: number, length: number): number {
    const ring = this.host.ring;
    ring.send(this.fd, addr, length, QUIET_SEND_FLAGS, this.id, this.udHi, IOSQE_CQE_SKIP_SUCCESS);
    this.host.completionStats.quietSends++;
    return ring.sqPosition();
  }

  /** The quiet SEND whose SQE ends at `position` is this queue's one SEND in flight: the host concludes it. */
  private quietInFlight(position: number): void {
    this.inFlight = 1;
    this.submitted = 1;
    this.quiet = true;
    this.quietPosition = position;
    this.host.quietSendWritten(this);
  }

  /**
   * Sends `bytes` (at most LARGE_SLOT, at native address `addr`: memory JS
   * holds) from where they are, submitted at once (a "direct SEND", see the
   * file comment; call only when `canSendNow()`). When it returns, the
   * kernel no longer reads `bytes`: they were sent, or they are in a slot
   * and go on as a quiet SEND that failed. Every byte counts as taken.
   */
  sendNow(bytes: Uint8Array, addr: number): void {
    const ring = this.host.ring;
    const length = bytes.length;
    const position = this.writeQuietSend(addr, length);
    ring.flush();
    const stats = this.host.completionStats;
    if (ring.consumed(position) && !ring.cqOverflowed() && !ring.hasCqe(this.id, this.udHi)) {
      // Issued inline, no CQE: sent in full.
      this.sent += length;
      stats.sendDirectBytes += length;
      return;
    }
    // A failure CQE waits (or one may, if the CQ overflowed): the bytes go to
    // a slot now, the SEND is this queue's quiet SEND in flight, and its CQE
    // (or, if none comes, its settling) concludes it.
    const entry = this.newEntry(length);
    entry.slot.bytes.set(bytes, 0);
    entry.length = length;
    this.bytes += length;
    this.host.sendBudget.adjust(length);
    stats.sendCopiedBytes += length;
    // Not consumed (the enter submitted less than asked): the SQE must not point at the caller's memory.
    if (!ring.consumed(position)) ring.setSendAddr(position, entry.slot.addr);
    this.quietInFlight(position);
  }

  /**
   * Submits what is queued as one linked chain of at most MAX_CHAIN SENDs,
   * unless a chain is in flight (the rest follows when its last CQE is in).
   */
  submit(): void {
    if (this.inFlight > 0 || this.entries.length === 0) return;
    if (this.entries.length === 1 && this.mayGoQuiet()) {
      const entry = this.entries.at(0);
      this.quietInFlight(this.writeQuietSend(entry.slot.addr + entry.sent, entry.length - entry.sent));
      return;
    }
    const ring = this.host.ring;
    const end = Math.min(this.entries.length, MAX_CHAIN, ring.sqEntries);
    // All of the chain's SQEs in one submission, or the kernel splits it.
    ring.reserve(end);
    const last = end - 1;
    for (let i = 0; i <= last; i++) {
      const entry = this.entries.at(i);
      ring.send(this.fd, entry.slot.addr + entry.sent, entry.length - entry.sent,
        SEND_FLAGS, this.id, this.udHi, i === last ? 0 : IOSQE_IO_LINK);
      this.inFlight++;
    }
    this.submitted = end;
  }

  /**
   * One SEND's CQE (`res`: bytes or -errno). Returns true once the chain
   * is over (nothing in flight); what is left queued is then resubmitted,
   * unless a SEND failed, in which case the queue is dropped and `errno` set.
   */
  complete(res: number): boolean {
    if (this.quiet && res > 0) {
      // A quiet SEND (a chain of one, so nothing else in flight and the
      // chain not broken) that sent all it carried: settled without a CQE,
      // the usual reply. Its entry goes, and what was queued behind it goes next.
      const entry = this.entries.at(0);
      const left = entry.length - entry.sent;
      if (res === left) {
        this.quiet = false;
        this.inFlight = 0;
        this.took(entry, left);
        this.popHead();
        return this.chainOver();
      }
    }
    if (this.inFlight === 0) return true; // not ours (abandoned)
    this.inFlight--;
    const quiet = this.quiet;
    this.quiet = false;
    const quietLeft = quiet ? this.quietLength() : 0;
    if (quiet && res !== quietLeft) {
      // Not sent at once (the socket's buffer full, or an error): what
      // follows waits in the kernel, with CQEs, until the queue drains.
      this.quietAllowed = false;
      if (res >= 0 || res === -E.EAGAIN) this.host.completionStats.quietRetries++;
    }
    if (quiet && res === -E.EAGAIN) {
      // Nothing taken: resubmitted below as an ordinary SEND.
    } else if (quiet && res > 0 && res < quietLeft) {
      // Part taken (MSG_DONTWAIT refused MSG_WAITALL's wait): the rest goes as an ordinary SEND.
      this.took(this.entries.at(0), res);
    } else if (this.broken) {
      // The rest of a broken chain: cancelled by the kernel, still queued.
    } else {
      const entry = this.entries.at(0);
      const left = entry.length - entry.sent;
      if (res === left) {
        this.took(entry, left);
        this.popHead();
      } else if (res > 0) {
        this.took(entry, res);
        this.host.completionStats.shortSends++;
        this.broken = true;
      } else {
        this.errno = res < 0 ? -res : E.EPIPE;
        this.broken = true;
      }
    }
    if (this.inFlight > 0) return false;
    return this.chainOver();
  }

  /**
   * The chain's last CQE is in: drop the queue if a SEND failed or the
   * queue was cancelled, else submit what waits as the next chain. Returns
   * true if nothing is in flight then.
   */
  private chainOver(): boolean {
    this.broken = false;
    if (this.errno !== 0 || this.cancelled) this.clear();
    else if (this.bytes > 0) this.submit();
    else this.quietAllowed = true; // drained: the next reply may go quiet again
    return this.inFlight === 0;
  }

  /** The kernel took `n` bytes of `entry`: counted as sent, out of the queue's bytes and the budget. */
  private took(entry: Entry, n: number): void {
    entry.sent += n;
    this.bytes -= n;
    this.host.sendBudget.adjust(-n);
    this.sent += n;
  }

  /** Frees every slot and forgets what was queued (the requests are gone or failed). */
  clear(): void {
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) this.host.slots.put(entries.at(i).slot);
    entries.clear();
    this.submitted = 0;
    const dropped = this.bytes;
    this.bytes = 0;
    this.host.sendBudget.adjust(-dropped);
  }

  /**
   * Whether the quiet SEND in flight is over without a CQE (see the file
   * comment): its SQE consumed, so, once the caller has read the CQ to the
   * end without finding its failure, it sent everything (`quietLength()`
   * bytes: the caller completes it with that). False if none is waiting.
   */
  quietSettled(ring: Ring): boolean {
    return this.quiet && ring.consumed(this.quietPosition);
  }

  /** The bytes the quiet SEND in flight carries (what its success means). */
  quietLength(): number {
    const entry = this.entries.at(0);
    return entry.length - entry.sent;
  }

  /** The ring is gone: nothing is in flight any more. */
  abandon(): void {
    this.quiet = false;
    this.quietListed = false;
    this.inFlight = 0;
    this.broken = false;
    this.clear();
  }

  private newEntry(want: number): Entry {
    const slot = this.host.slots.get(Math.min(want, LARGE_SLOT));
    const entry = this.spareEntries.pop();
    if (entry === undefined) {
      this.entries.push({ slot, length: 0, sent: 0 });
    } else {
      entry.slot = slot;
      entry.length = 0;
      entry.sent = 0;
      this.entries.push(entry);
    }
    return this.entries.at(this.entries.length - 1);
  }

  private popHead(): void {
    const entry = this.entries.shift()!; // called only while it holds one
    this.host.slots.put(entry.slot);
    this.spareEntries.push(entry);
    if (this.submitted > 0) this.submitted--;
  }

  /** Bytes of `parts` from `parts[i]` at `start` on, counted up to a large slot's worth. */
  private remaining(parts: readonly Uint8Array[], i: number, start: number): number {
    let total = -start;
    for (let j = i; j < parts.length && total < LARGE_SLOT; j++) total += parts[j]!.length;
    return total;
  }
}
