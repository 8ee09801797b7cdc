/**
 * The provided-buffer ring that multishot RECVs fill, for completion-based
 * socket reads on a ring (what SENDs are made from is ./send-memory.ts).
 * No Tornado counterpart (Tornado reads into Python bytes with recv()).
 *
 * ## Provided buffers
 * `entries` buffers of `size` bytes, announced to the kernel through a
 * buffer ring (`IORING_REGISTER_PBUF_RING`, its entries in an anonymous
 * mapping). The kernel picks a buffer per RECV completion and names it in
 * `cqe.flags >> 16`; the buffer goes back to the kernel at once (a tail
 * bump, no syscall), so a buffer is out of the ring only between a CQE and
 * the harvest that reads it.
 *
 * ## Handing a chunk over without a copy
 * The buffers are JS Buffers (`Buffer.allocUnsafeSlow`, one per buffer:
 * off-heap, so their memory never moves; the address is read from koffi,
 * no C call: `addressOf` in ../sys/ffi.ts). A chunk of at least
 * `HAND_OVER_MIN` bytes is handed to the stream as a view of the buffer it
 * arrived in, and that buffer leaves the ring for good: the kernel never
 * writes into a Buffer JS holds, and the memory is V8's to free once
 * nothing references it. A smaller chunk is copied out and its buffer
 * reused: a copy of a few bytes is cheaper than a new allocation, and a
 * small message must not pin 64 KiB. Bulk reads thus cost one copy per
 * chunk (the kernel's), not two (`copiedBytes`, `handedOverBytes`;
 * spec/uring-streams.spec.ts).
 *
 * ## How many fresh buffers wait in the ring
 * A handed-over buffer is replaced by a fresh one only while fewer than
 * `target` buffers are left in the ring (`AHEAD`, 8 at first); otherwise
 * its bid waits, empty, in `spare`. So under bulk traffic the ring holds
 * `target` fresh buffers, not `entries`. Fresh buffers are what is alive at
 * every scavenge while the handed-over ones die; 64 of them (4 MiB) pushed
 * glibc's heap up by that much every scavenge, and it trimmed the top back
 * once they were freed, so the kernel faulted those pages in again inside
 * the receive copy (docs/uring.md, "Bulk on the ring (seventh speed
 * session)"). A RECV that ran the ring dry (ENOBUFS) doubles `target`
 * (`starved`) and refills the ring at once; chunks that are copied keep
 * their buffer in the ring, so small-message traffic keeps every bid.
 *
 * Closing: the kernel may write into a buffer in the ring until the group
 * is unregistered (`release`, after every request was cancelled), and only
 * then are the buffers dropped.
 */
import { addressOf } from '../sys/ffi.js';
import { check } from '../sys/libc.js';
import { viewAt } from '../sys/arena.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmap, munmap } from '../sys/uring-sys.js';
import type { Ring } from './ring.js';
import { storeU64 } from './u64.js';

const BUF_ENTRY = 16; // struct io_uring_buf { u64 addr; u32 len; u16 bid; u16 resv }

/** `Uint8Array.prototype.set`, called on Buffers (see `take`). */
const typedArraySet = Uint8Array.prototype.set;
// `Buffer.allocUnsafe`, read once: the global `Buffer` is an accessor on
// globalThis (a global load and its getter per small chunk otherwise).
const allocUnsafe = Buffer.allocUnsafe;

/** How many fresh buffers the ring keeps at first while chunks are handed over (`target`). */
export const AHEAD = 8;

/** What an empty bid (its buffer handed over, not replaced yet) holds. */
const NONE = Buffer.alloc(0);
const NONE_PLAIN = new Uint8Array(0);

/** The provided-buffer ring of one io_uring (buffer group `bgid`). */
export class ProvidedBuffers {
  readonly bgid: number;
  readonly entries: number;
  readonly size: number;
  /** Chunks at least this long are handed over without a copy (half a buffer). */
  readonly handOverMin: number;
  /** Bytes copied out of buffers into new Buffers (chunks shorter than `handOverMin`). */
  copiedBytes = 0;
  /** Bytes handed to streams in the buffer they arrived in (no copy). */
  handedOverBytes = 0;
  /** Fresh buffers made (each a `Buffer.allocUnsafeSlow`). */
  allocations = 0;
  /** Handed-over buffers put back into the ring once read out (`recycle`). */
  recycled = 0;
  /** Buffers the kernel may fill: in the ring, or named by a CQE not harvested yet. */
  inRing = 0;
  /** While chunks are handed over, a handed-over buffer is replaced only below this many in the ring. */
  target: number;
  /** Bids whose buffer was handed over and not replaced (out of the ring). */
  private readonly spare: number[] = [];
  private ringWords: Uint32Array;
  private ringHalves: Uint16Array;
  private readonly ringAddr: number;
  private readonly ringBytes: number;
  /** The buffer the kernel fills under each bid, and its address. */
  private readonly buffers: Buffer[] = [];
  private readonly addrs: number[] = [];
  /**
   * Each bid's buffer again as a plain Uint8Array: a small chunk is copied
   * out through it. Buffer#copy made a view of its own and read `buffer`
   * and `byteOffset` off a Buffer, generic loads in V8 11.3 (~400
   * instructions a chunk).
   */
  private readonly plain: Uint8Array[] = [];
  /**
   * Each bid's last view of its first bytes that a small chunk was copied
   * out through: a connection's messages tend to have one size (an echo's
   * are all 64 bytes), and each view made is a typed array (a `subarray`
   * per chunk was ~150 instructions and 72 bytes of garbage). Forgotten
   * when the bid gets another buffer.
   */
  private readonly copyViews: Uint8Array[] = [];
  /**
   * The native address of every buffer's memory, by its ArrayBuffer: how
   * `recycle` knows a chunk's memory is one of this ring's buffers (and
   * where it is). Weak: a buffer JS has dropped is forgotten with it.
   */
  private readonly bufferAddrs = new WeakMap<ArrayBufferLike, number>();
  private tail = 0;
  private readonly mask: number;
  private registered = false;

  /** Maps the buffer ring and registers the buffers with `ring`. Throws OSError (EINVAL on kernels before 5.19). */
  constructor(ring: Ring, bgid: number, entries: number, size: number) {
    this.bgid = bgid;
    this.entries = entries;
    this.size = size;
    this.handOverMin = size >>> 1;
    this.target = Math.min(AHEAD, entries);
    this.mask = entries - 1;
    this.ringBytes = entries * BUF_ENTRY;
    const anon = MAP_PRIVATE | MAP_ANONYMOUS;
    this.ringAddr = check(mmap(0, this.ringBytes, PROT_READ | PROT_WRITE, anon, -1, 0), 'mmap');
    const ringView = viewAt(this.ringAddr, this.ringBytes);
    this.ringWords = new Uint32Array(ringView.buffer, ringView.byteOffset, this.ringBytes >>> 2);
    this.ringHalves = new Uint16Array(ringView.buffer, ringView.byteOffset, this.ringBytes >>> 1);
    try {
      ring.registerBufferRing(this.ringAddr, entries, bgid);
    } catch (error) {
      this.unmap();
      throw error;
    }
    this.registered = true;
    for (let bid = 0; bid < entries; bid++) {
      this.fresh(bid);
      this.put(bid);
    }
    this.inRing = entries;
    this.publish();
  }

  /**
   * The `length` bytes the kernel put in buffer `bid`: the buffer itself
   * when the chunk fills at least half of it (it leaves the ring; a fresh
   * one takes its bid if fewer than `target` are left), else a copy (the
   * buffer goes back to the kernel).
   */
  take(bid: number, length: number): Buffer {
    const buffer = this.buffers[bid]!;
    let out: Buffer;
    if (length >= this.handOverMin) {
      out = buffer.subarray(0, length);
      this.handedOverBytes += length;
      if (this.inRing <= this.target) {
        this.fresh(bid);
      } else {
        this.buffers[bid] = NONE;
        this.plain[bid] = NONE_PLAIN;
        this.copyViews[bid] = NONE_PLAIN;
        this.inRing--;
        this.spare.push(bid);
        return out;
      }
    } else {
      out = allocUnsafe(length);
      let view = this.copyViews[bid]!;
      if (view.length !== length) {
        const plain = this.plain[bid]!;
        this.copyViews[bid] = view = new Uint8Array(plain.buffer, plain.byteOffset, length);
      }
      // Uint8Array's `set` called on the Buffer: `out.set` is a generic load on a Buffer (V8 11.3).
      typedArraySet.call(out, view);
      this.copiedBytes += length;
    }
    this.put(bid);
    this.publish();
    return out;
  }

  /** Whether `bytes` are (part of) one of this ring's buffers, in the ring or handed over. */
  owns(bytes: Uint8Array): boolean {
    return this.bufferAddrs.has(bytes.buffer);
  }

  /**
   * `chunk` was handed over and its bytes copied out by the transport,
   * which held the only reference to its memory (a `readInto`): if the
   * memory is one of this ring's buffers and a bid waits empty, the buffer
   * goes back into the ring under that bid instead of a fresh one later
   * (counted in `recycled`). Never call it for memory user code can reach:
   * the kernel would write into it.
   */
  recycle(chunk: Uint8Array): void {
    const memory = chunk.buffer;
    const addr = this.bufferAddrs.get(memory);
    if (addr === undefined || this.spare.length === 0 || !this.registered) return;
    const bid = this.spare.pop()!;
    this.install(bid, Buffer.from(memory, 0, this.size), addr);
    this.recycled++;
    this.inRing++;
    this.put(bid);
    this.publish();
  }

  /** Gives buffer `bid` back without reading it. */
  giveBack(bid: number): void {
    this.put(bid);
    this.publish();
  }

  /**
   * A RECV found the ring empty (ENOBUFS): keep twice as many fresh buffers
   * in it from now on (at most `entries`), and put them in now.
   */
  starved(): void {
    if (!this.registered) return;
    this.target = Math.min(this.entries, this.target * 2);
    let added = false;
    while (this.inRing < this.target && this.spare.length > 0) {
      const bid = this.spare.pop()!;
      this.fresh(bid);
      this.put(bid);
      this.inRing++;
      added = true;
    }
    if (added) this.publish();
  }

  /** A new buffer for `bid`, and its address (from koffi: no C call). */
  private fresh(bid: number): void {
    // At least 4 KiB: V8 keeps tiny typed arrays on its heap, which moves.
    const memory = Buffer.allocUnsafeSlow(Math.max(this.size, 4096));
    const addr = addressOf(memory);
    this.bufferAddrs.set(memory.buffer, addr - memory.byteOffset);
    this.allocations++;
    this.install(bid, memory.length === this.size ? memory : memory.subarray(0, this.size), addr);
  }

  /** Makes `buffer` (`size` bytes at native address `addr`) the one the kernel fills under `bid`. */
  private install(bid: number, buffer: Buffer, addr: number): void {
    this.buffers[bid] = buffer;
    this.addrs[bid] = addr;
    this.plain[bid] = new Uint8Array(buffer.buffer, buffer.byteOffset, this.size);
    this.copyViews[bid] = NONE_PLAIN; // the last view was of the bid's old buffer
  }

  private put(bid: number): void {
    const entry = (this.tail & this.mask) * (BUF_ENTRY >>> 2);
    const addr = this.addrs[bid]!;
    storeU64(this.ringWords, entry, addr);
    this.ringWords[entry + 2] = this.size;
    this.ringHalves[(entry << 1) + 6] = bid; // bid @12; resv @14 is the ring's tail when entry is 0
    this.tail = (this.tail + 1) & 0xffff;
  }

  private publish(): void {
    this.ringHalves[7] = this.tail; // the tail: u16 at byte 14 of the ring
  }

  /**
   * The ring's requests are all cancelled and complete: unregister the
   * group, so the kernel can no longer fill a buffer, and drop them.
   */
  release(ring: Ring): void {
    if (!this.registered) return;
    this.registered = false;
    try {
      ring.unregisterBufferRing(this.bgid);
    } catch { /* the ring is going: its close unregisters too */ }
    this.buffers.length = 0;
    this.plain.length = 0;
    this.copyViews.length = 0;
    this.spare.length = 0;
    this.inRing = 0;
  }

  /** Unmaps the buffer ring (after `release`, or once the ring is closed). */
  unmap(): void {
    if (this.ringWords.length === 0) return;
    this.ringWords = new Uint32Array(0);
    this.ringHalves = new Uint16Array(0);
    this.buffers.length = 0;
    munmap(this.ringAddr, this.ringBytes);
  }
}
