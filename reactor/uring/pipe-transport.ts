/**
 * The completion transport of a pipe's read end on a ring: what a
 * `PipeIOStream` reads through when its loop runs on io_uring. No Tornado
 * counterpart (Tornado's PipeIOStream calls os.read() on readiness).
 *
 * RECV does not work on pipes, so this endpoint keeps **one single-shot
 * `IORING_OP_READ`** (offset -1: the pipe's current position) in flight
 * into a 64 KiB native buffer it owns. Each CQE's bytes are copied into a
 * JS Buffer, and the READ is re-armed in the next submission batch (the
 * poller's `arm()` before its one enter), so reading costs no FFI call.
 *
 * Why single-shot rather than multishot READ (IORING_OP_READ_MULTISHOT,
 * 6.7+): a multishot READ needs buffer select, i.e. the provided-buffer
 * ring the sockets share (a pipe's bytes would then compete with them for
 * buffers and bring ENOBUFS re-arms), while a single-shot READ into its
 * own buffer needs nothing shared; and since at most one READ is in flight,
 * "armed" means "nothing received that we have not seen", which makes the
 * direct read(2) below safe without scanning the CQ. The cost is one SQE
 * per 64 KiB chunk, written in JS with no FFI call.
 *
 * Readiness is emulated as for sockets (./socket-transport.ts): READ is
 * reported, level-triggered, while bytes, EOF (a 0-byte READ) or an error
 * wait and READ is watched; a writer's close is a hang-up as epoll reports
 * it on a pipe (ERROR alone, or READ|ERROR while data waits). Read-ahead is bounded:
 * once the stream has watched READ the READ stays armed while fewer than
 * `PIPE_HIGH_WATER` bytes wait, and is re-armed as the stream reads.
 *
 * Close: the READ holds a reference to the file, so the stream's close
 * cancels it and submits the cancel at once (the poller's `detach`) before
 * close(2). The native buffer is freed only when the READ's own CQE is in
 * (the kernel may write it until then), or when the ring closes.
 */
import { OSError, errno as E } from '../sys/errors.js';
import { allocRegion, freeRegion } from '../sys/arena.js';
import { READ, ERROR } from '../poller.js';
import type { Address } from '../sys/sockaddr.js';
import { writeChunk, writeChunks } from '../fd-io.js';
import type { Connectable, FdOwner, StreamTransport } from '../transport.js';
import { KIND_READ, type CompletionEndpoint, type EndpointHost } from './endpoint.js';
import { Operation } from './operation.js';
import { EOF_CHUNK, ReceivedChunks, readOnce } from './received.js';

/** Bytes one READ asks for (the size of the endpoint's native buffer). */
export const PIPE_READ_SIZE = 64 * 1024;
/** Bytes read ahead of the stream before the READ is no longer re-armed. */
export const PIPE_HIGH_WATER = 256 * 1024;


/** Counters of one pipe endpoint (tests read them). */
export interface PipeStats {
  /** READ SQEs written. */
  reads: number;
  /** Bytes its READs brought. */
  bytes: number;
  /** read(2) calls made directly (no READ in flight and nothing received). */
  direct: number;
}

/** One pipe read end's completion state (see the file comment). */
export class CompletionPipe implements CompletionEndpoint, StreamTransport {
  readonly mode = 'completion' as const;
  readonly fd: number;
  readonly id: number;
  readonly gen: number;
  detached = false;
  active = false;
  dirty = false;
  readonly stats: PipeStats = { reads: 0, bytes: 0, direct: 0 };
  /** READ the stream watches (0: none). */
  private wanted = 0;
  private registered = false;
  /** The stream has watched READ once: from then on the READ reads ahead (bounded). */
  private started = false;
  /** The one single-shot READ (./operation.ts); its buffer is the endpoint's, freed only when it is not armed. */
  readonly readOp: Operation;
  private readonly inbox = new ReceivedChunks();
  /** Bytes received and not yet read by the stream. */
  get buffered(): number {
    return this.inbox.bytes;
  }
  private eof = false;
  private readErrno = 0;
  /** The last `read` was a direct read(2). */
  lastReadDirect = false;
  private readonly host: EndpointHost;

  constructor(host: EndpointHost, fd: number, id: number, gen: number) {
    this.host = host;
    this.fd = fd;
    this.id = id;
    this.gen = gen;
    this.readOp = new Operation(id, KIND_READ, gen);
    this.readOp.buffer = allocRegion(PIPE_READ_SIZE);
  }

  // ------------------------------------------------------------ the poller's side

  watch(events: number, registered: boolean): void {
    this.wanted = events & READ;
    this.registered = registered;
    if (this.wanted !== 0) this.started = true;
    this.host.markDirty(this);
    this.host.markActive(this);
  }

  reported(_events: number): void {}

  arm(): void {
    const buffer = this.readOp.buffer;
    if (this.readOp.armed || !this.wantsRead() || buffer === null) return;
    this.host.ring.readWrite(false, this.fd, buffer.addr, PIPE_READ_SIZE, this.id, this.readOp.udHi);
    this.readOp.start();
    this.stats.reads++;
  }

  complete(kind: number, res: number, _flags: number): void {
    if (kind !== KIND_READ) return;
    this.readOp.finish();
    if (this.detached) {
      this.freeBuffer(); // the kernel is done with it
      return;
    }
    if (res > 0) {
      this.inbox.push(Buffer.from(this.readOp.buffer!.view.subarray(0, res)));
      this.stats.bytes += res;
    } else if (res === 0) {
      this.eof = true;
    } else if (res !== -E.ECANCELED && res !== -E.EAGAIN) {
      this.readErrno = -res;
    }
    if (this.wantsRead()) this.host.markDirty(this);
  }

  cancelForClose(): boolean {
    this.wanted = 0;
    this.registered = false;
    this.dropReceived();
    if (this.readOp.cancel(this.host.ring)) return true;
    this.freeBuffer();
    return false;
  }

  inFlight(): boolean {
    return this.readOp.armed;
  }

  abandon(): void {
    this.readOp.finish();
    this.dropReceived();
    this.freeBuffer();
  }

  readyEvents(): number {
    // As epoll reports a pipe: the writer's close is a hang-up (EPOLLHUP,
    // with EPOLLIN while data waits), so EOF alone is ERROR, not READ.
    if (this.wanted & READ) {
      if (this.buffered > 0) return this.eof || this.readErrno !== 0 ? READ | ERROR : READ;
      if (this.readErrno !== 0) return READ | ERROR; // the read throws the error
      return this.eof ? ERROR : 0;
    }
    return (this.eof || this.readErrno !== 0) && this.registered ? ERROR : 0;
  }

  /** Whether the READ should be (re-)armed now. */
  wantsRead(): boolean {
    return this.started && !this.detached && !this.eof && this.readErrno === 0 && this.buffered < PIPE_HIGH_WATER;
  }

  // ------------------------------------------------------------ the stream's side

  /**
   * Up to `max` bytes received, an empty Buffer at EOF, or null if none
   * are here yet. Throws the read error (once; EOF after it). With no READ
   * in flight and nothing received it makes one read(2), as a readiness
   * stream would (the stream's first read, before any READ is armed):
   * nothing can be reordered, since no READ can be holding bytes.
   */
  read(max: number): Buffer | null {
    if (this.buffered === 0) {
      if (this.readErrno !== 0) {
        const errno = this.readErrno;
        this.readErrno = 0;
        this.eof = true;
        throw new OSError(errno, 'read');
      }
      if (this.eof) return EOF_CHUNK;
      this.lastReadDirect = true;
      if (this.readOp.armed || this.detached) return null;
      this.stats.direct++;
      const data = readOnce(this.fd, max);
      if (data === EOF_CHUNK) this.eof = true;
      return data;
    }
    this.lastReadDirect = false;
    const out = this.inbox.take(max);
    if (!this.readOp.armed && this.wantsRead()) this.host.markDirty(this);
    return out;
  }

  /** Reads into `target`: the count, 0 at EOF, or -1 if nothing is here yet. */
  readInto(target: Uint8Array): number {
    const data = this.read(target.byteLength);
    if (data === null) return -1;
    target.set(data, 0);
    return data.length;
  }

  /** Received chunks: empty once nothing is left here; a direct read(2): a short one. */
  readLeftEmpty(n: number, max: number): boolean {
    return this.lastReadDirect ? n < max : this.buffered === 0;
  }

  /** Writes stay write(2) on readiness (only read ends are attached; a write is the caller's mistake, failing as write(2) does). */
  write(data: Uint8Array): number {
    return writeChunk(this.fd, data);
  }

  writeMany(parts: readonly Uint8Array[], first: number, offset: number): number {
    return writeChunks(this.fd, parts, first, offset);
  }

  /** Pipes do not connect: connect(2) says so (ENOTSOCK). */
  connect(address: Address, socket: Connectable): number {
    return socket.connectEx(address);
  }

  connectResult(): number {
    return 0;
  }

  willClose(_fd: number): void {}

  /** Cancels the READ (submitted at once: an armed READ holds the file), then the owner closes the fd. */
  close(owner: FdOwner): void {
    this.detach();
    owner.close();
  }

  /** Stops reading the fd; returns the bytes read ahead, now lost. */
  release(): number {
    const readAhead = this.buffered;
    this.detach();
    return readAhead;
  }

  /** The stream is about to close the fd: cancel the READ first (submitted at once). */
  detach(): void {
    if (!this.detached) this.host.detach(this);
  }

  private dropReceived(): void {
    this.inbox.clear();
  }

  private freeBuffer(): void {
    const buffer = this.readOp.buffer;
    if (buffer === null) return;
    freeRegion(buffer);
    this.readOp.buffer = null;
  }
}
