/**
 * The completion transport of one stream socket on a ring: what an
 * `IOStream` reads and writes through when its loop runs on io_uring. No
 * Tornado counterpart (Tornado's streams call recv() on readiness).
 *
 * ## The contract: readiness emulated from completions
 * It keeps the transport contract (../transport.ts) the readiness
 * transport keeps, so the stream's logic (read family, write Futures, flow
 * control, buffer limits, close) exists once, above both:
 *
 * - readiness (../readiness-transport.ts): the events come from the
 *   kernel, `read` is read(2);
 * - completion (this file): a multishot RECV keeps filling provided
 *   buffers, each CQE's bytes are copied into its inbox, and `read()` hands
 *   them out with no syscall. The poller reports READ while bytes (or EOF,
 *   or an error) wait and READ is watched — level-triggered, as the stream
 *   expects — so reading costs no FFI call at all: one io_uring_enter per
 *   iteration gathers the data of every socket.
 *
 * Writes (the default, "ring sends"): `send()` copies what the stream
 * offers into the ring's send buffer (native slots, up to SEND_BUFFER per
 * socket) and counts it written at once, as write(2) counts what the
 * kernel's socket buffer took; the bytes go out as chains of linked SENDs
 * (./send-queue.ts) with the loop's next enter (./send-flush.ts for the
 * other moments), and WRITE is reported while the send buffer has room.
 * With `uring.streams: 'reads'` writes stay write(2), with WRITE a
 * real one-shot POLLOUT when the kernel's buffer is full.
 *
 * ## Closing
 * The stream's close goes through the ring: the RECV is cancelled, the
 * POLLOUT removed, and an IORING_OP_CLOSE follows them. With SENDs queued
 * or in flight the close lingers: the fd stays open until they are done,
 * then the CLOSE is queued on the last one's CQE (bounded: `abortLinger`,
 * which runs after LINGER_SECONDS, and the poller's close,
 * which closes a lingering fd itself). docs/uring.md has the reasons.
 *
 * ## Flow control
 * The RECV reads ahead of the stream, but never past `HIGH_WATER` bytes
 * waiting here: there it is cancelled (READ watched or not), the kernel's
 * socket buffer fills and TCP pushes back on the peer; reading below it
 * again (with READ watched) re-arms it. When the stream stops watching READ
 * the RECV stays armed until then, so a short pause costs no re-arm.
 *
 * ## Connecting sockets
 * By default the connect itself goes through the ring: `startConnect(encode)`
 * has the stream write the sockaddr into native memory this socket owns
 * (the CONNECT operation's buffer, freed when its CQE arrives or the ring goes),
 * and the IORING_OP_CONNECT goes out with the loop's next enter. Its result
 * is the connect's outcome: 0, or -errno (ECONNREFUSED, ETIMEDOUT…), kept
 * in `connectErrno` for the stream and reported as WRITE (WRITE|ERROR on
 * failure), what epoll reports for a connect that is over. A close while it
 * is in flight cancels it before the CLOSE (same submission, run in order).
 * With `uring.connect: false` the
 * stream makes a nonblocking connect(2) and a one-shot POLLOUT says when it
 * is over; the stream then reads SO_ERROR as on epoll.
 * Either way the RECV is armed only once the connect is over: a RECV under
 * way could otherwise consume the connect's error.
 */
import { OSError, errno as E } from '../sys/errors.js';
import { close as closeFdNow, getsockoptInt } from '../sys/libc.js';
import { AF_INET, AF_INET6, IPPROTO_TCP, POLLERR, POLLHUP, POLLOUT, SOL_SOCKET, SO_ERROR } from '../sys/constants.js';
import type { Address } from '../sys/sockaddr.js';
import { writeChunk, writeChunks } from '../fd-io.js';
import { addressOf } from '../sys/ffi.js';
import type { URingConfig } from '../loop-options.js';
import type { Connectable, FdOwner, FdSource, StreamTransport, TransportTimers } from '../transport.js';
import { allocRegion, freeRegion, type Region } from '../sys/arena.js';
import { READ, WRITE, ERROR } from '../poller.js';
import type { ProvidedBuffers } from './provided-buffers.js';
import { LARGE_SLOT, type SendBudget, type SendSlots } from './send-memory.js';
import { IORING_CQE_F_BUFFER, IORING_CQE_F_MORE, IOSQE_CQE_SKIP_SUCCESS } from './ring.js';
import { KIND_CLOSE, KIND_CONNECT, KIND_HANGUP, KIND_POLLOUT, KIND_RECV, KIND_SEND, type CompletionEndpoint, type EndpointHost } from './endpoint.js';
import { SendQueue } from './send-queue.js';
import { Operation } from './operation.js';
import { sendsQueued } from './send-flush.js';
import { EOF_CHUNK, ReceivedChunks, readOnce } from './received.js';
import { kernelReportsHangup } from './hangup.js';
import { resetOnClose } from './reset-on-close.js';

/**
 * How long a lingering close (ring sends) may wait for its peer to take
 * the bytes written before the close; then they are dropped and the fd
 * closed (`completionStats.lingerAborts`).
 */
export const LINGER_SECONDS = 30;

/** Bytes buffered here while nobody reads before the RECV is cancelled. */
export const HIGH_WATER = 256 * 1024;

/** Room for any sockaddr a stream connects to (sockaddr_un is the largest: 110 bytes). */
const SOCKADDR_ROOM = 128;

/**
 * Sockaddr regions for CONNECTs: a socket holds one from `startConnect`
 * until its CONNECT's CQE (or the ring's end), then it comes back here. A
 * small free list, because malloc and mapping a view cost FFI calls that a
 * connect through the ring is meant to save.
 */
const freeConnectAddrs: Region[] = [];
/** What `onePart` holds between writes. */
const EMPTY_PART = new Uint8Array(0);
const FREE_CONNECT_ADDRS_MAX = 16;
let connectAddrsHeld = 0;

/** Sockaddr regions held by sockets right now (their CONNECT queued or in flight). */
export function connectAddrsInUse(): number {
  return connectAddrsHeld;
}

function takeConnectAddr(): Region {
  connectAddrsHeld++;
  return freeConnectAddrs.pop() ?? allocRegion(SOCKADDR_ROOM);
}

function giveBackConnectAddr(region: Region): void {
  connectAddrsHeld--;
  if (freeConnectAddrs.length < FREE_CONNECT_ADDRS_MAX) freeConnectAddrs.push(region);
  else freeRegion(region);
}

/**
 * Ring sends: the most bytes a socket holds in native memory, queued or
 * in flight, the ring's counterpart of the kernel's socket buffers. Large,
 * because SENDs only go out at the next enter, so all a server writes in
 * one turn must fit (one enter can hand it the whole 4 MiB provided-buffer
 * pool of RECVs to relay); docs/uring.md. A write beyond it waits in the
 * stream's own buffer, for WRITE.
 */
export const SEND_BUFFER = 8 * 1024 * 1024;

/**
 * The smallest handed-over chunk a write sends from where it is (a direct
 * SEND, ./send-queue.ts) rather than copying it into a slot: the provided
 * buffers hand over chunks of half a buffer and more, and for less the
 * copy costs about what the direct SEND's enter does.
 */
export const DIRECT_SEND_MIN = 32 * 1024;

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
  /** Sockets closed through the ring (IORING_OP_CLOSE). */
  ringCloses: number;
  /** Closes that lingered: the fd stayed open until the SENDs queued at close were done. */
  lingerCloses: number;
  /** Sockets lingering right now (their fds still open). */
  lingering: number;
  /** Lingering closes cut short (the bound ran out, or the loop closed): their unsent bytes were dropped. */
  lingerAborts: number;
  /** Bytes copied into send slots (ring sends: the one copy a written byte costs). */
  sendCopiedBytes: number;
  /** SENDs submitted quiet: no CQE unless they fail or go short (./send-queue.ts). */
  quietSends: number;
  /** Bytes sent from the caller's own memory, not copied (direct SENDs of handed-over chunks: ./send-queue.ts). */
  sendDirectBytes: number;
  /** Quiet SENDs the socket could not take at once (EAGAIN, or part of them): resent as ordinary SENDs. */
  quietRetries: number;
}

/** What a completion socket needs from its poller, beyond any endpoint's needs. */
export interface SocketHost extends EndpointHost {
  /** The ring's provided buffers (there are some once a socket is attached). */
  providedBuffers(): ProvidedBuffers | null;
  /** Native memory SENDs are made from (ring sends). */
  readonly slots: SendSlots;
  /** The cap on what all the ring's send buffers hold together. */
  readonly sendBudget: SendBudget;
  readonly completionStats: CompletionStats;
  /** The loop's uring options (connects through the ring, when SENDs are submitted). */
  readonly config: URingConfig;
  /** Whether a chain of one SEND goes quiet (./send-queue.ts). */
  readonly quietSends: boolean;
  /** Whether a handed-over chunk written back is sent from where it is (direct SENDs, ./send-queue.ts). */
  readonly directSends: boolean;
  /** A quiet SEND was written (./send-queue.ts): concluded after the enter that consumes it. */
  quietSendWritten(queue: SendQueue): void;
}

/** One socket's completion state. */
export class CompletionSocket implements CompletionEndpoint, StreamTransport {
  readonly mode = 'completion' as const;
  /** The socket's fd. */
  readonly fd: number;
  /** Index in the poller's socket table (user_data lo). */
  readonly id: number;
  /** Generation (user_data hi, low 24 bits): stale CQEs from a previous user of `id` are dropped. */
  readonly gen: number;
  /** READ/WRITE the stream watches (0: none). */
  private wanted = 0;
  /** Whether the stream has the fd registered with its loop. */
  private registered = false;
  /** Set once the stream closed the fd. */
  detached = false;

  // Receive side: the multishot RECV (./operation.ts: armed, cancelling).
  readonly recvOp: Operation;
  private readonly inbox = new ReceivedChunks();
  /** `write`'s one-part list for `send`, reused (holds EMPTY_PART between writes). */
  private readonly onePart: Uint8Array[] = [EMPTY_PART];
  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.inbox.bytes;
  }
  private eof = false;
  private readErrno = 0;
  /**
   * A one-shot POLL_ADD for POLLHUP while the RECV cannot report one: after
   * an end of file that was not a hang-up (a peer's half-close, a TCP FIN),
   * or while the RECV is paused at HIGH_WATER. Epoll reports EPOLLHUP
   * level-triggered whether or not the stream reads; this is how the ring
   * learns of it then. Armed only at those moments: no SQE on the hot path.
   */
  readonly hangupOp: Operation;
  /** The last `read` came from read(2), not from received chunks. */
  private lastReadDirect = false;

  // Write side: a one-shot POLLOUT while WRITE is watched.
  /** False from startConnect() until a POLLOUT reports the connect over. */
  private connected = true;
  /** The one-shot POLLOUT. */
  readonly pollOutOp: Operation;
  /** The last POLLOUT reported the socket writable (reported until re-armed). */
  private writeReady = false;
  /** ERROR to report with the next WRITE (POLLERR/POLLHUP on the POLLOUT, or a failed CONNECT). */
  private pendingError = 0;

  // Connecting through the ring (see the file comment).
  /** The sockaddr of the CONNECT queued or in flight, in native memory this socket owns. */
  private connectLength = 0;
  /** The CONNECT (its buffer: the sockaddr, held from `startConnect` until it is over). */
  readonly connectOp: Operation;
  /** The CONNECT's outcome for the stream: -1 until its CQE, then 0 or the errno. */
  private connectErrno = -1;

  // Ring sends: chains of linked SENDs from native slots.
  readonly sends: SendQueue;

  // Closing through the ring.
  /** The stream closed the fd (rather than handing it over): the ring closes it. */
  private closeWanted = false;
  /** The fd stays open until the SENDs queued at close are done. */
  private lingering = false;
  /** A CLOSE is queued or in flight and will post a CQE (a quiet one posts none: see `queueClose`). */
  private closeQueued = false;
  /** Runs once a lingering close is over (IOStream drops its bound's timer). */
  private onLingerEnd: (() => void) | null = null;

  /** Whether this socket sits in the poller's active set. */
  active = false;
  /** Whether this socket sits in the poller's dirty list. */
  dirty = false;

  private readonly host: SocketHost;
  /** Where a lingering close's bound is set (the loop; null: unbounded but for the loop's close). */
  private readonly timers: TransportTimers | null;

  /** Whether writes go through the ring (`send`) rather than write(2). */
  readonly ringSends: boolean;

  /** A TCP socket (its source a Socket of AF_INET/AF_INET6): an EOF while its writes are open is no hang-up. */
  private readonly tcp: boolean;

  /** Where the fd comes from (asked whether its writes were shut down: ring sends refuse bytes then). */
  private readonly source: FdSource | null;

  constructor(host: SocketHost, fd: number, id: number, gen: number, ringSends = false,
    timers: TransportTimers | null = null, source: FdSource | null = null) {
    this.source = source;
    const socket = source as { family?: number; proto?: number } | null;
    this.tcp = (socket?.family === AF_INET || socket?.family === AF_INET6) && (socket.proto === 0 || socket.proto === IPPROTO_TCP);
    this.host = host;
    this.ringSends = ringSends;
    this.timers = timers;
    this.fd = fd;
    this.id = id;
    this.gen = gen;
    this.sends = new SendQueue(host, fd, id, gen);
    this.recvOp = new Operation(id, KIND_RECV, gen);
    this.pollOutOp = new Operation(id, KIND_POLLOUT, gen, true);
    this.connectOp = new Operation(id, KIND_CONNECT, gen);
    this.hangupOp = new Operation(id, KIND_HANGUP, gen, true);
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
    const sockaddr = this.connectOp.buffer;
    if (sockaddr !== null && !this.connectOp.armed) {
      ring.connect(this.fd, sockaddr.addr, this.connectLength, this.id, this.connectOp.udHi);
      this.connectOp.start();
    }
    if (this.wantsPollOut()) {
      // Level-triggered WRITE: what the last POLLOUT reported is dropped
      // and asked again (a still-writable socket completes at once).
      this.writeReady = false;
      this.pendingError = 0;
      ring.pollAdd(this.fd, POLLOUT, this.id, this.pollOutOp.udHi);
      this.pollOutOp.start();
    }
    const recv = this.recvOp;
    const want = this.wantsRecv();
    if (want && !recv.armed) {
      ring.recvMultishot(this.fd, this.host.providedBuffers()!.bgid, this.id, recv.udHi);
      recv.start();
    } else if (!want) {
      recv.cancel(ring); // flow control, or nobody watches READ: once, while armed
    }
    const hangup = this.hangupOp;
    if (this.wantsHangupPoll()) {
      if (!hangup.armed) {
        // Asking for POLLHUP alone keeps the unread bytes (POLLIN) from
        // completing it, but io_uring always reports POLLRDHUP (and POLLERR):
        // after a half-close a one-shot poll would complete at once, every
        // time. Multishot: a CQE per wake-up, and those without POLLHUP are ignored.
        ring.pollAdd(this.fd, POLLHUP, this.id, hangup.udHi, true);
        hangup.start();
      }
    } else {
      hangup.cancel(ring); // the RECV is back (it sees the hang-up itself): once, while armed
    }
  }

  /** One CQE of this socket's RECV, SEND, POLLOUT or CLOSE. */
  complete(kind: number, res: number, flags: number): void {
    if (kind === KIND_RECV) this.completeRecv(res, flags);
    else if (kind === KIND_SEND) this.completeSend(res);
    else if (kind === KIND_POLLOUT) this.completePollOut(res);
    else if (kind === KIND_CLOSE) this.completeClose();
    else if (kind === KIND_CONNECT) this.completeConnect(res);
    else if (kind === KIND_HANGUP) this.completeHangup(res, flags);
  }

  /** The hang-up poll completed: POLLHUP (or POLLERR) is a hang-up, reported as ERROR from now on. */
  private completeHangup(res: number, flags: number): void {
    if (!(flags & IORING_CQE_F_MORE)) {
      this.hangupOp.finish();
      // Ended by the kernel (a CQ overflow): asked again if still wanted. An error
      // (-ECANCELED, or no multishot poll) is not retried: the RECV's EOF check stays.
      if (!this.detached && res >= 0) this.host.markDirty(this);
    }
    if (this.detached || res < 0 || !(res & (POLLHUP | POLLERR))) return; // POLLRDHUP alone: a half-close
    this.hungUp = true;
    this.host.markDirty(this); // no more wanted: removed at the next enter
    this.host.markActive(this);
  }

  private completeConnect(res: number): void {
    this.connectOp.finish();
    this.freeConnectAddr();
    if (this.detached) return; // cancelled by a close (or over just before it): nobody waits
    this.connected = true;
    this.connectErrno = res < 0 ? -res : 0;
    // What epoll reports for a connect that is over: WRITE, with ERROR if it failed.
    this.writeReady = true;
    this.pendingError = res < 0 ? ERROR : 0;
    this.host.markDirty(this); // the RECV may be armed now
    this.host.markActive(this);
  }

  private freeConnectAddr(): void {
    const sockaddr = this.connectOp.buffer;
    if (sockaddr === null) return;
    giveBackConnectAddr(sockaddr);
    this.connectOp.buffer = null;
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
    if (res === 0) this.endOfFile();
    else if (res < 0) {
      if (res === -E.ENOBUFS) {
        stats.enobufs++;
        buffers?.starved(); // keep more fresh buffers in the ring from now on
      }
      else if (res !== -E.ECANCELED && !this.detached) this.readErrno = -res;
    }
    if (!(flags & IORING_CQE_F_MORE)) {
      // The multishot ended (ENOBUFS, an overflowed CQ, a cancel, EOF or an
      // error): re-armed at the next enter if it is still wanted.
      this.recvOp.finish();
      if (res > 0) stats.recvRearms++;
      this.host.markDirty(this);
    }
  }

  private completeSend(res: number): void {
    const over = this.sends.complete(res);
    // A lingering close goes on once the last SEND queued at close is done.
    if (over && this.lingering && !this.sends.busy()) this.endLinger(this.abortedLinger);
  }

  private completeClose(): void {
    this.closeQueued = false;
  }

  private completePollOut(res: number): void {
    this.pollOutOp.finish();
    if (res === -E.ECANCELED || this.detached) return;
    this.connected = true;
    this.writeReady = true;
    if (res < 0 || res & (POLLERR | POLLHUP)) this.pendingError = ERROR;
    this.host.markDirty(this); // a connect that is over lets the RECV be armed
  }

  /**
   * Queues the CLOSE of the fd (after the cancels written before it: the
   * kernel runs them in order). Where the kernel can skip CQEs the CLOSE is
   * quiet: no CQE unless it fails, so the socket's id is free at once and
   * the enter that submits it does not return just for it — a short
   * connection's third loop iteration (docs/uring.md, "Connections on the
   * ring"). A failed CLOSE still posts its CQE; its generation no longer
   * matches any socket, so it is dropped as stale.
   */
  private queueClose(): void {
    const ring = this.host.ring;
    this.host.completionStats.ringCloses++;
    this.closeQueued = !ring.canSkipCqe;
    ring.closeFile(this.fd, ring.canSkipCqe ? IOSQE_CQE_SKIP_SUCCESS : 0, this.id, (KIND_CLOSE << 24) | this.gen);
  }

  /** The lingering close is over (its SENDs done, or `aborted`): close the fd. */
  private endLinger(aborted: boolean): void {
    this.lingering = false;
    const stats = this.host.completionStats;
    stats.lingering--;
    if (aborted) stats.lingerAborts++;
    this.queueClose();
    const done = this.onLingerEnd;
    this.onLingerEnd = null;
    done?.();
  }

  /**
   * The fd is about to be closed or handed over: cancel the RECV and
   * POLLOUT. When the stream closes it (`closeWanted`), the CLOSE goes
   * through the ring behind the cancels, or, while SENDs are queued or in
   * flight, once they are done (a lingering close).
   */
  cancelForClose(): boolean {
    this.wanted = 0;
    this.registered = false;
    // Received and never read: on epoll still in the kernel, whose close
    // then resets the connection (./reset-on-close.ts).
    if (this.closeWanted && this.buffered > 0) resetOnClose(this.fd);
    this.dropReceived();
    const ring = this.host.ring;
    // Each returns whether its operation is still in flight (its cancel written now or before).
    let inFlight = this.recvOp.cancel(ring);
    if (this.pollOutOp.cancel(ring)) inFlight = true;
    if (this.hangupOp.cancel(ring)) inFlight = true;
    // A connect under way holds the file: cancel it before the CLOSE.
    if (this.connectOp.cancel(ring)) inFlight = true;
    else this.freeConnectAddr(); // queued, never written: nothing to cancel
    if (!this.closeWanted) return inFlight;
    const sends = this.sends;
    if (sends.busy()) {
      this.lingering = true;
      const stats = this.host.completionStats;
      stats.lingering++;
      stats.lingerCloses++;
      sends.submit(); // what the drain queued behind a chain no longer in flight
    } else {
      this.queueClose();
    }
    return true;
  }

  /** Whether the ring closes the fd (the stream announced its close: `willClose`). */
  closesThroughRing(): boolean {
    return this.closeWanted;
  }

  /** Whether a request of this socket is in flight, or its fd still open for a close to come. */
  inFlight(): boolean {
    return this.recvOp.armed || this.pollOutOp.armed || this.hangupOp.armed || this.connectOp.armed || this.sends.inFlight > 0 || this.lingering ||
      this.closeQueued;
  }

  /**
   * The ring is gone (its close cancelled everything and submitted what was
   * queued, a CLOSE included). A close that was still lingering is finished
   * with close(2): closing the loop closes every fd its streams closed.
   */
  abandon(): void {
    this.recvOp.finish();
    this.pollOutOp.finish();
    this.hangupOp.finish();
    this.connectOp.finish();
    this.freeConnectAddr();
    this.sends.abandon();
    this.dropReceived();
    if (this.lingering) {
      this.lingering = false;
      this.host.completionStats.lingering--;
      this.host.completionStats.lingerAborts++;
      closeFdNow(this.fd);
      const done = this.onLingerEnd;
      this.onLingerEnd = null;
      done?.();
    }
    this.closeQueued = false;
  }

  /**
   * Cuts a lingering close short (its bound ran out): the SENDs still in
   * flight are cancelled, and the fd closes once their CQEs are in.
   */
  abortLinger(): void {
    if (!this.lingering || this.host.ring.fd < 0) return;
    if (this.sends.inFlight === 0) {
      this.sends.clear();
      this.endLinger(true);
      return;
    }
    // The cancelled SEND fails the queue: its CQEs drop what is left (their
    // slots stay the kernel's until then) and the close follows.
    this.abortedLinger = true;
    this.sends.cancelled = true;
    this.host.ring.cancel(this.id, (KIND_SEND << 24) | this.gen);
  }

  private abortedLinger = false;
  /** Whether the kernel reported POLLHUP (poll(2) at end of file, or the hang-up poll): epoll's EPOLLHUP. */
  private hungUp = false;

  /** The events to report now (level-triggered), given what the stream watches. */
  readyEvents(): number {
    let events = 0;
    const wanted = this.wanted;
    const ended = this.eof || this.readErrno !== 0;
    // What epoll calls a hang-up: an error (a reset), or an end of file
    // with both directions shut down (a Unix peer's close; a FIN after this
    // side's own SHUT_WR). A peer's half-close is only readable (EPOLLRDHUP).
    // The hang-up poll may report one before the RECV reached the end of file (read-ahead paused).
    const hangup = this.readErrno !== 0 || this.hungUp;
    if (wanted & READ) {
      if (this.buffered > 0 || ended) events |= READ;
      // A hang-up is level-triggered, as epoll's EPOLLHUP: reported with
      // unread data behind it (the stream drains it all even while it holds
      // reads back, flow control) and after it, so a stream holding data it
      // has not been asked for still learns of the close.
      if (hangup) events |= ERROR;
    } else if (hangup && this.registered) {
      // While READ is not watched: the stream then watches READ and drains.
      events |= ERROR;
    }
    if (wanted & WRITE) {
      if (this.writeReady) events |= WRITE | this.pendingError;
      // Ring sends, once connected: writable while the send buffer has room.
      if (this.ringSends && this.connected && (this.sendRoom() > 0 || this.sends.errno !== 0)) events |= WRITE;
    }
    return events;
  }

  /** Whether the RECV should be armed now. */
  wantsRecv(): boolean {
    if (this.detached || this.eof || this.readErrno !== 0 || !this.connected) return false;
    if (this.buffered >= HIGH_WATER) return false; // read-ahead is bounded even while READ is watched
    return (this.wanted & READ) !== 0 || this.recvOp.armed;
  }

  /**
   * Whether the hang-up poll should be armed: the RECV cannot see a hang-up
   * (it ended at an end of file that was not one, or it is paused at
   * HIGH_WATER) and none is known yet.
   */
  wantsHangupPoll(): boolean {
    if (this.detached || this.hungUp || this.readErrno !== 0 || !this.connected || this.recvOp.armed) return false;
    return this.eof || this.buffered >= HIGH_WATER;
  }

  /** Whether a POLLOUT should be armed now. */
  wantsPollOut(): boolean {
    if (this.detached || this.pollOutOp.armed || this.connectOp.buffer !== null) return false;
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
      if (this.eof) return EOF_CHUNK;
      this.lastReadDirect = true;
      return this.readDirectly(max);
    }
    this.lastReadDirect = false;
    const out = this.inbox.take(max);
    if (!this.recvOp.armed && this.buffered < HIGH_WATER) this.host.markDirty(this);
    return out;
  }

  /**
   * Nothing received: one read(2), as a readiness stream would make. It
   * cannot reorder bytes: with DEFER_TASKRUN the kernel moves socket data
   * into provided buffers only inside our io_uring_enter, so whatever the
   * RECV took is already in a CQE; when none of this socket's waits in the
   * CQ, what the RECV took is already in the inbox (empty here). This keeps
   * a stream's first read and reads the stream asks for outside READ
   * events synchronous, and an fd closed behind the stream's back fails as
   * on epoll (EBADF).
   */
  private readDirectly(max: number): Buffer | null {
    // Not connected yet: nothing to read (a CONNECT not yet issued would make read(2) fail ENOTCONN).
    if (this.detached || !this.connected || this.host.completionWaiting(this, KIND_RECV)) return null;
    const data = readOnce(this.fd, max);
    if (data === EOF_CHUNK) this.endOfFile();
    return data;
  }

  /** End of file received: a hang-up too if the kernel says so (./hangup.ts). */
  private endOfFile(): void {
    this.eof = true;
    if (!this.hungUp && this.eofMayBeHangup()) this.hungUp = !this.detached && kernelReportsHangup(this.fd);
    // Not a hang-up yet: arm the hang-up poll for the one to come.
    if (!this.hungUp) this.host.markDirty(this);
  }

  /**
   * Whether poll(2) could report a hang-up at this end of file. TCP reports
   * POLLHUP only once both directions are shut down or the connection is
   * gone; with this side's writes open, an EOF is the peer's FIN and nothing
   * more yet (a reset after it: the hang-up poll armed at EOF reports it at
   * the next enter), so no poll(2) is made then.
   */
  private eofMayBeHangup(): boolean {
    return !this.tcp || this.source?.writesShutDown?.() === true;
  }

  /**
   * Reads into `target`: the count, 0 at EOF, or -1 if nothing is here yet.
   * The chunk read never reaches user code, so once its last byte is
   * copied out its provided buffer goes back into the ring (`recycle`):
   * a `readInto` loop keeps reusing a few buffers the cache still holds,
   * where `readBytes` needs fresh memory for every chunk it hands out.
   */
  readInto(target: Uint8Array): number {
    const data = this.read(target.byteLength);
    if (data === null) return -1;
    target.set(data, 0);
    // Only a chunk handed out whole, from its first byte: a remainder's
    // earlier part may have gone to user code through `read` (a stream
    // whose readChunkSize is smaller than the chunk), and the kernel must
    // never write into memory user code can reach.
    const buffers = this.host.providedBuffers();
    if (buffers !== null && data.byteOffset === 0 && !this.inbox.holds(data.buffer)) buffers.recycle(data);
    return data.length;
  }

  /** Received chunks: empty once nothing is left here; a direct read(2): a short one. */
  readLeftEmpty(n: number, max: number): boolean {
    return this.lastReadDirect ? n < max : this.buffered === 0;
  }

  /** Ring sends: into the send buffer (`send`); otherwise write(2). */
  write(data: Uint8Array): number {
    if (!this.ringSends) return writeChunk(this.fd, data);
    // `send` takes a list of parts; a one-element array made per write was
    // ~50 bytes of garbage per round trip. The socket's own one, emptied
    // after (fill copies the bytes, so nothing pins the caller's Buffer).
    const one = this.onePart;
    one[0] = data;
    try {
      return this.send(one, 0, 0);
    } finally {
      one[0] = EMPTY_PART;
    }
  }

  /** `write`, gathered. */
  writeMany(parts: readonly Uint8Array[], first: number, offset: number): number {
    return this.ringSends ? this.send(parts, first, offset) : writeChunks(this.fd, parts, first, offset);
  }

  /**
   * Ring sends: the stream offers the head of its write buffer (`parts`
   * from `parts[first]` at `offset`). Copies as much of it as the native
   * send buffer has room for (SEND_BUFFER bytes queued or in flight) into
   * slots and returns the count: those bytes are written, as far as the
   * stream is concerned — the ring's send buffer stands where the kernel's
   * socket buffer stands on epoll, so a write Future still means "handed to
   * the system" and `maxWriteBufferSize` still counts only what is left.
   * The SENDs go out as one chain of linked SENDs with the loop's next
   * io_uring_enter; what was queued meanwhile follows as the next chain.
   * Returns 0 while the send buffer is full (the stream then watches WRITE,
   * reported when a SEND completes). Throws the error a SEND failed with.
   */
  send(parts: readonly Uint8Array[], first: number, offset: number): number {
    const sends = this.sends;
    if (sends.errno !== 0) throw new OSError(sends.errno, 'send');
    if (this.detached) return 0;
    // After shutdown(SHUT_WR) write(2) fails with EPIPE at once; the SEND
    // would too, but only after the stream counted the bytes written.
    if (this.source?.writesShutDown?.() === true) throw new OSError(E.EPIPE, 'send');
    const room = this.sendRoom();
    if (room === 0) {
      // Full (its own SEND_BUFFER, or the ring's budget: see SendBudget):
      // this socket's SENDs report WRITE as they complete.
      if (sends.bytes < SEND_BUFFER) this.host.sendBudget.refusals++;
      return 0;
    }
    if (parts.length - first === 1) {
      // One large part (an echoed chunk, a Buffer the caller reuses): sent
      // from where it is, at once, not copied (./send-queue.ts, "Direct SENDs").
      // The length first: a small write (ping-pong's) asks nothing more.
      const part = parts[first]!;
      const length = part.length - offset;
      if (length >= DIRECT_SEND_MIN && length <= LARGE_SLOT && length <= room && this.host.directSends && sends.canSendNow()) {
        const addr = addressOf(part);
        if (addr !== 0) {
          sends.sendNow(offset === 0 ? part : part.subarray(offset), addr + offset);
          return length;
        }
      }
    }
    const taken = sends.fill(parts, first, offset, 0, sends.bytes + room);
    if (sends.inFlight === 0) {
      sends.submit();
      sendsQueued(this.host.ring, this.host.config.submit === 'turn');
    }
    return taken;
  }

  /** Bytes the send buffer may still take (SEND_BUFFER per socket, within the ring's budget). */
  private sendRoom(): number {
    return this.host.sendBudget.room(this.sends.bytes, SEND_BUFFER);
  }


  /**
   * The stream is about to close `fd`: if it is still this socket's, the
   * detach that removing its handler makes from here on closes it through
   * the ring, in the same submission as the cancels (see `close`).
   */
  willClose(fd: number): void {
    if (fd === this.fd && !this.detached) this.closeWanted = true;
  }

  /**
   * The stream closes the fd. Announced by `willClose`: the ring stops its
   * RECV and POLLOUT and closes the fd itself (IORING_OP_CLOSE, behind the
   * cancels, all with the loop's next enter), at once if no SEND is queued, else once they are done
   * (`lingering`, bounded by LINGER_SECONDS on the loop's clock). Otherwise
   * (the fd was closed or handed over behind the stream's back) the owner
   * closes what it still holds.
   */
  close(owner: FdOwner): void {
    if (!this.closeWanted) {
      this.detach();
      owner.close();
      return;
    }
    owner.detach(); // the fd is the ring's to close now
    if (!this.detached) this.host.detach(this);
    const timers = this.timers;
    if (this.lingering && timers !== null) {
      const bound = timers.callLater(LINGER_SECONDS, () => this.abortLinger());
      this.onLingerEnd = () => timers.removeTimeout(bound);
    }
  }

  /** Stops reading and writing the fd (a handover: startTls); returns the bytes read ahead, now lost. */
  release(): number {
    const readAhead = this.buffered;
    this.detach();
    return readAhead;
  }

  /**
   * Connects to `address`: through the ring (the sockaddr encoded into this
   * socket's memory, the CONNECT with the next enter) unless the loop's
   * options say otherwise, else connect(2) with a POLLOUT for its end.
   */
  connect(address: Address, socket: Connectable): number {
    if (this.host.config.connect && socket.fileno() === this.fd && !this.detached && !this.connectPending()) {
      this.startConnect((view) => socket.encodeAddress(address, view, 0));
      return E.EINPROGRESS;
    }
    this.startConnect();
    return socket.connectEx(address);
  }

  /** The CONNECT's errno once its CQE is in; SO_ERROR after a connect(2); -1 while under way. */
  connectResult(): number {
    if (this.connectPending()) return -1;
    if (this.connectErrno >= 0) return this.connectErrno;
    return getsockoptInt(this.fd, SOL_SOCKET, SO_ERROR);
  }

  /**
   * The stream connects. With `encode` (see `connectsThroughRing`), the
   * connect goes through the ring: `encode` writes the sockaddr into this
   * socket's own native memory and returns its length (it may throw: then
   * nothing is queued), and the CONNECT goes out with the next enter.
   * Without, the stream made a nonblocking connect(2): a POLLOUT says when
   * it is over. Either way no RECV until then.
   */
  private startConnect(encode?: (view: Buffer) => number): void {
    this.connected = false;
    this.connectErrno = -1;
    if (encode === undefined) return;
    const region = takeConnectAddr();
    try {
      this.connectLength = encode(region.view);
    } catch (error) {
      giveBackConnectAddr(region);
      throw error;
    }
    this.connectOp.buffer = region;
    this.host.markDirty(this);
  }

  /** Whether a CONNECT through the ring is queued or in flight (its outcome not known yet). */
  connectPending(): boolean {
    return this.connectOp.buffer !== null || this.connectOp.armed;
  }

  /** The stream is about to close the fd: cancel what is in flight first. */
  detach(): void {
    if (this.detached) return;
    this.host.detach(this);
  }

  // ------------------------------------------------------------ the poller's side

  /** Appends received bytes. */
  received(data: Buffer): void {
    this.inbox.push(data);
  }

  /** Drops what was received and not read (the stream is gone). */
  dropReceived(): void {
    this.inbox.clear();
  }
}

