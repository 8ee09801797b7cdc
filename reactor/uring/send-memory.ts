/**
 * The native memory ring sends are made from, and the cap on it: free
 * lists of send slots shared by the sockets of one ring, and the ring-wide
 * send budget. No Tornado counterpart (Tornado's send() takes Python
 * bytes). ./send-queue.ts fills slots and gives them back; the poller owns
 * one of each per ring and frees the slots with it.
 */
import { allocRegion, freeRegion, type Region } from '../sys/arena.js';

/** A native area a SEND is made from (a region of reactor/sys/arena.ts). */
export interface SendSlot {
  readonly addr: number;
  readonly size: number;
  readonly view: Buffer;
  /**
   * The same memory as a plain Uint8Array: what bytes are copied in
   * through. `set` on it is a known method; on the Buffer view, TurboFan
   * left the load of `set` generic (a LoadIC call per write).
   */
  readonly bytes: Uint8Array;
  readonly region: Region;
}

/** Slot sizes: small writes (echoes, requests) and bulk. */
export const SMALL_SLOT = 4096;
export const LARGE_SLOT = 64 * 1024;

/** Free lists of send slots (ring sends), allocated on demand, freed with the ring. */
export class SendSlots {
  private readonly small: SendSlot[] = [];
  private readonly large: SendSlot[] = [];
  private readonly all: SendSlot[] = [];

  /** A slot that holds `length` bytes (at most LARGE_SLOT are sent from one). */
  get(length: number): SendSlot {
    const list = length <= SMALL_SLOT ? this.small : this.large;
    const slot = list.pop();
    if (slot !== undefined) return slot;
    const size = length <= SMALL_SLOT ? SMALL_SLOT : LARGE_SLOT;
    const region = allocRegion(size);
    const view = region.view;
    const made: SendSlot = { addr: region.addr, size, view, bytes: new Uint8Array(view.buffer, view.byteOffset, size), region };
    this.all.push(made);
    return made;
  }

  /** Returns a slot to its free list. */
  put(slot: SendSlot): void {
    (slot.size === SMALL_SLOT ? this.small : this.large).push(slot);
  }

  /** Frees every slot; no slot may be used afterwards. */
  freeAll(): void {
    for (const slot of this.all) freeRegion(slot.region);
    this.all.length = 0;
    this.small.length = 0;
    this.large.length = 0;
  }
}

/** Bytes every socket may hold in its send buffer even when the ring's budget is spent. */
export const MIN_SEND_SHARE = 256 * 1024;

/**
 * The cap on bytes all the send queues of one ring hold together. Without
 * it, N peers that stop reading pin N × SEND_BUFFER of native memory. A
 * socket may always hold MIN_SEND_SHARE (so one that is being read is
 * never starved by others that are not); beyond that it takes only what
 * the budget has left, and its stream keeps the rest in its own write
 * buffer (counted by maxWriteBufferSize, as on epoll when the kernel's
 * buffer is full). No socket waits on the budget alone: one refused room
 * holds bytes of its own, and their SENDs' completions report it again.
 */
export class SendBudget {
  /** Bytes held by every queue of the ring. */
  used = 0;
  /** Times a socket was refused room because the budget was spent. */
  refusals = 0;

  constructor(readonly limit: number) {}

  /** How many more bytes a queue holding `held` may take, `perQueue` in all. */
  room(held: number, perQueue: number): number {
    return Math.max(0, Math.min(perQueue - held, Math.max(this.limit - this.used, MIN_SEND_SHARE - held)));
  }

  /** A queue took (`delta` > 0) or gave back bytes. */
  adjust(delta: number): void {
    this.used += delta;
  }
}
