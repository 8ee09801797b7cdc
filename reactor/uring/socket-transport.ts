/**
 * The completion transport of one stream socket on a ring: what an
 * `IOStream` reads and writes through when its loop runs on io_uring. No
 * Tornado counterpart (Tornado's streams call recv()/send() on readiness).
 *
 * ## The seam: readiness emulated from completions
 * `BaseIOStream` is written against readiness: it watches READ/WRITE with
 * `addHandler`/`updateHandler`, and on an event calls its subclass's
 * `readFromFd`/`writeToFd`, which return data, "would block" or EOF. There
 * are two transports under that one contract:
 *
 * - readiness (epoll, poll, kqueue, and uring for other fds): the events
 *   come from the kernel and `readFromFd`/`writeToFd` are read(2)/write(2);
 * - completion (this file): a multishot RECV keeps filling provided buffers,
 *   each CQE's bytes are copied into `chunks`, and `read()` hands them out
 *   with no syscall; `write()` copies into a native slot and queues a SEND
 *   SQE (one in flight per socket keeps byte order), returning "would
 *   block" while one is in flight. The poller reports READ while chunks (or
 *   EOF, or an error) wait and READ is watched, WRITE while no SEND is in
 *   flight and WRITE is watched — level-triggered, exactly what the stream
 *   expects — so the stream's logic (read family, flow control, buffer
 *   limits, close) exists once, and the whole loop makes one FFI call per
 *   iteration however many sockets are busy.
 *
 * ## Flow control
 * While READ is watched the RECV stays armed. When the stream stops
 * watching READ (nobody is reading), the RECV is cancelled once
 * `HIGH_WATER` bytes wait here, so the kernel's socket buffer fills and TCP
 * pushes back on the peer; it is re-armed when READ is watched again.
 *
 * ## Connecting sockets
 * A RECV on a socket whose connect is still under way could consume the
 * connect's error (`SO_ERROR`) before the stream checks it, so after
 * `startConnect()` the RECV is armed only once the socket is known to be
 * writable: WRITE is then a real POLLOUT poll, whose POLLERR/POLLHUP is
 * reported as WRITE|ERROR, and the stream reads SO_ERROR as on epoll.
 */
import { OSError } from '../sys/errors.js';
import { chunk as nativeChunk } from '../sys/arena.js';
import { readToChunk } from '../sys/libc.js';
import { READ, WRITE, ERROR } from '../poller.js';
import { LARGE_SLOT, SMALL_SLOT, type SendSlot } from './buffers.js';

/** Bytes buffered here while nobody reads before the RECV is cancelled. */
export const HIGH_WATER = 256 * 1024;
/**
 * Bytes a socket takes into its send queue before `write` says "would
 * block" (the role the kernel's socket buffer plays for write(2)).
 */
export const SEND_WINDOW = 256 * 1024;

const EOF = Buffer.alloc(0);

/** What a completion socket needs from its poller. */
export interface CompletionHost {
  /** Queues the SQEs that bring this socket's requests in line with its state, at the next poll. */
  markDirty(socket: CompletionSocket): void;
  /** Notes that this socket may be ready (checked at the next poll). */
  markActive(socket: CompletionSocket): void;
  /** Queues a SEND of the head of the socket's send queue (from `sendOffset`). */
  submitSend(socket: CompletionSocket): void;
  /** A send slot for `length` bytes. */
  sendSlot(length: number): SendSlot;
  /** Takes the fd over from its stream: cancel the RECV, close through the ring once the sends are out. */
  detach(socket: CompletionSocket): void;
  /**
   * Whether `socket` may read(2) its fd now without reordering bytes:
   * submits what is queued first (a SEND of ours the peer's bytes may be
   * an answer to), then checks that no RECV completion of this socket
   * waits unread in the CQ.
   */
  mayReadDirectly(socket: CompletionSocket): boolean;
}

/** One socket's completion state. */
export class CompletionSocket {
  /** The socket's fd. */
  readonly fd: number;
  /** Index in the poller's socket table (user_data lo). */
  readonly id: number;
  /** Generation (user_data hi, low 24 bits): stale CQEs from a previous user of `id` are dropped. */
  readonly gen: number;
  /** READ/WRITE the stream watches (0: none). */
  wanted = 0;
  /** Whether the stream has the fd registered with its loop. */
  registered = false;
  /** Set once the socket is detached (closed by its stream). */
  detached = false;

  // Receive side.
  recvArmed = false;
  recvCancelling = false;
  readonly chunks: Buffer[] = [];
  chunkHead = 0;
  /** Bytes received and not yet read. */
  buffered = 0;
  eof = false;
  readErrno = 0;
  /** The last `read` came from read(2), not from received chunks. */
  lastReadDirect = false;

  // Send side: a queue of slots; the head is in flight (one SEND at a time keeps byte order).
  readonly sendQueue: SendSlot[] = [];
  readonly sendFill: number[] = [];
  /** Bytes queued (including the SEND in flight). */
  sendQueued = 0;
  /** Bytes of the head slot already sent (a short SEND is re-submitted from here). */
  sendOffset = 0;
  writeErrno = 0;
  /** The CLOSE is queued or in flight (the fd belongs to the ring until it completes). */
  closing = false;
  /** The fd is closed. */
  closed = false;

  // A POLLOUT poll in flight (connecting sockets), and what it found.
  writableKnown = true; // false from startConnect() until the connect is over
  pollOutArmed = false;
  pendingError = 0;

  /** Whether this socket sits in the poller's active set. */
  active = false;
  /** Whether this socket sits in the poller's dirty list. */
  dirty = false;

  private readonly host: CompletionHost;

  constructor(host: CompletionHost, fd: number, id: number, gen: number) {
    this.host = host;
    this.fd = fd;
    this.id = id;
    this.gen = gen;
  }

  /** Whether a SEND is in flight. */
  sending(): boolean {
    return this.sendQueue.length > 0;
  }

  /** The events to report now (level-triggered), given what the stream watches. */
  readyEvents(): number {
    let events = this.pendingError;
    const wanted = this.wanted;
    const ended = this.eof || this.readErrno !== 0;
    if (wanted & READ) {
      if (this.buffered > 0 || ended) events |= READ;
      // Unread data behind an EOF: a hang-up, so the stream drains it all
      // even while it holds reads back (flow control), as on epoll's HUP.
      if (ended && this.buffered > 0) events |= ERROR;
    } else if (ended && this.registered) {
      // The peer is gone while READ is not watched: a hang-up, as epoll
      // would report it; the stream then watches READ and drains.
      events |= ERROR;
    }
    if (wanted & WRITE && this.sendQueued < SEND_WINDOW && (this.writableKnown || this.writeErrno !== 0)) events |= WRITE;
    return events;
  }

  /** Whether the RECV should be armed now. */
  wantsRecv(): boolean {
    if (this.detached || this.eof || this.readErrno !== 0 || !this.writableKnown) return false;
    if (this.wanted & READ) return true;
    return this.recvArmed && this.buffered < HIGH_WATER;
  }

  /** Whether a POLLOUT poll should be armed now. */
  wantsPollOut(): boolean {
    return !this.detached && !this.writableKnown && !this.pollOutArmed && (this.wanted & (READ | WRITE)) !== 0;
  }

  // ------------------------------------------------------------ the stream's side

  /**
   * Up to `max` bytes received, an empty Buffer at EOF, or null if none
   * are here yet. Throws the receive error (once; EOF after it).
   */
  read(max: number): Buffer | null {
    if (this.buffered === 0) {
      if (this.readErrno !== 0) {
        const errno = this.readErrno;
        this.readErrno = 0;
        this.eof = true;
        throw new OSError(errno, 'recv');
      }
      if (this.eof) return EOF;
      this.lastReadDirect = true;
      return this.readDirectly(max);
    }
    this.lastReadDirect = false;
    const chunks = this.chunks;
    let first = chunks[this.chunkHead]!;
    let out: Buffer;
    if (first.length > max) {
      out = first.subarray(0, max);
      chunks[this.chunkHead] = first.subarray(max);
    } else if (first.length === this.buffered || first.length === max) {
      out = first;
      this.popChunk();
    } else {
      // Several chunks: join up to `max` bytes.
      const size = Math.min(max, this.buffered);
      out = Buffer.allocUnsafe(size);
      let filled = 0;
      while (filled < size) {
        first = chunks[this.chunkHead]!;
        const take = Math.min(first.length, size - filled);
        first.copy(out, filled, 0, take);
        filled += take;
        if (take === first.length) this.popChunk();
        else chunks[this.chunkHead] = first.subarray(take);
      }
    }
    this.buffered -= out.length;
    if (!this.recvArmed && this.buffered < HIGH_WATER) this.host.markDirty(this);
    return out;
  }

  /**
   * Nothing received: one read(2), as a readiness stream would make. It
   * cannot reorder bytes: with DEFER_TASKRUN the kernel moves socket data
   * into provided buffers only inside our io_uring_enter, so whatever the
   * RECV took is already in a CQE; when none of this socket's waits in the
   * CQ, what the RECV took is already in `chunks` (empty here). This keeps a stream's first read and
   * reads the stream asks for outside READ events synchronous, and an fd
   * closed behind the stream's back fails as on epoll (EBADF).
   */
  private readDirectly(max: number): Buffer | null {
    if (this.detached || !this.host.mayReadDirectly(this)) return null;
    const n = readToChunk(this.fd, max);
    if (n < 0) return null;
    if (n === 0) {
      this.eof = true;
      return EOF;
    }
    return Buffer.from(nativeChunk.view.subarray(0, n));
  }

  /** Reads into `target`: the count, 0 at EOF, or -1 if nothing is here yet. */
  readInto(target: Uint8Array): number {
    const data = this.read(target.byteLength);
    if (data === null) return -1;
    target.set(data, 0);
    return data.length;
  }

  /**
   * Takes up to 64 KiB of `parts` (from `parts[first]` at `offset`) into
   * the send queue: SENT at the next enter if nothing is in flight, else
   * after what is. Returns the bytes taken, 0 once `SEND_WINDOW` bytes are
   * queued (the stream then waits for WRITE). Throws the error an earlier
   * SEND failed with.
   */
  write(parts: readonly Uint8Array[], first: number, offset: number): number {
    if (this.writeErrno !== 0) throw new OSError(this.writeErrno, 'send');
    if (this.detached) return 0;
    let offered = 0;
    for (let i = first; i < parts.length && offered < LARGE_SLOT; i++) offered += parts[i]!.byteLength - (i === first ? offset : 0);
    const room = SEND_WINDOW - this.sendQueued;
    let total = Math.min(offered, LARGE_SLOT, room);
    if (total <= 0) return 0;
    const queue = this.sendQueue;
    const idle = queue.length === 0;
    let index = queue.length - 1;
    // Append to the last queued slot if it is not in flight and has room;
    // else start a slot of its own.
    if (idle || index === 0 || this.sendFill[index]! + total > queue[index]!.size) {
      const slot = this.host.sendSlot(Math.max(total, SMALL_SLOT));
      total = Math.min(total, slot.size);
      queue.push(slot);
      this.sendFill.push(0);
      index = queue.length - 1;
    }
    const view = queue[index]!.view;
    let filled = this.sendFill[index]!;
    let left = total;
    for (let i = first; i < parts.length && left > 0; i++) {
      const part = parts[i]!;
      const start = i === first ? offset : 0;
      const take = Math.min(part.byteLength - start, left);
      view.set(start === 0 && take === part.byteLength ? part : part.subarray(start, start + take), filled);
      filled += take;
      left -= take;
    }
    this.sendFill[index] = filled;
    this.sendQueued += total;
    if (idle) {
      this.sendOffset = 0;
      this.host.submitSend(this);
    }
    return total;
  }

  /** The stream started a nonblocking connect: no RECV until the socket is known writable. */
  startConnect(): void {
    this.writableKnown = false;
  }

  /**
   * The stream closes: the ring takes the fd over, cancels the RECV, lets
   * the queued sends go out and then closes the fd (IORING_OP_CLOSE). The
   * caller must forget the fd without closing it.
   */
  detach(): void {
    if (this.detached) return;
    this.host.detach(this);
  }

  // ------------------------------------------------------------ the poller's side

  /** Appends received bytes. */
  received(data: Buffer): void {
    this.chunks.push(data);
    this.buffered += data.length;
  }

  private popChunk(): void {
    this.chunks[this.chunkHead++] = EOF;
    if (this.chunkHead === this.chunks.length) {
      this.chunks.length = 0;
      this.chunkHead = 0;
    } else if (this.chunkHead > 64 && this.chunkHead * 2 > this.chunks.length) {
      this.chunks.splice(0, this.chunkHead);
      this.chunkHead = 0;
    }
  }

  /** Drops what was received and not read (the stream is gone). */
  dropReceived(): void {
    this.chunks.length = 0;
    this.chunkHead = 0;
    this.buffered = 0;
  }
}

/** Events the poller may add for a socket: re-exported for the poller's use. */
export { READ, WRITE, ERROR };
