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
 * ## Memory
 * Slots come from the ring's free lists (./send-memory.ts) and go back as soon
 * as their SEND has completed: a socket holds at most the `limit` its
 * owner fills up to (./socket-transport.ts: SEND_BUFFER), and all the
 * sockets of a ring together at most their `SendBudget` (below) — what
 * the kernel's `tcp_mem` pressure does for socket buffers on epoll.
 */
import { errno as E } from '../sys/errors.js';
import { IOSQE_IO_LINK } from './ring.js';
import { LARGE_SLOT, type SendBudget, type SendSlot, type SendSlots } from './send-memory.js';
import { KIND_SEND } from './endpoint.js';
import type { Ring } from './ring.js';
import { Deque } from '../deque.js';

const MSG_WAITALL = 0x100;
const MSG_NOSIGNAL = 0x4000;

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
  readonly completionStats: { shortSends: number; sendCopiedBytes: number };
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

  constructor(private readonly host: SendHost, private readonly fd: number,
    private readonly id: number, private readonly gen: number) {}

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

  /**
   * Submits what is queued as one linked chain of at most MAX_CHAIN SENDs,
   * unless a chain is in flight (the rest follows when its last CQE is in).
   */
  submit(): void {
    if (this.inFlight > 0 || this.entries.length === 0) return;
    const ring = this.host.ring;
    const end = Math.min(this.entries.length, MAX_CHAIN, ring.sqEntries);
    // All of the chain's SQEs in one submission, or the kernel splits it.
    ring.reserve(end);
    const last = end - 1;
    const udHi = (KIND_SEND << 24) | this.gen;
    for (let i = 0; i <= last; i++) {
      const entry = this.entries.at(i);
      ring.send(this.fd, entry.slot.addr + entry.sent, entry.length - entry.sent,
        MSG_NOSIGNAL | MSG_WAITALL, this.id, udHi, i === last ? 0 : IOSQE_IO_LINK);
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
    if (this.inFlight === 0) return true; // not ours (abandoned)
    this.inFlight--;
    if (this.broken) {
      // The rest of a broken chain: cancelled by the kernel, still queued.
    } else {
      const entry = this.entries.at(0);
      const left = entry.length - entry.sent;
      if (res === left) {
        this.sent += left;
        this.bytes -= left;
        this.host.sendBudget.adjust(-left);
        this.popHead();
      } else if (res > 0) {
        entry.sent += res;
        this.bytes -= res;
        this.host.sendBudget.adjust(-res);
        this.sent += res;
        this.host.completionStats.shortSends++;
        this.broken = true;
      } else {
        this.errno = res < 0 ? -res : E.EPIPE;
        this.broken = true;
      }
    }
    if (this.inFlight > 0) return false;
    this.broken = false;
    if (this.errno !== 0 || this.cancelled) this.clear();
    else if (this.bytes > 0) this.submit();
    return this.inFlight === 0;
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

  /** The ring is gone: nothing is in flight any more. */
  abandon(): void {
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
