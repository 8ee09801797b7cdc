/**
 * The completion transport of one stream socket on a ring: what an
 * `IOStream` reads through when its loop runs on io_uring. No Tornado
 * counterpart (Tornado's streams call recv() on readiness).
 *
 * ## The seam: readiness emulated from completions
 * `BaseIOStream` is written against readiness: it watches READ/WRITE with
 * `addHandler`/`updateHandler`, and on an event calls its subclass's
 * `readFromFd`/`writeToFd`, which return data, "would block" or EOF. There
 * are two transports under that one contract, and the stream's logic (read
 * family, write Futures, flow control, buffer limits, close) exists once:
 *
 * - readiness (epoll, poll, kqueue; and uring for every other fd): the
 *   events come from the kernel, `readFromFd` is read(2);
 * - completion (this file): a multishot RECV keeps filling provided
 *   buffers, each CQE's bytes are copied into `chunks`, and `read()` hands
 *   them out with no syscall. The poller reports READ while chunks (or EOF,
 *   or an error) wait and READ is watched — level-triggered, as the stream
 *   expects — so reading costs no FFI call at all: one io_uring_enter per
 *   iteration gathers the data of every socket.
 *
 * Writes stay write(2) by default, with WRITE a real one-shot POLLOUT
 * when the kernel's buffer is full. That keeps Tornado's write semantics
 * exactly: a write Future resolves when the kernel holds the bytes, so code
 * that awaits a write and then blocks, or stops the loop, or closes the
 * stream, sees them sent. With ring sends (`send()`, GALE_URING_STREAMS=2)
 * the bytes go out as a SEND from native memory, and the stream consumes
 * them (resolving their Futures) only once the SEND has completed;
 * docs/uring.md says what that changes.
 *
 * ## Flow control
 * The RECV reads ahead of the stream, but never past `HIGH_WATER` bytes
 * waiting here: there it is cancelled (READ watched or not), the kernel's
 * socket buffer fills and TCP pushes back on the peer; reading below it
 * again (with READ watched) re-arms it. When the stream stops watching READ
 * the RECV stays armed until then, so a short pause costs no re-arm.
 *
 * ## Connecting sockets
 * A RECV on a socket whose connect is still under way could consume the
 * connect's error (`SO_ERROR`) before the stream checks it, so after
 * `startConnect()` the RECV is armed only once a POLLOUT has reported the
 * connect over; POLLERR/POLLHUP there is reported as WRITE|ERROR, and the
 * stream reads SO_ERROR as on epoll.
 */
import { OSError, errno as E } from '../sys/errors.js';
import { chunk as nativeChunk } from '../sys/arena.js';
import { readToChunk } from '../sys/libc.js';
import { READ, WRITE, ERROR } from '../poller.js';
import { LARGE_SLOT, type ProvidedBuffers, type SendSlot, type SendSlots } from './buffers.js';
import { IORING_CQE_F_BUFFER, IORING_CQE_F_MORE } from './ring.js';
import { KIND_POLLOUT, KIND_RECV, KIND_SEND, type CompletionEndpoint, type EndpointHost } from './endpoint.js';

/** Bytes buffered here while nobody reads before the RECV is cancelled. */
export const HIGH_WATER = 256 * 1024;

const EOF = Buffer.alloc(0);
const POLLOUT = 0x004;
const POLLERR = 0x008;
const POLLHUP = 0x010;
const MSG_WAITALL = 0x100;
const MSG_NOSIGNAL = 0x4000;

/** Counters of the completion sockets' slow paths (one set per ring). */
export interface CompletionStats {
  /** RECVs re-armed after the buffer ring ran dry (ENOBUFS). */
  enobufs: number;
  /** Multishot RECVs that ended without an error or EOF (overflow, cancel) and were re-armed. */
  recvRearms: number;
  /** CQEs dropped because their socket or poll was gone (stale generation). */
  stale: number;
  /** Extra enters a direct read made to submit queued SQEs first. */
  directReadFlushes: number;
  /** SENDs the kernel completed short and that were re-submitted for the rest (ring sends). */
  shortSends: number;
}

/** What a completion socket needs from its poller, beyond any endpoint's needs. */
export interface SocketHost extends EndpointHost {
  /** The ring's provided buffers (there are some once a socket is attached). */
  providedBuffers(): ProvidedBuffers | null;
  /** Native memory SENDs are made from (ring sends). */
  readonly slots: SendSlots;
  readonly completionStats: CompletionStats;
}

/** One socket's completion state. */
export class CompletionSocket implements CompletionEndpoint {
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
  /** Set once the stream closed the fd. */
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

  // Write side: a one-shot POLLOUT while WRITE is watched.
  /** False from startConnect() until a POLLOUT reports the connect over. */
  connected = true;
  pollOutArmed = false;
  /** The last POLLOUT reported the socket writable (reported until re-armed). */
  writeReady = false;
  /** ERROR to report with the next WRITE (POLLERR/POLLHUP on the POLLOUT). */
  pendingError = 0;

  // Ring sends (GALE_URING_STREAMS=2): one SEND in flight from a native slot.
  sendSlot: SendSlot | null = null;
  sendLength = 0;
  /** Bytes of the SEND in flight the kernel has taken so far (a short SEND goes on from here). */
  sendOffset = 0;
  /** Bytes sent and not yet claimed by the stream (its write Futures resolve when it claims them). */
  sendDone = 0;
  writeErrno = 0;

  /** Whether this socket sits in the poller's active set. */
  active = false;
  /** Whether this socket sits in the poller's dirty list. */
  dirty = false;

  private readonly host: SocketHost;

  /** Whether writes go through the ring (`send`) rather than write(2). */
  ringSends = false;

  /** Whether the peer's close is a hang-up, as epoll reports it (Unix sockets), or just readable (TCP). */
  readonly eofIsHangup: boolean;

  constructor(host: SocketHost, fd: number, id: number, gen: number, eofIsHangup: boolean) {
    this.host = host;
    this.eofIsHangup = eofIsHangup;
    this.fd = fd;
    this.id = id;
    this.gen = gen;
  }

  // ------------------------------------------------------------ the endpoint (the poller's side)

  /** The stream (un)watches READ/WRITE. */
  watch(events: number, registered: boolean): void {
    this.wanted = events & (READ | WRITE);
    this.registered = registered;
    this.host.markDirty(this);
    this.host.markActive(this);
  }

  /** A reported WRITE came from a one-shot POLLOUT: ask again at the next enter (level). */
  reported(events: number): void {
    if (events & WRITE) this.host.markDirty(this);
  }

  /** Writes the RECV/POLLOUT/cancel SQEs that bring the requests in line with the state. */
  arm(): void {
    const ring = this.host.ring;
    if (this.wantsPollOut()) {
      // Level-triggered WRITE: what the last POLLOUT reported is dropped
      // and asked again (a still-writable socket completes at once).
      this.writeReady = false;
      this.pendingError = 0;
      ring.pollAdd(this.fd, POLLOUT, this.id, (KIND_POLLOUT << 24) | this.gen);
      this.pollOutArmed = true;
    }
    const want = this.wantsRecv();
    if (want && !this.recvArmed) {
      ring.recvMultishot(this.fd, this.host.providedBuffers()!.bgid, this.id, (KIND_RECV << 24) | this.gen);
      this.recvArmed = true;
    } else if (!want && this.recvArmed && !this.recvCancelling) {
      ring.cancel(this.id, (KIND_RECV << 24) | this.gen);
      this.recvCancelling = true;
    }
  }

  /** One CQE of this socket's RECV, SEND or POLLOUT. */
  complete(kind: number, res: number, flags: number): void {
    if (kind === KIND_RECV) this.completeRecv(res, flags);
    else if (kind === KIND_SEND) this.completeSend(res);
    else if (kind === KIND_POLLOUT) this.completePollOut(res);
  }

  private completeRecv(res: number, flags: number): void {
    const buffers = this.host.providedBuffers();
    const stats = this.host.completionStats;
    if (flags & IORING_CQE_F_BUFFER && buffers !== null) {
      const bid = flags >>> 16;
      if (res > 0 && !this.detached) {
        this.received(buffers.take(bid, res));
        // Nobody reads and HIGH_WATER is reached: cancel it at the next enter (flow control).
        if (!this.wantsRecv()) this.host.markDirty(this);
      } else {
        buffers.giveBack(bid);
      }
    }
    if (res === 0) this.eof = true;
    else if (res < 0) {
      if (res === -E.ENOBUFS) stats.enobufs++;
      else if (res !== -E.ECANCELED && !this.detached) this.readErrno = -res;
    }
    if (!(flags & IORING_CQE_F_MORE)) {
      // The multishot ended (ENOBUFS, an overflowed CQ, a cancel, EOF or an
      // error): re-armed at the next enter if it is still wanted.
      this.recvArmed = false;
      this.recvCancelling = false;
      if (res > 0) stats.recvRearms++;
      this.host.markDirty(this);
    }
  }

  private completeSend(res: number): void {
    const slot = this.sendSlot;
    if (slot === null) return;
    if (res > 0 && this.sendOffset + res < this.sendLength) {
      this.sendOffset += res;
      this.host.completionStats.shortSends++;
      this.submitSend();
      return;
    }
    if (res <= 0) {
      if (!this.detached) this.writeErrno = res < 0 ? -res : E.EPIPE;
    } else {
      this.sendDone += this.sendLength;
    }
    this.sendSlot = null;
    this.host.slots.put(slot);
  }

  private completePollOut(res: number): void {
    this.pollOutArmed = false;
    if (res === -E.ECANCELED || this.detached) return;
    this.connected = true;
    this.writeReady = true;
    if (res < 0 || res & (POLLERR | POLLHUP)) this.pendingError = ERROR;
    this.host.markDirty(this); // a connect that is over lets the RECV be armed
  }

  /** Queues the SEND of what is left of the slot. */
  private submitSend(): void {
    const slot = this.sendSlot!;
    this.host.ring.send(this.fd, slot.addr + this.sendOffset, this.sendLength - this.sendOffset,
      MSG_NOSIGNAL | MSG_WAITALL, this.id, (KIND_SEND << 24) | this.gen);
  }

  /** The fd is about to be closed: cancel the RECV and POLLOUT (a SEND still queued goes out first). */
  cancelForClose(): boolean {
    this.wanted = 0;
    this.registered = false;
    this.dropReceived();
    const ring = this.host.ring;
    let cancelled = false;
    if (this.recvArmed && !this.recvCancelling) {
      ring.cancel(this.id, (KIND_RECV << 24) | this.gen);
      this.recvCancelling = true;
      cancelled = true;
    }
    if (this.pollOutArmed) {
      ring.pollRemove(this.id, (KIND_POLLOUT << 24) | this.gen);
      cancelled = true;
    }
    return cancelled || this.recvCancelling;
  }

  /** Whether a RECV, POLLOUT or SEND is still in flight. */
  inFlight(): boolean {
    return this.recvArmed || this.pollOutArmed || this.sendSlot !== null;
  }

  /** The ring is gone. */
  abandon(): void {
    this.recvArmed = this.pollOutArmed = false;
    this.sendSlot = null;
    this.dropReceived();
  }

  /** The events to report now (level-triggered), given what the stream watches. */
  readyEvents(): number {
    let events = 0;
    const wanted = this.wanted;
    const ended = this.eof || this.readErrno !== 0;
    // What epoll calls a hang-up: an error (a reset), or the peer's close
    // on a Unix socket (TCP's FIN is only readable, EPOLLRDHUP).
    const hangup = this.readErrno !== 0 || (this.eof && this.eofIsHangup);
    if (wanted & READ) {
      if (this.buffered > 0 || ended) events |= READ;
      // With unread data behind it, the hang-up makes the stream drain it
      // all even while it holds reads back (flow control).
      if (hangup && this.buffered > 0) events |= ERROR;
    } else if (hangup && this.registered) {
      // While READ is not watched: the stream then watches READ and drains.
      events |= ERROR;
    }
    if (wanted & WRITE) {
      if (this.writeReady) events |= WRITE | this.pendingError;
      if (this.sendDone > 0 || this.writeErrno !== 0) events |= WRITE;
    }
    return events;
  }

  /** Whether the RECV should be armed now. */
  wantsRecv(): boolean {
    if (this.detached || this.eof || this.readErrno !== 0 || !this.connected) return false;
    if (this.buffered >= HIGH_WATER) return false; // read-ahead is bounded even while READ is watched
    return (this.wanted & READ) !== 0 || this.recvArmed;
  }

  /** Whether a POLLOUT should be armed now. */
  wantsPollOut(): boolean {
    if (this.detached || this.pollOutArmed) return false;
    // With ring sends, WRITE comes from the SEND's completion once connected.
    if (this.ringSends && this.connected) return false;
    return (this.wanted & WRITE) !== 0 || (!this.connected && (this.wanted & READ) !== 0);
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
    if (this.detached || this.host.completionWaiting(this, KIND_RECV)) return null;
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
   * Ring sends: the stream offers the head of its write buffer (`parts`
   * from `parts[first]` at `offset`). Returns how many of those bytes a
   * completed SEND has delivered since the last call (the stream consumes
   * them and resolves their Futures: Tornado's "flushed to the kernel"),
   * and, if no SEND is in flight, queues the next up to 64 KiB after them.
   * The stream sees a short write and waits for WRITE, which the SEND's
   * completion reports. Throws the error a SEND failed with.
   */
  send(parts: readonly Uint8Array[], first: number, offset: number): number {
    if (this.writeErrno !== 0) throw new OSError(this.writeErrno, 'send');
    if (this.detached || this.sendSlot !== null) return 0;
    const claimed = this.sendDone;
    this.sendDone = 0;
    // Skip the claimed bytes, then copy up to a slot's worth.
    let skip = claimed;
    let i = first;
    let start = offset;
    while (i < parts.length && skip > 0) {
      const left = parts[i]!.byteLength - start;
      if (skip < left) { start += skip; skip = 0; break; }
      skip -= left;
      i++;
      start = 0;
    }
    let total = 0;
    for (let j = i; j < parts.length && total < LARGE_SLOT; j++) total += parts[j]!.byteLength - (j === i ? start : 0);
    total = Math.min(total, LARGE_SLOT);
    if (total > 0) {
      const slot = this.host.slots.get(total);
      let filled = 0;
      for (let j = i; j < parts.length && filled < total; j++) {
        const part = parts[j]!;
        const from = j === i ? start : 0;
        const take = Math.min(part.byteLength - from, total - filled);
        slot.view.set(from === 0 && take === part.byteLength ? part : part.subarray(from, from + take), filled);
        filled += take;
      }
      this.sendSlot = slot;
      this.sendLength = total;
      this.sendOffset = 0;
      this.submitSend();
    }
    return claimed;
  }

  /** The stream started a nonblocking connect: no RECV until a POLLOUT says it is over. */
  startConnect(): void {
    this.connected = false;
  }

  /** The stream is about to close the fd: cancel what is in flight first. */
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
