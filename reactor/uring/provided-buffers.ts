/**
 * The provided-buffer ring that multishot RECVs fill, for completion-based
 * socket reads on a ring (what SENDs are made from is ./send-memory.ts).
 * No Tornado counterpart (Tornado reads into Python bytes with recv()).
 *
 * ## Provided buffers
 * `entries` buffers of `size` bytes in one anonymous mapping (page-aligned,
 * faulted in as used), announced to the kernel through a buffer ring
 * (`IORING_REGISTER_PBUF_RING`). The kernel picks a buffer per RECV
 * completion and names it in `cqe.flags >> 16`; JS copies the bytes out and
 * hands the buffer straight back (a tail bump, no syscall), so a buffer is
 * out of the ring only between a CQE and the harvest that reads it.
 */
import { viewAt } from '../sys/arena.js';
import { check } from '../sys/libc.js';
import { hi32, lo32 } from '../sys/constants.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmap, munmap } from '../sys/uring-sys.js';
import type { Ring } from './ring.js';

const BUF_ENTRY = 16; // struct io_uring_buf { u64 addr; u32 len; u16 bid; u16 resv }

/** The provided-buffer ring of one io_uring (buffer group `bgid`). */
export class ProvidedBuffers {
  readonly bgid: number;
  readonly entries: number;
  readonly size: number;
  private ringWords: Uint32Array;
  private ringHalves: Uint16Array;
  private slab: Buffer;
  private readonly ringAddr: number;
  private readonly ringBytes: number;
  private readonly slabAddr: number;
  private readonly slabBytes: number;
  private tail = 0;
  private readonly mask: number;

  /** Maps the buffers and registers them with `ring`. Throws OSError (EINVAL on kernels before 5.19). */
  constructor(ring: Ring, bgid: number, entries: number, size: number) {
    this.bgid = bgid;
    this.entries = entries;
    this.size = size;
    this.mask = entries - 1;
    this.ringBytes = entries * BUF_ENTRY;
    this.slabBytes = entries * size;
    const anon = MAP_PRIVATE | MAP_ANONYMOUS;
    this.ringAddr = check(mmap(0, this.ringBytes, PROT_READ | PROT_WRITE, anon, -1, 0), 'mmap');
    try {
      this.slabAddr = check(mmap(0, this.slabBytes, PROT_READ | PROT_WRITE, anon, -1, 0), 'mmap');
    } catch (error) {
      munmap(this.ringAddr, this.ringBytes);
      throw error;
    }
    const ringView = viewAt(this.ringAddr, this.ringBytes);
    this.ringWords = new Uint32Array(ringView.buffer, ringView.byteOffset, this.ringBytes >>> 2);
    this.ringHalves = new Uint16Array(ringView.buffer, ringView.byteOffset, this.ringBytes >>> 1);
    this.slab = viewAt(this.slabAddr, this.slabBytes);
    try {
      ring.registerBufferRing(this.ringAddr, entries, bgid);
    } catch (error) {
      this.unmap();
      throw error;
    }
    for (let bid = 0; bid < entries; bid++) this.put(bid);
    this.publish();
  }

  /** Copies `length` bytes out of buffer `bid` and gives the buffer back to the kernel. */
  take(bid: number, length: number): Buffer {
    const at = bid * this.size;
    const out = Buffer.allocUnsafe(length);
    this.slab.copy(out, 0, at, at + length);
    this.put(bid);
    this.publish();
    return out;
  }

  /** Gives buffer `bid` back without reading it. */
  giveBack(bid: number): void {
    this.put(bid);
    this.publish();
  }

  private put(bid: number): void {
    const entry = (this.tail & this.mask) * (BUF_ENTRY >>> 2);
    const addr = this.slabAddr + bid * this.size;
    this.ringWords[entry] = lo32(addr);
    this.ringWords[entry + 1] = hi32(addr);
    this.ringWords[entry + 2] = this.size;
    this.ringHalves[(entry << 1) + 6] = bid; // bid @12; resv @14 is the ring's tail when entry is 0
    this.tail = (this.tail + 1) & 0xffff;
  }

  private publish(): void {
    this.ringHalves[7] = this.tail; // the tail: u16 at byte 14 of the ring
  }

  /** Unmaps both mappings (the ring must be closed first, or the group unregistered). */
  unmap(): void {
    if (this.slab.length === 0) return;
    this.ringWords = new Uint32Array(0);
    this.ringHalves = new Uint16Array(0);
    this.slab = Buffer.alloc(0);
    munmap(this.ringAddr, this.ringBytes);
    munmap(this.slabAddr, this.slabBytes);
  }
}
