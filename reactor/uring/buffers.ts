/**
 * The provided-buffer ring that multishot RECVs fill, for completion-based
 * socket reads on a ring. No Tornado counterpart (Tornado reads into Python
 * bytes with recv()).
 *
 * ## Provided buffers
 * `entries` buffers of `size` bytes in one anonymous mapping (page-aligned,
 * faulted in as used), announced to the kernel through a buffer ring
 * (`IORING_REGISTER_PBUF_RING`). The kernel picks a buffer per RECV
 * completion and names it in `cqe.flags >> 16`; JS copies the bytes out and
 * hands the buffer straight back (a tail bump, no syscall), so a buffer is
 * out of the ring only between a CQE and the harvest that reads it.
 */
import { allocRegion, freeRegion, viewAt, type Region } from '../sys/arena.js';
import { check } from '../sys/libc.js';
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
    this.ringWords[entry] = addr % 0x100000000;
    this.ringWords[entry + 1] = Math.floor(addr / 0x100000000);
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

/** A native area a SEND is made from (a region of reactor/sys/arena.ts). */
export interface SendSlot {
  readonly addr: number;
  readonly size: number;
  readonly view: Buffer;
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
    const made: SendSlot = { addr: region.addr, size, view: region.view, region };
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
