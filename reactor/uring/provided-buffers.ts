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
 * The buffers are JS Buffers (`Buffer.allocUnsafeSlow`: off-heap, so their
 * memory never moves; the address is learned once per `GROUP` of them,
 * `bufferAddress` in ../sys/libc.ts). A chunk of at least `HAND_OVER_MIN` bytes is handed
 * to the stream as a view of the buffer it arrived in, and a fresh buffer
 * takes that buffer's place in the ring: the kernel never writes into a
 * Buffer JS holds, and the memory is V8's to free once nothing references
 * it. A smaller chunk is copied out and its buffer reused: a copy of a few
 * bytes is cheaper than a new allocation, and a small message must not pin
 * 64 KiB. Bulk reads thus cost one copy per chunk (the kernel's), not two
 * (`copiedBytes`, `handedOverBytes`; spec/uring-streams.spec.ts).
 *
 * A handed-over view shares its ArrayBuffer with the other buffers of its
 * group (`GROUP` × `size`), as Node's pool shares one among small Buffers:
 * a view kept for long keeps its group alive (at most GROUP × size /
 * HAND_OVER_MIN times its own size), and `.buffer` reaches memory that is
 * not the view's.
 *
 * Closing: the kernel may write into a buffer in the ring until the group
 * is unregistered (`release`, after every request was cancelled), and only
 * then are the buffers dropped.
 */
import { bufferAddress, check } from '../sys/libc.js';
import { viewAt } from '../sys/arena.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmap, munmap } from '../sys/uring-sys.js';
import type { Ring } from './ring.js';
import { storeU64 } from './u64.js';

const BUF_ENTRY = 16; // struct io_uring_buf { u64 addr; u32 len; u16 bid; u16 resv }

/** `Uint8Array.prototype.set`, called on Buffers (see `take`). */
const typedArraySet = Uint8Array.prototype.set;

/** Buffers allocated (and their address learned) together. */
const GROUP = 4;

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
  // The group fresh buffers are cut from.
  private group: Buffer = Buffer.alloc(0);
  private groupAddr = 0;
  private groupNext = GROUP;
  /**
   * The native address of every group's memory, by its ArrayBuffer: a
   * handed-over chunk written back (an echo) is sent from where it is
   * (`addressOf`; ./send-queue.ts, "Direct SENDs"). Weak: a group JS
   * has dropped is forgotten with it.
   */
  private readonly groupAddrs = new WeakMap<ArrayBufferLike, number>();
  private tail = 0;
  private readonly mask: number;
  private registered = false;

  /** Maps the buffer ring and registers the buffers with `ring`. Throws OSError (EINVAL on kernels before 5.19). */
  constructor(ring: Ring, bgid: number, entries: number, size: number) {
    this.bgid = bgid;
    this.entries = entries;
    this.size = size;
    this.handOverMin = size >>> 1;
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
    this.publish();
  }

  /**
   * The `length` bytes the kernel put in buffer `bid`, which goes back to
   * the kernel: the buffer itself (a fresh one takes its place) when the
   * chunk fills at least half of it, else a copy.
   */
  take(bid: number, length: number): Buffer {
    const buffer = this.buffers[bid]!;
    let out: Buffer;
    if (length >= this.handOverMin) {
      out = buffer.subarray(0, length);
      this.handedOverBytes += length;
      this.fresh(bid);
    } else {
      out = Buffer.allocUnsafe(length);
      // Uint8Array's `set` called on the Buffer: `out.set` is a generic load on a Buffer (V8 11.3).
      typedArraySet.call(out, this.plain[bid]!.subarray(0, length));
      this.copiedBytes += length;
    }
    this.put(bid);
    this.publish();
    return out;
  }

  /**
   * The native address of `bytes` if they are (part of) a chunk this ring
   * handed over, else 0. The memory is JS's: it stays where it is while
   * `bytes` (or any view of it) is referenced.
   */
  addressOf(bytes: Uint8Array): number {
    const base = this.groupAddrs.get(bytes.buffer);
    return base === undefined ? 0 : base + bytes.byteOffset;
  }

  /** Gives buffer `bid` back without reading it. */
  giveBack(bid: number): void {
    this.put(bid);
    this.publish();
  }

  /** A new buffer for `bid`, cut from the current group (a new group when it is used up: one FFI call). */
  private fresh(bid: number): void {
    if (this.groupNext === GROUP) {
      // At least 4 KiB: V8 keeps tiny typed arrays on its heap, which moves.
      this.group = Buffer.allocUnsafeSlow(Math.max(GROUP * this.size, 4096));
      this.groupAddr = bufferAddress(this.group);
      this.groupAddrs.set(this.group.buffer, this.groupAddr - this.group.byteOffset);
      this.groupNext = 0;
    }
    const at = this.groupNext++ * this.size;
    this.buffers[bid] = this.group.subarray(at, at + this.size);
    this.addrs[bid] = this.groupAddr + at;
    this.plain[bid] = new Uint8Array(this.group.buffer, this.group.byteOffset + at, this.size);
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
    this.group = Buffer.alloc(0);
    this.groupNext = GROUP;
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
