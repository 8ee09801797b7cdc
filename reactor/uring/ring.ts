/**
 * One io_uring instance, mechanism only (liburing's role): setup, the
 * shared-memory rings, SQE writers and one CQE walk (`forEachCqe`) from JS
 * without an FFI call or an allocation per operation, and the
 * `io_uring_enter` that submits and waits for what it is told. No policy:
 * when to enter, how long to wait and how many completions to ask for are
 * the wait plan's (../wait-plan.ts), what a CQE means is the poller's and
 * its endpoints'. No Tornado counterpart (Tornado's loops are readiness
 * loops); ./poller.ts builds the IOLoop's poller on it.
 *
 * ## Why these setup flags
 * `SINGLE_ISSUER | DEFER_TASKRUN` makes the kernel post completions only
 * inside our own `io_uring_enter(GETEVENTS)`, so no kernel write races JS
 * reading the CQ ring and plain loads and stores are enough (x86 is TSO; the
 * kernel reads the SQ tail inside the call). `SUBMIT_ALL` keeps submitting
 * past a failing SQE. `CQSIZE` gives the CQ room for multishot fan-out.
 *
 * ## Memory
 * One `MAP_SHARED | MAP_POPULATE` mapping at offset 0 holds both rings
 * (`SINGLE_MMAP`), a second at `IORING_OFF_SQES` the SQEs. JS reads and
 * writes them through typed arrays over views of native memory (koffi.view). **A view used after
 * `munmap` is a SIGSEGV, not an exception**: `close()` drops every view
 * (replacing it with an empty array) before it unmaps, so a late use reads
 * `undefined` instead of killing the process.
 *
 * ## Counted pitfalls
 * - SQ full: `getSqe()` flushes with an extra enter (`stats.sqFullFlushes`);
 *   that iteration makes two FFI calls instead of one. A linked chain
 *   calls `reserve()` first, so no such flush ever splits it.
 * - CQ overflow: with `FEAT_NODROP` the kernel keeps overflowed CQEs and
 *   flags `IORING_SQ_CQ_OVERFLOW`; the next GETEVENTS enter flushes them
 *   (`stats.cqOverflows` counts the enters that saw the flag). One-shot
 *   requests lose nothing; multishot ones end without `IORING_CQE_F_MORE`
 *   and must be re-armed by their owner.
 */
import { allocRegion, freeRegion, viewAt, type Region } from '../sys/arena.js';
import { check, close as closeFd, lastErrno } from '../sys/libc.js';
import { OSError, errno as E } from '../sys/errors.js';
import { hi32, lo32 } from '../sys/constants.js';
import { storeU64 } from './u64.js';
import {
  MAP_POPULATE, MAP_SHARED, PROT_READ, PROT_WRITE, ioUringEnter, ioUringRegister, ioUringSetup, mmap, munmap,
} from '../sys/uring-sys.js';

// Setup flags (include/uapi/linux/io_uring.h).
export const IORING_SETUP_CQSIZE = 1 << 3;
export const IORING_SETUP_SUBMIT_ALL = 1 << 7;
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13;
/** What gale asks for (0x3288). */
/** With DEFER_TASKRUN: the kernel flags pending completions in the SQ ring (IORING_SQ_TASKRUN). */
export const IORING_SETUP_TASKRUN_FLAG = 1 << 9;
export const SETUP_FLAGS = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_TASKRUN_FLAG;

// Features the ring needs from the kernel.
export const IORING_FEAT_SINGLE_MMAP = 1 << 0;
export const IORING_FEAT_NODROP = 1 << 1;
export const IORING_FEAT_EXT_ARG = 1 << 8;
export const IORING_FEAT_CQE_SKIP = 1 << 11;
const REQUIRED_FEATURES = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;

// Enter flags.
export const IORING_ENTER_GETEVENTS = 1 << 0;
export const IORING_ENTER_EXT_ARG = 1 << 3;

// SQ ring flags.
export const IORING_SQ_CQ_OVERFLOW = 1 << 1;
/** SQ ring flag (with IORING_SETUP_TASKRUN_FLAG): completions wait to be run inside the next enter. */
export const IORING_SQ_TASKRUN = 1 << 2;

// mmap offsets.
const IORING_OFF_SQ_RING = 0;
const IORING_OFF_SQES = 0x10000000;

// SQE flags.
export const IOSQE_IO_LINK = 1 << 2;
export const IOSQE_BUFFER_SELECT = 1 << 5;
export const IOSQE_CQE_SKIP_SUCCESS = 1 << 6;

// CQE flags.
export const IORING_CQE_F_BUFFER = 1 << 0;
export const IORING_CQE_F_MORE = 1 << 1;
/** POLL_ADD flag (in the SQE's len): multishot. */
export const IORING_POLL_ADD_MULTI = 1;

/** Opcodes gale uses. */
export const enum Op {
  NOP = 0,
  POLL_ADD = 6,
  POLL_REMOVE = 7,
  ACCEPT = 13,
  ASYNC_CANCEL = 14,
  CONNECT = 16,
  CLOSE = 19,
  READ = 22,
  WRITE = 23,
  SEND = 26,
  RECV = 27,
}

/** ioprio of an ACCEPT: keep accepting (one CQE per connection) until cancelled or an error. */
export const IORING_ACCEPT_MULTISHOT = 1 << 0;

/** ioprio of a RECV: keep receiving (one CQE per chunk) until cancelled, EOF, error or ENOBUFS. */
export const IORING_RECV_MULTISHOT = 1 << 1;
/** io_uring_register opcode: register a provided-buffer ring. */
const IORING_REGISTER_PBUF_RING = 22;
/** io_uring_register opcode: unregister a provided-buffer ring. */
const IORING_UNREGISTER_PBUF_RING = 23;

/** ASYNC_CANCEL flags: match any request. */
export const IORING_ASYNC_CANCEL_ALL = 1 << 0;
export const IORING_ASYNC_CANCEL_ANY = 1 << 2;

const SQE_SIZE = 64;
const CQE_SIZE = 16;
const PARAMS_SIZE = 120;
const GETEVENTS_ARG_SIZE = 24;
const FOREVER_MS = 24 * 3600 * 1000;

/** Counters of the ring's slow paths since it was set up. */
export interface RingStats {
  /** io_uring_enter calls (each is one FFI call). */
  enters: number;
  /** Extra enters because the SQ was full. */
  sqFullFlushes: number;
  /** Enters that found the CQ overflowed (the kernel kept the CQEs). */
  cqOverflows: number;
  /** CQEs the kernel dropped outright (should stay 0 with NODROP). */
  cqDropped: number;
}

/**
 * io_uring_setup as a function returning the ring fd or `-errno`, so tests
 * can stand in a refusing kernel.
 */
export type SetupCall = (entries: number, paramsAddr: number) => number;

/** The real io_uring_setup, in SetupCall's shape. */
export const kernelSetup: SetupCall = (entries, paramsAddr) => {
  const fd = ioUringSetup(entries, paramsAddr);
  return fd < 0 ? -lastErrno() : fd;
};

/** Options for a ring. */
export interface RingOptions {
  /** SQ entries (a power of two; default 1024). */
  sqEntries?: number;
  /** CQ entries (default 16 × sqEntries). */
  cqEntries?: number;
  /** Replaces io_uring_setup (tests simulate ENOSYS/EPERM/EINVAL with it). */
  setup?: SetupCall;
}

/** Visits one CQE: its user_data (two u32s), result and flags. Returns false to stop before consuming it. */
export type CqeVisitor = (udLo: number, udHi: number, res: number, flags: number) => boolean;

/** An io_uring with its rings mapped into JS. */
export class Ring {
  /** The ring's fd (-1 once closed). */
  fd: number;
  readonly sqEntries: number;
  readonly cqEntries: number;
  readonly features: number;
  readonly stats: RingStats = { enters: 0, sqFullFlushes: 0, cqOverflows: 0, cqDropped: 0 };

  // The CQEs as i32s: CQE `i` is at `cqes[cqeBase + (i & cqMask) * 4]`: user_data lo, hi, res, flags.
  private cqes: Int32Array;
  private readonly cqeBase: number;
  private readonly cqMask: number;

  private ringWords: Uint32Array; // the ring mapping as u32s
  private sqeWords: Uint32Array; // the SQE mapping as u32s
  private sqeDoubles: Float64Array; // the same as f64s: a fresh SQE is zeroed with eight stores, not sixteen
  private readonly sqHead: number; // u32 indices into ringWords
  private readonly sqTailAt: number;
  private readonly sqFlags: number;
  private readonly cqHead: number;
  private readonly cqTail: number;
  private readonly cqOverflow: number;
  private readonly sqMask: number;
  private sqTail = 0; // our copy of the SQ tail, published before each enter
  private readonly ringAddr: number;
  private readonly ringSize: number;
  private readonly sqesAddr: number;
  private readonly sqesSize: number;
  private readonly mem: Region; // params (120 B), then getevents arg (24 B), then timespec (16 B)
  private argWords: Uint32Array; // `mem` as u32s: the getevents arg and timespec are written through it
  private timespecMs = -1; // the timeout the timespec holds now (-1: none written yet)
  private readonly argAddr: number;
  private readonly tsAddr: number;
  /** The kernel can skip a request's CQE on success (IORING_FEAT_CQE_SKIP, Linux 5.17). */
  readonly canSkipCqe: boolean;
  private cancelledEverything = false; // cancelEverything ran (close runs it too)

  /** Sets up a ring; throws OSError (ENOSYS, EPERM, EINVAL, ENOMEM, …) if the kernel refuses. */
  constructor(options: RingOptions = {}) {
    const sqEntries = options.sqEntries ?? 1024;
    const cqEntries = options.cqEntries ?? sqEntries * 16;
    const mem = allocRegion(PARAMS_SIZE + GETEVENTS_ARG_SIZE + 16);
    const view = mem.view;
    view.fill(0);
    view.writeUInt32LE(cqEntries, 4);
    view.writeUInt32LE(SETUP_FLAGS, 8);
    const fd = (options.setup ?? kernelSetup)(sqEntries, mem.addr);
    if (fd < 0) {
      freeRegion(mem);
      throw new OSError(-fd, 'io_uring_setup');
    }
    let ringAddr = -1;
    let sqesAddr = -1;
    let ringSize = 0;
    let sqesSize = 0;
    try {
      this.features = view.readUInt32LE(20);
      if ((this.features & REQUIRED_FEATURES) !== REQUIRED_FEATURES) {
        throw new OSError(E.EINVAL, 'io_uring_setup', `io_uring lacks features gale needs (have 0x${this.features.toString(16)})`);
      }
      this.sqEntries = view.readUInt32LE(0);
      this.cqEntries = view.readUInt32LE(4);
      // struct io_sqring_offsets at 40, io_cqring_offsets at 80: read, never hard-code.
      const sq = (field: number) => view.readUInt32LE(40 + field * 4);
      const cq = (field: number) => view.readUInt32LE(80 + field * 4);
      const sqArray = sq(6);
      const cqesOffset = cq(5);
      ringSize = Math.max(sqArray + this.sqEntries * 4, cqesOffset + this.cqEntries * CQE_SIZE);
      sqesSize = this.sqEntries * SQE_SIZE;
      ringAddr = check(mmap(0, ringSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING), 'mmap');
      sqesAddr = check(mmap(0, sqesSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES), 'mmap');
      const ringView = viewAt(ringAddr, ringSize);
      const sqesView = viewAt(sqesAddr, sqesSize);
      this.ringWords = new Uint32Array(ringView.buffer, ringView.byteOffset, ringSize >>> 2);
      this.cqes = new Int32Array(ringView.buffer, ringView.byteOffset, ringSize >>> 2);
      this.sqeWords = new Uint32Array(sqesView.buffer, sqesView.byteOffset, sqesSize >>> 2);
      this.sqeDoubles = new Float64Array(sqesView.buffer, sqesView.byteOffset, sqesSize >>> 3);
      this.sqHead = sq(0) >>> 2;
      this.sqTailAt = sq(1) >>> 2;
      this.sqMask = this.ringWords[sq(2) >>> 2]!;
      this.sqFlags = sq(4) >>> 2;
      this.cqHead = cq(0) >>> 2;
      this.cqTail = cq(1) >>> 2;
      this.cqMask = this.ringWords[cq(2) >>> 2]!;
      this.cqOverflow = cq(4) >>> 2;
      this.cqeBase = cqesOffset >>> 2;
      // The SQ index array maps slot i to SQE i once and for all, so an SQE's
      // slot is just `tail & mask`.
      const arrayAt = sqArray >>> 2;
      for (let i = 0; i < this.sqEntries; i++) this.ringWords[arrayAt + i] = i;
      this.sqTail = this.ringWords[this.sqTailAt]!;
    } catch (error) {
      if (ringAddr !== -1) munmap(ringAddr, ringSize);
      if (sqesAddr !== -1) munmap(sqesAddr, sqesSize);
      closeFd(fd);
      freeRegion(mem);
      throw error;
    }
    this.fd = fd;
    this.mem = mem;
    this.ringAddr = ringAddr;
    this.ringSize = ringSize;
    this.sqesAddr = sqesAddr;
    this.sqesSize = sqesSize;
    this.argAddr = mem.addr + PARAMS_SIZE;
    this.tsAddr = this.argAddr + GETEVENTS_ARG_SIZE;
    this.argWords = new Uint32Array(view.buffer, view.byteOffset, (PARAMS_SIZE + GETEVENTS_ARG_SIZE + 16) >>> 2);
    // struct io_uring_getevents_arg { u64 sigmask; u32 sigmask_sz; u32 min_wait_usec; u64 ts }:
    // no sigmask, no batch-wait timeout, the timespec after it. Written once:
    // only the timespec changes between enters.
    const argAt = PARAMS_SIZE >>> 2;
    this.argWords.fill(0, argAt, argAt + 4);
    storeU64(this.argWords, argAt + 4, this.tsAddr);
    this.canSkipCqe = (this.features & IORING_FEAT_CQE_SKIP) !== 0;
  }

  /** SQEs written but not yet consumed by the kernel. */
  pending(): number {
    return (this.sqTail - this.ringWords[this.sqHead]!) >>> 0;
  }

  /**
   * The SQ position after the last SQE written: `consumed(position)` tells
   * when the kernel has taken every SQE written up to then.
   */
  sqPosition(): number {
    return this.sqTail;
  }

  /**
   * Whether the kernel has consumed the SQEs up to `position` (an earlier
   * `sqPosition()`): an enter has submitted them, so each one issued inline
   * has completed or failed by now (./send-queue.ts, quiet SENDs).
   */
  consumed(position: number): boolean {
    return ((this.ringWords[this.sqHead]! - position) | 0) >= 0;
  }

  /** Whether the kernel holds CQEs that did not fit in the CQ (NODROP): the next enter posts them. */
  cqOverflowed(): boolean {
    return (this.ringWords[this.sqFlags]! & IORING_SQ_CQ_OVERFLOW) !== 0;
  }

  /**
   * Makes sure the next `count` SQEs (at most `sqEntries`) reach the kernel
   * in one enter: if they would not fit behind what is pending, what is
   * pending is submitted first (counted in `stats.sqFullFlushes`). A linked
   * chain needs this: the kernel ends a chain at the end of each submission,
   * so one split by a mid-chain flush runs as two independent chains.
   */
  reserve(count: number): void {
    if (this.pending() + count > this.sqEntries) {
      this.stats.sqFullFlushes++;
      this.enter(0, 0);
    }
  }

  /**
   * Claims and zeroes the next SQE and returns its index in u32 words into
   * `sqeWords` (byte index = word index × 4). Flushes first if the SQ is full.
   */
  private getSqe(): number {
    if (this.pending() >= this.sqEntries) {
      this.stats.sqFullFlushes++;
      this.enter(0, 0);
    }
    const slot = this.sqTail & this.sqMask;
    this.sqTail = (this.sqTail + 1) >>> 0;
    const w = slot * (SQE_SIZE >>> 2);
    // Eight stores of +0.0 (all bits zero), written out: TypedArray#fill is
    // a C++ builtin (~150 instructions a call), and a loop of sixteen u32
    // stores cost ~20 instructions a store; written out, each still costs
    // an index and a bounds check (~8), so f64s, half as many
    // (docs/uring.md, "Ping-pong on the ring (eighth speed session)").
    const d = this.sqeDoubles;
    const q = w >>> 1;
    d[q] = 0; d[q + 1] = 0; d[q + 2] = 0; d[q + 3] = 0;
    d[q + 4] = 0; d[q + 5] = 0; d[q + 6] = 0; d[q + 7] = 0;
    return w;
  }

  /** Stores `value` (an address) as the u64 at SQE word `w` (little-endian: low word first). */
  private setU64(w: number, value: number): void {
    storeU64(this.sqeWords, w, value);
  }

  private writeHeader(w: number, op: number, flags: number, fd: number, udLo: number, udHi: number): void {
    // opcode @0 and flags @1 (u8s) as one u32 store, ioprio @2 left 0:
    // two byte stores through a second view cost ~70 instructions more an SQE.
    this.sqeWords[w] = op | (flags << 8);
    this.sqeWords[w + 1] = fd; // fd @4
    this.sqeWords[w + 8] = udLo; // user_data @32
    this.sqeWords[w + 9] = udHi;
  }

  /**
   * Queues a POLL_ADD of `events` (poll bits) on `fd`: one-shot, or with
   * `multishot` one CQE per wake-up that matches (IORING_CQE_F_MORE on all
   * but the last), until it is removed.
   */
  pollAdd(fd: number, events: number, udLo: number, udHi: number, multishot = false): void {
    const w = this.getSqe();
    this.writeHeader(w, Op.POLL_ADD, 0, fd, udLo, udHi);
    this.sqeWords[w + 6] = multishot ? IORING_POLL_ADD_MULTI : 0; // len @24: the poll's flags
    this.sqeWords[w + 7] = events; // poll32_events @28
  }

  /** Queues a POLL_REMOVE of the poll with this user_data (its own CQE skipped where the kernel can). */
  pollRemove(udLo: number, udHi: number): void {
    const w = this.getSqe();
    this.writeHeader(w, Op.POLL_REMOVE, this.canSkipCqe ? IOSQE_CQE_SKIP_SUCCESS : 0, -1, 0, 0);
    this.sqeWords[w + 4] = udLo; // addr @16: the target's user_data
    this.sqeWords[w + 5] = udHi;
  }

  /** Queues a multishot RECV on `fd` into buffers picked from provided-buffer group `bgid`. */
  recvMultishot(fd: number, bgid: number, udLo: number, udHi: number): void {
    const w = this.getSqe();
    this.writeHeader(w, Op.RECV, IOSQE_BUFFER_SELECT, fd, udLo, udHi);
    this.sqeWords[w] = (this.sqeWords[w]! & 0xffff) | (IORING_RECV_MULTISHOT << 16); // ioprio @2
    this.sqeWords[w + 10] = bgid; // buf_group @40 (u16), personality @42 = 0
  }

  /**
   * Queues a SEND of `length` bytes at native address `addr` on `fd`
   * (`sqeFlags`: IOSQE_IO_LINK to chain the next SQE behind it, say).
   */
  send(fd: number, addr: number, length: number, msgFlags: number, udLo: number, udHi: number, sqeFlags = 0): void {
    const w = this.getSqe();
    this.writeHeader(w, Op.SEND, sqeFlags, fd, udLo, udHi);
    this.setU64(w + 4, addr); // addr @16
    this.sqeWords[w + 6] = length; // len @24
    this.sqeWords[w + 7] = msgFlags; // msg_flags @28
  }

  /**
   * Points the SEND whose SQE ends at SQ position `position` (an earlier
   * `sqPosition()`, not yet consumed) at `addr` instead (./send-queue.ts, `sendNow`).
   */
  setSendAddr(position: number, addr: number): void {
    const w = ((position - 1) & this.sqMask) * (SQE_SIZE >>> 2);
    this.setU64(w + 4, addr); // addr @16
  }

  /**
   * Queues an ACCEPT on listening socket `fd`; each CQE's result is a new
   * fd with `acceptFlags` (SOCK_NONBLOCK | SOCK_CLOEXEC, say) or -errno.
   * `multishot`: one request keeps accepting (CQEs carry IORING_CQE_F_MORE
   * while it stays armed). `addr`/`addrLenAddr`: native sockaddr and
   * socklen_t the kernel fills with the peer's address (0: not asked for).
   */
  accept(fd: number, acceptFlags: number, multishot: boolean, udLo: number, udHi: number, addr = 0, addrLenAddr = 0): void {
    const w = this.getSqe();
    this.writeHeader(w, Op.ACCEPT, 0, fd, udLo, udHi);
    if (multishot) this.sqeWords[w] = (this.sqeWords[w]! & 0xffff) | (IORING_ACCEPT_MULTISHOT << 16); // ioprio @2
    this.setU64(w + 2, addrLenAddr); // addr2 @8: socklen_t *
    this.setU64(w + 4, addr); // addr @16: struct sockaddr *
    this.sqeWords[w + 7] = acceptFlags; // accept_flags @28
  }

  /** Queues a CONNECT of socket `fd` to the sockaddr of `addrLength` bytes at native `addr`. */
  connect(fd: number, addr: number, addrLength: number, udLo: number, udHi: number): void {
    const w = this.getSqe();
    this.writeHeader(w, Op.CONNECT, 0, fd, udLo, udHi);
    this.sqeWords[w + 2] = addrLength; // off @8 holds the length itself
    this.setU64(w + 4, addr); // addr @16
  }

  /** Queues a CLOSE of `fd` (`sqeFlags`: IOSQE_IO_LINK etc., e.g. to run it after a SEND). */
  closeFile(fd: number, sqeFlags: number, udLo: number, udHi: number): void {
    const w = this.getSqe();
    this.writeHeader(w, Op.CLOSE, sqeFlags, fd, udLo, udHi);
  }

  /**
   * Queues a READ (`write` false) or WRITE of `length` bytes at native
   * `addr` on `fd` at the current file position (pipes, ttys: offset -1).
   */
  readWrite(write: boolean, fd: number, addr: number, length: number, udLo: number, udHi: number): void {
    const w = this.getSqe();
    this.writeHeader(w, write ? Op.WRITE : Op.READ, 0, fd, udLo, udHi);
    this.sqeWords[w + 2] = 0xffffffff; // off @8 = -1: the current position
    this.sqeWords[w + 3] = 0xffffffff;
    this.setU64(w + 4, addr); // addr @16
    this.sqeWords[w + 6] = length; // len @24
  }

  /** Queues an ASYNC_CANCEL of the request with this user_data (its own CQE skipped where the kernel can). */
  cancel(udLo: number, udHi: number): void {
    const w = this.getSqe();
    this.writeHeader(w, Op.ASYNC_CANCEL, this.canSkipCqe ? IOSQE_CQE_SKIP_SUCCESS : 0, -1, 0, 0);
    this.sqeWords[w + 4] = udLo; // addr @16: the target's user_data
    this.sqeWords[w + 5] = udHi;
  }

  /**
   * Registers a provided-buffer ring (`struct io_uring_buf` × `entries` at
   * page-aligned `ringAddr`) as buffer group `bgid`. Throws OSError.
   */
  registerBufferRing(ringAddr: number, entries: number, bgid: number): void {
    this.bufferRingRegistration(IORING_REGISTER_PBUF_RING, ringAddr, entries, bgid);
  }

  /**
   * Unregisters buffer group `bgid` (after `cancelAll`): from then on the
   * kernel cannot pick one of its buffers, so their memory may go back to
   * its owner. Throws OSError.
   */
  unregisterBufferRing(bgid: number): void {
    this.bufferRingRegistration(IORING_UNREGISTER_PBUF_RING, 0, 0, bgid);
  }

  // Both take a struct io_uring_buf_reg { u64 ring_addr; u32 ring_entries;
  // u16 bgid; u16 flags; u64 resv[3] } (unregistering reads only bgid),
  // written over the params, which are not needed after setup.
  private bufferRingRegistration(opcode: number, ringAddr: number, entries: number, bgid: number): void {
    if (this.fd < 0) throw new OSError(E.EBADF, 'io_uring_register');
    const view = this.mem.view;
    view.fill(0, 0, 40);
    view.writeUInt32LE(lo32(ringAddr), 0);
    view.writeUInt32LE(hi32(ringAddr), 4);
    view.writeUInt32LE(entries, 8);
    view.writeUInt16LE(bgid, 12);
    check(ioUringRegister(this.fd, opcode, this.mem.addr, 1), 'io_uring_register');
  }

  /**
   * Cancels every request in flight and runs their completions, without
   * closing: what `close` starts with, for an owner that must act between
   * the two (unregistering buffers the kernel could otherwise still fill).
   */
  cancelEverything(): void {
    if (this.fd < 0 || this.cancelledEverything) return;
    this.cancelledEverything = true;
    try {
      this.cancelAll();
      this.flush();
    } catch { /* closing anyway: the kernel cancels on close too */ }
  }

  /** Queues an ASYNC_CANCEL of every request in flight. */
  cancelAll(): void {
    const w = this.getSqe();
    this.writeHeader(w, Op.ASYNC_CANCEL, 0, -1, 0, 0);
    this.sqeWords[w + 7] = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL; // cancel_flags @28
  }

  /**
   * Publishes the SQ tail and makes one io_uring_enter: submits every
   * pending SQE, runs the deferred completions, and waits until
   * `minComplete` CQEs are posted or `timeoutMs` has passed (-1: forever,
   * as a day; null: no timeout at all, so it returns at once when fewer are
   * ready — a zero timeout would arm an already-expired hrtimer instead).
   * With DEFER_TASKRUN the kernel runs max(20, minComplete) deferred
   * completions per run: asking for more with a zero timeout drains a
   * backlog in one enter. Returns false if a signal interrupted it.
   * Which values to pass is the wait plan's (../wait-plan.ts).
   */
  submitAndWait(minComplete: number, timeoutMs: number | null): boolean {
    if (this.fd < 0) throw new OSError(E.EBADF, 'io_uring_enter');
    if (timeoutMs === null) return this.enter(minComplete, IORING_ENTER_GETEVENTS);
    // "Forever" is a day, so one arg layout serves every call; a day's
    // wake-up is a harmless empty poll. The getevents arg itself never
    // changes (written in the constructor); only the timespec does, and
    // only when the timeout does.
    const ms = timeoutMs < 0 ? FOREVER_MS : timeoutMs;
    if (ms !== this.timespecMs) this.writeTimespec(ms);
    return this.enter(minComplete, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG);
  }

  /**
   * struct __kernel_timespec { i64 tv_sec; i64 tv_nsec } for `ms` (both
   * halves < 2^32 here), through the u32 view: a typed-array store is
   * inlined where Buffer.writeUInt32LE range-checks each call (~200
   * instructions apiece, ten per blocking enter before).
   */
  private writeTimespec(ms: number): void {
    const words = this.argWords;
    const at = (PARAMS_SIZE + GETEVENTS_ARG_SIZE) >>> 2;
    const seconds = Math.floor(ms / 1000);
    words[at] = seconds;
    words[at + 1] = 0;
    words[at + 2] = (ms - seconds * 1000) * 1_000_000;
    words[at + 3] = 0;
    this.timespecMs = ms;
  }

  /** Submits what is pending without waiting, and runs deferred completions. */
  flush(): void {
    this.enter(0, IORING_ENTER_GETEVENTS);
  }

  private enter(minComplete: number, flags: number): boolean {
    if (this.fd < 0) throw new OSError(E.EBADF, 'io_uring_enter');
    this.ringWords[this.sqTailAt] = this.sqTail; // publish (a plain store is enough on x86)
    const toSubmit = this.pending();
    const useArg = (flags & IORING_ENTER_EXT_ARG) !== 0;
    this.stats.enters++;
    const r = ioUringEnter(this.fd, toSubmit, minComplete, flags, useArg ? this.argAddr : 0, useArg ? GETEVENTS_ARG_SIZE : 0);
    if (this.cqOverflowed()) this.stats.cqOverflows++;
    this.stats.cqDropped = this.ringWords[this.cqOverflow]!;
    return r >= 0 || this.enterFailed();
  }

  /** An enter that returned -1 (cold, kept out of `enter`). */
  private enterFailed(): boolean {
    const err = lastErrno();
    // ETIME: the wait timed out; EINTR: a signal (Node's handler runs after
    // we return); EAGAIN/EBUSY: the kernel is short of memory or the CQ
    // overflowed and it wants us to reap first. All mean "look at the CQ".
    if (err === E.ETIME || err === E.EAGAIN || err === E.EBUSY) return true;
    if (err === E.EINTR) return false;
    throw new OSError(err, 'io_uring_enter');
  }

  /**
   * Whether the kernel has completions queued for the next enter to run
   * (`IORING_SQ_TASKRUN`): with DEFER_TASKRUN nothing is posted to the CQ
   * outside our enter, and this flag is how JS sees that something is.
   */
  taskWorkPending(): boolean {
    return (this.ringWords[this.sqFlags]! & IORING_SQ_TASKRUN) !== 0;
  }

  /** CQEs posted and not yet consumed. */
  cqReady(): number {
    return (this.ringWords[this.cqTail]! - this.ringWords[this.cqHead]!) >>> 0;
  }

  /**
   * The one CQ walk: calls `visit` on each posted CQE in order and consumes
   * it, until none is left or `visit` returns false (that CQE stays for the
   * next walk). Returns how many were consumed.
   */
  forEachCqe(visit: CqeVisitor): number {
    return this.walk(visit, true);
  }

  /** Whether a posted, unconsumed CQE carries this user_data (nothing is consumed). */
  hasCqe(udLo: number, udHi: number): boolean {
    this.wantedLo = udLo;
    this.wantedHi = udHi;
    this.found = false;
    this.walk(this.matchWanted, false);
    return this.found;
  }

  private wantedLo = 0;
  private wantedHi = 0;
  private found = false;
  private readonly matchWanted: CqeVisitor = (udLo, udHi) => {
    this.found = udLo === this.wantedLo && udHi === this.wantedHi;
    return !this.found;
  };

  private walk(visit: CqeVisitor, consume: boolean): number {
    const cqes = this.cqes;
    const base = this.cqeBase;
    const mask = this.cqMask;
    let head = this.ringWords[this.cqHead]!;
    const available = this.cqReady();
    let i = 0;
    for (; i < available; i++, head = (head + 1) >>> 0) {
      const at = base + (head & mask) * 4;
      if (!visit(cqes[at]!, cqes[at + 1]! >>> 0, cqes[at + 2]!, cqes[at + 3]! >>> 0)) break;
    }
    if (consume) this.ringWords[this.cqHead] = head >>> 0;
    return i;
  }

  /**
   * Cancels everything in flight (so the kernel drops its file references
   * now, not later from a worker), unmaps the rings and closes the ring fd.
   * Every view is dropped before the unmap.
   */
  close(): void {
    if (this.fd < 0) return;
    this.cancelEverything();
    const empty32 = new Uint32Array(0);
    this.ringWords = empty32;
    this.sqeWords = empty32;
    this.sqeDoubles = new Float64Array(0);
    this.cqes = new Int32Array(0);
    this.argWords = empty32;
    munmap(this.ringAddr, this.ringSize);
    munmap(this.sqesAddr, this.sqesSize);
    const fd = this.fd;
    this.fd = -1;
    freeRegion(this.mem);
    closeFd(fd);
  }
}
