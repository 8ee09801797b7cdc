/**
 * `BaseIOStream`: Tornado 4.4's buffered, nonblocking stream over an fd
 * (`tornado.iostream.BaseIOStream`), with Tornado 4.5's per-write Futures
 * and Tornado 5's `readInto`.
 *
 * The methods follow the order of `BaseIOStream` in Tornado 4.4's
 * tornado/iostream.py, so the two can be read side by side: the fd hooks,
 * the read family, `write`, closing and state, then the private machinery
 * from `_handle_events` to `_add_io_state`. What Tornado spreads over a dozen
 * `_read_*` attributes is one `PendingRead` value here (pending-read.ts).
 *
 * ## The seam: fd operations below, buffering above
 *
 * Everything that touches the fd goes through a handful of hooks (the
 * first section of the class), and nothing outside them does I/O:
 * - `fileno()`, `closeFd()`, `getFdError()`: identity, release, and the
 *   error behind an ERROR event;
 * - `readFromFd()` (one chunk or null), `readFromFdInto(target)` (for
 *   `readInto`), `readLeftFdEmpty(n)` (does a short read mean "empty");
 * - `writeToFd(data)` and the gathered `writeManyToFd(parts, first, offset)`.
 * The rest — the read buffer, the pending read, the write buffer and its
 * Futures, closing, and which events to ask the loop for — is transport-
 * neutral. `IOStream` and `PipeIOStream` implement the hooks with the
 * transport their loop hands them (reactor/transport.ts states the
 * contract: readiness, read(2) when the fd is reported ready; or
 * completion, bytes the ring already read), through `readOrClose` and
 * `readIntoOrClose` below; they never ask which one they have. TLS
 * buffers plaintext out of the poller's sight (so it overrides
 * `readLeftFdEmpty`, and a handshake must finish before these hooks move
 * application bytes, as `connecting` holds writes back). The buffering
 * above does not care where a chunk came from, only that the loop calls
 * `handleEvents` when one may be ready (READ/WRITE of `fileno()`).
 *
 * ## How a read completes
 *
 * A read call records what it wants (a `PendingRead`: n bytes, a delimiter,
 * a regex, all until close, or a caller's buffer), then tries to satisfy it
 * from the read buffer, then from the fd right away ("inline"), and only
 * then asks the loop for READ events. Each READ event reads into the buffer
 * until the read is satisfied or the fd is drained. Completion is
 * Tornado's: a callback is run through `ioLoop.addCallback` (so user code
 * never runs inside our handler and the close callback can be ordered after
 * it), a Future is resolved on the spot — its `await` continuation then
 * runs right after this loop iteration (see reactor/ioloop.ts), which keeps
 * an echo at one iteration per message. (A read with a streaming callback
 * is the exception: its Future is queued behind the chunks, so `await`
 * never overtakes them.)
 *
 * ## The FFI budget (DESIGN.md, "Streams")
 *
 * Each syscall is an FFI call of a few µs, so the stream makes as few as the
 * protocol allows: in steady state one read and one write per echoed
 * message, plus a share of the loop's poll.
 * - A read that returns fewer bytes than asked for means the fd is empty
 *   right now. Tornado would read again to see EAGAIN; we remember "drained"
 *   instead, until the next READ event says otherwise. The fd is
 *   level-triggered, so a wrong guess costs a poll, never a lost byte.
 * - A write the kernel takes only partly means its buffer is full; until
 *   the next WRITE event, new writes are only queued (Tornado would try each
 *   one, paying an FFI call for an EAGAIN and re-gathering the queue).
 * - The poll mask is not churned. READ stays registered while the stream
 *   is idle with an empty buffer (Tornado's rule, to notice a close) and —
 *   beyond Tornado — also while bytes the application has not asked for yet
 *   are buffered, until a READ event arrives that nobody consumes. Tornado
 *   drops READ as soon as a handler leaves data behind, which with
 *   pipelined requests means two `epoll_ctl` calls per batch; dropping it
 *   lazily keeps the same flow control (at most one more chunk is read)
 *   without them.
 *
 * ## Hang-ups
 *
 * When the loop reports ERROR without an error on the fd (the peer of a
 * pipe or Unix socket is gone), Tornado 4.4 closes at once, dropping bytes
 * still in the kernel buffer if the stream was not reading them. Those bytes
 * are the peer's last words, so this stream first reads the fd to its end
 * (into the buffer, within `maxBufferSize`), and only then closes; a pending
 * write is tried once more so its Future fails with the real cause (EPIPE).
 *
 * ## Closing
 *
 * `close()` closes the fd exactly once. Data already buffered still goes to
 * a pending `readUntilClose` (or any pending read it satisfies); then, once
 * no callback of this stream is still queued, every outstanding Future fails
 * with `StreamClosedError` (its `realError` the cause, also kept in `error`)
 * and the close callback is queued — after the read callbacks, so they can
 * still process what they received.
 */
import { checkInteger, describeValue } from '../reactor/sys/validate.js';
import { IOLoop } from '../reactor/ioloop.js';
import { Future, doneFuture, futureSetResultUnlessCancelled } from '../reactor/future.js';
import { appLog, genLog } from '../reactor/log.js';
import { errno as E } from '../reactor/sys/errors.js';
import { StreamBufferFullError, StreamClosedError, UnsatisfiableReadError, closedErrorFor } from './errors.js';
import { ReadBuffer } from './read-buffer.js';
import { GATHER_LIMIT, WriteBuffer, type WriteSink } from './write-buffer.js';
import { iterateChunks } from './stream-iterator.js';
import type { StreamTransport } from '../reactor/transport.js';
import * as reads from './pending-read.js';
import type { BytesRead, PendingRead } from './pending-read.js';
import {
  callbackOf, optionsOf, toBytes,
  type ReadBytesOptions, type ReadCallback, type ReadUntilCloseOptions, type ReadUntilOptions, type StreamOptions,
} from './options.js';

const READ = IOLoop.READ;
const WRITE = IOLoop.WRITE;
const ERROR = IOLoop.ERROR;

/** Tornado's default `max_buffer_size`: 100 MB. */
export const DEFAULT_MAX_BUFFER_SIZE = 104857600;
/** Tornado's default `read_chunk_size`: 64 KiB. */
export const DEFAULT_READ_CHUNK_SIZE = 65536;

// Errnos that mean the peer went away abruptly. They close the stream like
// an EOF would, without logging (the error is still kept in `error`).
const CONNRESET = new Set<number>([E.ECONNRESET, E.ECONNABORTED, E.EPIPE, E.ETIMEDOUT]);

/** Whether `error` is a connection reset (ECONNRESET, ECONNABORTED, EPIPE, ETIMEDOUT). */
export function isConnReset(error: unknown): boolean {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' && CONNRESET.has(errno);
}

/**
 * A buffered, nonblocking stream over one fd: the read family, `write`,
 * closing. Subclasses supply the fd operations (`fileno`, `closeFd`,
 * `writeToFd`, `readFromFd`, optionally `getFdError`, `writeManyToFd`,
 * `readFromFdInto`, `readLeftFdEmpty`): see "The seam" at the top of the file.
 */
export abstract class BaseIOStream implements AsyncIterable<Buffer> {
  /** The loop this stream's fd is registered on. */
  readonly ioLoop: IOLoop;
  /** The most incoming bytes this stream buffers before closing with `StreamBufferFullError`. */
  maxBufferSize: number;
  /** The most bytes one read from the fd asks for. */
  readChunkSize: number;
  /** The most outgoing bytes this stream buffers (null: unlimited). */
  maxWriteBufferSize: number | null;
  /** Why the stream closed, when it closed because of an error. */
  error: Error | null = null;

  /** @internal The bytes read and not yet consumed. */
  protected readonly readBuffer = new ReadBuffer();
  private readonly writeBuffer = new WriteBuffer();
  /**
   * @internal The most bytes one gathered write takes (`writeGatherLimit()`,
   * read once): the stream is its write buffer's `WriteSink` itself.
   */
  readonly gatherLimit: number;

  // The pending read, if any (at most one).
  private pendingRead: PendingRead | null = null;
  // The record of the last completed readBytes, emptied, for the next one to fill in.
  private spareBytesRead: BytesRead | null = null;
  // Reads completed so far: whether a read completed while it was starting (startRead).
  private completedReads = 0;

  // The last string delimiter and its bytes: a line protocol asks for the same one every time.
  private lastDelimiter: string | null = null;
  private lastDelimiterBytes: Uint8Array | null = null;

  private writeCallback: (() => void) | null = null;
  private closeCallback: (() => void) | null = null;
  /** @internal Set by `connect` until the connection is made (writes are queued meanwhile). */
  protected connecting = false;
  /** @internal The Future of a pending `connect`, failed by `close`. */
  protected connectFuture: Future<any> | null = null;

  // The events registered with the loop; null while not registered.
  private state: number | null = null;
  // Callbacks of this stream queued on the loop and not yet run; the close
  // callback and the failing of Futures wait until it is back to 0.
  private pendingCallbacks = 0;
  private closedFlag = false;
  // Inside close(): a read completed there must not re-register the fd.
  private closing = false;
  // The last read from the fd came back short: it is empty until the next READ event.
  private drained = false;
  // This READ event found data nobody asked for: stop watching READ for now.
  private heldBack = false;
  // The last write to the fd came back short: the kernel's buffer is full
  // until the next WRITE event, so new data is only queued meanwhile.
  private writeBlocked = false;

  constructor(options: StreamOptions = {}) {
    const loop = options.ioLoop ?? IOLoop.current();
    if (!loop) throw new Error('no IOLoop: pass ioLoop or make one current');
    this.ioLoop = loop;
    // Named one by one, not looped over: `options[name]` with a varying
    // name is a generic keyed load, three per stream made.
    checkSizeOption('maxBufferSize', options.maxBufferSize);
    checkSizeOption('readChunkSize', options.readChunkSize);
    checkSizeOption('maxWriteBufferSize', options.maxWriteBufferSize);
    this.maxBufferSize = options.maxBufferSize || DEFAULT_MAX_BUFFER_SIZE;
    // A chunk too close to maxBufferSize would trip the limit spuriously (Tornado).
    this.readChunkSize = Math.max(1, Math.min(options.readChunkSize || DEFAULT_READ_CHUNK_SIZE, Math.floor(this.maxBufferSize / 2)));
    this.maxWriteBufferSize = options.maxWriteBufferSize ?? null;
    this.gatherLimit = this.writeGatherLimit();
  }

  // ------------------------------------------------------------ the fd hooks (the seam)

  /** The file descriptor of this stream. */
  abstract fileno(): number;

  /** Closes the fd. Called once, by `close()`; others should call `close()`. */
  abstract closeFd(): void;

  /**
   * Writes `data` to the fd without blocking. Returns the bytes written, 0
   * if the fd would block. Throws `OSError` on failure.
   */
  abstract writeToFd(data: Uint8Array): number;

  /**
   * Reads at most `readChunkSize` bytes from the fd without blocking.
   * Returns null if there is nothing to read; at end of file closes the
   * stream and returns null. Throws `OSError` on failure.
   */
  abstract readFromFd(): Buffer | null;

  /**
   * The error pending on the fd, after the loop reported ERROR for it, or
   * null if there is none (or no way to tell).
   */
  getFdError(): Error | null {
    return null;
  }

  /**
   * Writes the bytes of `parts`, from `parts[first]` at `offset` on, as one
   * write of up to 64 KiB. The default joins them and calls `writeToFd`;
   * fd-backed subclasses gather them natively in one FFI call.
   */
  protected writeManyToFd(parts: readonly Uint8Array[], first: number, offset: number): number {
    const pieces: Uint8Array[] = [];
    let length = 0;
    for (let i = first; i < parts.length && length < GATHER_LIMIT; i++) {
      let part = parts[i]!;
      if (i === first && offset) part = part.subarray(offset);
      if (length + part.byteLength > GATHER_LIMIT) part = part.subarray(0, GATHER_LIMIT - length);
      pieces.push(part);
      length += part.byteLength;
    }
    return this.writeToFd(Buffer.concat(pieces, length));
  }

  /**
   * Reads into `target` without blocking (for `readInto`). Returns the
   * bytes read, or null as `readFromFd` does. The default reads a chunk and
   * copies it, keeping what does not fit in the read buffer; fd-backed
   * subclasses read straight into `target` (`readIntoOrClose`).
   */
  protected readFromFdInto(target: Uint8Array): number | null {
    const chunk = this.readFromFd();
    if (chunk === null) return null;
    const n = Math.min(chunk.length, target.length);
    target.set(n === chunk.length ? chunk : chunk.subarray(0, n), 0);
    if (n < chunk.length) this.readBuffer.push(chunk.subarray(n));
    return n;
  }

  /**
   * Whether a read that returned `n` bytes shows the fd to be empty for now
   * (so no read is tried again before the next READ event). True for a
   * short read of a plain fd; a transport that buffers out of the poller's
   * sight (TLS records) or returns short reads with more pending overrides it.
   */
  protected readLeftFdEmpty(n: number): boolean {
    return n < this.readChunkSize;
  }

  /**
   * `readFromFd` for streams over a transport: one nonblocking read of up
   * to `readChunkSize` bytes; at end of file closes the stream.
   */
  protected readOrClose(transport: StreamTransport): Buffer | null {
    const data = transport.read(this.readChunkSize);
    if (data === null) return null;
    if (data.length === 0) {
      this.close();
      return null;
    }
    return data;
  }

  /**
   * `readFromFdInto` for streams over a transport: one nonblocking read
   * straight into `target`; at end of file closes the stream.
   */
  protected readIntoOrClose(transport: StreamTransport, target: Uint8Array): number | null {
    const n = transport.readInto(target);
    if (n < 0) return null;
    if (n === 0) {
      this.close();
      return null;
    }
    return n;
  }

  /**
   * Whether pending writes wait for the fd to become writable (so WRITE is
   * watched). A transport whose writes wait on something else (TLS: the
   * engine finishing its previous write) says no meanwhile and calls
   * `transportWritable()` when that is over.
   */
  protected waitsForWritable(): boolean {
    return true;
  }

  /** The most bytes one gathered write (`writeManyToFd`) takes; TLS takes more than a syscall's 64 KiB. */
  protected writeGatherLimit(): number {
    return GATHER_LIMIT;
  }

  /**
   * Runs the READ path as if the fd had reported READ. For transports that
   * hold bytes out of the poller's sight (TLS: records decrypted outside a
   * read of ours), so a pending read completes and "drained" is forgotten.
   */
  protected transportReadable(): void {
    if (!this.closedFlag) this.handleEvents(this.fileno(), READ);
  }

  /**
   * Runs the WRITE path as if the fd had reported WRITE. For transports
   * whose writes wait on something other than the fd (TLS: the engine
   * taking its next write), so queued data moves as soon as that is over.
   */
  protected transportWritable(): void {
    if (!this.closedFlag) this.handleEvents(this.fileno(), WRITE);
  }

  /** Hands over the close callback (startTls moves it to the TLS stream, as Tornado does). */
  protected takeCloseCallback(): (() => void) | null {
    const callback = this.closeCallback;
    this.closeCallback = null;
    return callback;
  }

  /** Runs when the loop reports the fd while `connect` is pending (IOStream). */
  protected handleConnect(): void {}

  // ------------------------------------------------------------ the read family

  /**
   * Reads until `regex` matches, and returns everything up to the end of
   * the match. The regex runs over the bytes read as latin1, so offsets are
   * byte offsets. With `maxBytes`, closes the stream if there is no match
   * within that many bytes. Returns a Future, or null with a callback.
   */
  readUntilRegex(regex: RegExp, callbackOrOptions?: ReadCallback | ReadUntilOptions): Future<Buffer> | null {
    const pattern = reads.searchable(regex);
    const callback = callbackOf<ReadCallback>(callbackOrOptions);
    const options = optionsOf<ReadUntilOptions>(callbackOrOptions);
    const future = this.setReadCallback(callback);
    this.pendingRead = { kind: 'regex', callback, future, regex: pattern, maxBytes: maxBytesOf(options) };
    return this.startRead(future);
  }

  /**
   * Reads until `delimiter` has been read, and returns everything up to and
   * including it. With `maxBytes`, closes the stream if the delimiter is not
   * found within that many bytes. Returns a Future, or null with a callback.
   */
  readUntil(delimiter: Buffer | Uint8Array | string, callbackOrOptions?: ReadCallback | ReadUntilOptions): Future<Buffer> | null {
    const needle = this.delimiterBytes(delimiter);
    const callback = callbackOf<ReadCallback>(callbackOrOptions);
    const options = optionsOf<ReadUntilOptions>(callbackOrOptions);
    const future = this.setReadCallback(callback);
    this.pendingRead = { kind: 'delimiter', callback, future, delimiter: needle, scanned: 0, maxBytes: maxBytesOf(options) };
    return this.startRead(future);
  }

  /**
   * Reads `numBytes` bytes. With `streamingCallback`, data is passed to it
   * in chunks as it arrives and the final result is empty. With `partial`,
   * completes as soon as any bytes are available (at most `numBytes`).
   * Returns a Future of the data, or null when a callback is given.
   */
  readBytes(numBytes: number, callbackOrOptions?: ReadCallback | ReadBytesOptions): Future<Buffer> | null {
    checkInteger('numBytes', numBytes);
    const callback = callbackOf<ReadCallback>(callbackOrOptions);
    const options = optionsOf<ReadBytesOptions>(callbackOrOptions);
    const future = this.setReadCallback(callback);
    const partial = options.partial ?? false;
    const streamingCallback = options.streamingCallback ?? null;
    // The record of the last completed byte read, filled in again (see
    // spareBytesRead): a connection waiting in `await readBytes()` keeps one
    // object fewer alive, which is what makes V8 grow its young generation
    // under load (docs/memory.md, "Under load").
    const read = this.spareBytesRead;
    if (read !== null) {
      this.spareBytesRead = null;
      read.callback = callback;
      read.future = future;
      read.left = numBytes;
      read.partial = partial;
      read.streamingCallback = streamingCallback;
      this.pendingRead = read;
    } else {
      this.pendingRead = { kind: 'bytes', callback, future, left: numBytes, partial, streamingCallback };
    }
    return this.startRead(future);
  }

  /**
   * Reads everything until the stream closes. With `streamingCallback`,
   * data is passed to it in chunks and the final result is empty. There is
   * no backpressure: use a loop of partial `readBytes` for flow control.
   * Returns a Future, or null with a callback.
   */
  readUntilClose(callbackOrOptions?: ReadCallback | ReadUntilCloseOptions): Future<Buffer> | null {
    const callback = callbackOf<ReadCallback>(callbackOrOptions);
    const options = optionsOf<ReadUntilCloseOptions>(callbackOrOptions);
    const future = this.setReadCallback(callback);
    this.pendingRead = { kind: 'untilClose', callback, future, streamingCallback: options.streamingCallback ?? null };
    if (this.closedFlag) {
      this.finishReadUntilClose();
      return future;
    }
    return this.startRead(future);
  }

  /**
   * Reads into `buf` until it is full (or, with `partial`, until at least
   * one byte is there), reading from the fd straight into it where the
   * stream can. Resolves with the number of bytes placed in `buf`.
   * (Tornado 5's `read_into`.)
   */
  readInto(buf: Uint8Array, partial = false): Future<number> {
    if (!(buf instanceof Uint8Array)) throw new TypeError(`buf must be a Buffer or Uint8Array, got ${describeValue(buf)}`);
    const future = this.setReadCallback(null)!;
    const take = Math.min(this.readBuffer.size, buf.length);
    this.readBuffer.consumeInto(buf, 0, take);
    this.pendingRead = { kind: 'into', callback: null, future, target: buf, filled: take, partial };
    return this.startRead(future)!;
  }

  // ------------------------------------------------------------ write

  /**
   * Writes `data`. Without a callback, returns a Future that resolves once
   * these bytes are flushed to the fd. With one, it runs when the whole
   * write buffer is flushed (replacing any earlier write callback).
   *
   * The bytes are not copied while they wait: do not modify `data` until
   * its Future resolves. Throws `StreamClosedError` if the stream is closed,
   * and `StreamBufferFullError` (queuing nothing) if `data` would push the
   * write buffer past `maxWriteBufferSize`.
   *
   * The contract on every poller: a write that threw sent nothing; the bytes
   * of an accepted write reach the peer exactly once, in order, unless the
   * connection fails or the stream closes first (then a prefix of them).
   */
  write(data: Buffer | Uint8Array | string, callback?: () => void): Future<void> | null {
    this.checkClosed();
    const bytes = toBytes(data);
    const buffer = this.writeBuffer;
    if (bytes.length) {
      if (this.maxWriteBufferSize !== null && buffer.size + bytes.length > this.maxWriteBufferSize) {
        throw new StreamBufferFullError('Reached maximum write buffer size');
      }
      buffer.append(bytes);
    }
    const wantsFuture = callback === undefined || callback === null;
    if (!wantsFuture) this.writeCallback = callback;
    if (this.connecting) return wantsFuture ? this.writeFuture() : null;
    // With the kernel full, trying again would cost an FFI call for an
    // EAGAIN (and re-gather everything queued): wait for WRITE instead.
    if (!this.writeBlocked) this.handleWrite();
    // Made after the attempt: a write the kernel took at once gets a
    // Future done at birth (see writeFuture).
    const future = wantsFuture ? this.writeFuture() : null;
    if (buffer.size && this.waitsForWritable()) this.addIoState(WRITE);
    this.maybeAddErrorListener();
    return future;
  }

  /**
   * The Future of the write just queued, resolved once every byte queued so
   * far is written. Made after `write()` tried to write, not before: when
   * nothing is left (the common case of a small write), it is the thread's
   * done Future (`doneFuture`: already fulfilled, shared by every such
   * write, no waiter entry), which is what a Future made before would have
   * been by now. Else it waits in the buffer as before; if the attempt
   * closed the stream, `write()`'s `maybeAddErrorListener` then runs the
   * close's failing of write Futures for it (what the close did to a Future
   * queued before).
   */
  private writeFuture(): Future<void> {
    const buffer = this.writeBuffer;
    if (buffer.size === 0 && !this.closedFlag) return doneFuture();
    const future = new Future<void>();
    buffer.addWaiter(future);
    return future;
  }

  // ------------------------------------------------------------ closing and state

  /** Runs `callback` once the stream is closed (after its pending callbacks). */
  setCloseCallback(callback: (() => void) | null): void {
    this.closeCallback = callback ?? null;
    this.maybeAddErrorListener();
  }

  /**
   * Closes the stream. `excInfo` may be the Error that caused it, which is
   * kept in `error`. (`true` — Tornado's "the current exception" — has no
   * JS equivalent: whatever `error` already holds is kept.)
   */
  close(excInfo?: boolean | Error): void {
    if (!this.closedFlag && !this.closing) {
      this.closing = true;
      if (excInfo instanceof Error) this.error = excInfo;
      if (this.pendingRead?.kind === 'untilClose') {
        this.finishReadUntilClose();
      } else if (this.pendingRead !== null) {
        // A pending read that what is already buffered satisfies still completes.
        let pos: number | null = null;
        try {
          pos = this.findReadPos();
        } catch {
          // unsatisfiable: the read fails with the others below
        }
        if (pos !== null) this.readFromBuffer(pos);
      }
      if (this.state !== null) {
        this.ioLoop.removeHandler(this.fileno());
        this.state = null;
      }
      this.closedFlag = true;
      try {
        this.closeFd();
      } catch (error) {
        // The fd is released either way; nothing is left to retry.
        genLog.debug(`Error closing fd ${this.fileno()}`, error);
      }
    }
    this.maybeRunCloseCallback();
  }

  /**
   * Fails the outstanding Futures and queues the close callback, once the
   * stream is closed and none of its callbacks is still queued.
   */
  protected maybeRunCloseCallback(): void {
    if (!this.closedFlag || this.pendingCallbacks !== 0) return;
    const cause = this.error;
    const read = this.takePendingRead();
    const connectFuture = this.connectFuture;
    this.connectFuture = null;
    this.writeCallback = null;
    // Built only for a Future that is still there to fail, and without a stack (closedErrorFor).
    if (read?.future && !read.future.done()) read.future.setException(closedErrorFor(cause));
    if (this.writeBuffer.waiting || this.writeBuffer.size) this.writeBuffer.failAll(closedErrorFor(cause));
    if (connectFuture !== null && !connectFuture.done()) connectFuture.setException(closedErrorFor(cause));
    if (this.closeCallback !== null) {
      const callback = this.closeCallback;
      this.closeCallback = null;
      this.runCallback(callback);
    }
  }

  /** Whether a read is pending. */
  reading(): boolean {
    return this.pendingRead !== null;
  }

  /** Whether written data is still waiting to be flushed. */
  writing(): boolean {
    return this.writeBuffer.size > 0;
  }

  /** Whether the stream is closed. */
  closed(): boolean {
    return this.closedFlag;
  }

  /** Sets TCP_NODELAY where it applies (TCP streams); a no-op here. */
  setNodelay(_value: boolean): void {}

  /**
   * Iterates over the data as it arrives, one Buffer per read, until the
   * stream closes. Ends normally at end of file or after `close()`; throws
   * `StreamClosedError` if the stream closed because of an error. Breaking
   * out of the loop leaves the stream open.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return iterateChunks(this);
  }

  /** Closes the stream (`await using stream = …`). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  // ------------------------------------------------------------ the event handler

  /**
   * The loop's handler for this fd (Tornado's `_handle_events`): connect,
   * then READ, then WRITE, then a hang-up; finally the events to watch next.
   */
  private readonly handleEvents = this.onEvents.bind(this);

  private onEvents(fd: number, events: number): void {
    if (this.closedFlag) {
      genLog.warn(`Got events for closed stream ${fd}`);
      return;
    }
    try {
      // A failed connect may be reported as READ, WRITE or ERROR: check it first.
      if (this.connecting) this.handleConnect();
      if (this.closedFlag) return;
      this.heldBack = false;
      const hangup = (events & ERROR) !== 0;
      if (events & READ) {
        this.drained = false;
        this.handleRead(hangup);
      }
      if (this.closedFlag) return;
      // On a hang-up, a pending write learns why (EPIPE) rather than just failing.
      if (events & WRITE || (hangup && this.writing())) {
        this.writeBlocked = false;
        this.handleWrite();
      }
      if (this.closedFlag) return;
      if (hangup) {
        const error = this.getFdError();
        if (error === null && this.state !== null && !(this.state & READ)) {
          // A hang-up while READ was not watched (flow control): bytes may
          // still wait in the kernel. Watch READ; the next event either
          // reports them (and they are drained) or confirms there are none.
          this.state |= READ;
          this.ioLoop.updateHandler(this.fileno(), this.state);
          return;
        }
        this.error = error;
        // Callbacks queued by the read or write above run before the close.
        this.ioLoop.addCallback(() => this.close());
        return;
      }
      let state = ERROR;
      if (this.reading()) state |= READ;
      if (this.writing() && this.waitsForWritable()) state |= WRITE;
      // Keep READ unless a READ event just went unconsumed (see the top comment).
      if (!(state & READ) && this.state !== null && this.state & READ && !this.heldBack) state |= READ;
      // An idle stream watches READ to notice a close (Tornado). With data
      // buffered it does not: a close cannot be acted on before that data is read.
      if (state === ERROR && this.readBuffer.size === 0) state |= READ;
      if (state !== this.state) {
        this.state = state;
        this.ioLoop.updateHandler(this.fileno(), state);
      }
    } catch (error) {
      if (error instanceof UnsatisfiableReadError) {
        genLog.info(`Unsatisfiable read, closing connection: ${error.message}`);
        this.close(error);
        return;
      }
      genLog.error('Uncaught exception, closing connection.', error);
      this.close(error as Error);
      throw error;
    }
  }

  /** Queues `callback(...args)` on the loop (Tornado's `_run_callback`). */
  protected runCallback(callback: (...args: any[]) => void, ...args: unknown[]): void {
    const wrapper = (): void => {
      this.pendingCallbacks--;
      try {
        callback(...args);
      } catch (error) {
        appLog.error('Uncaught exception, closing connection.', error);
        // Close now rather than leave the fd to a garbage collector.
        this.close(error as Error);
        throw error; // for the loop's own "Exception in callback" report
      }
      this.maybeAddErrorListener();
    };
    this.pendingCallbacks++;
    this.ioLoop.addCallback(wrapper);
  }

  // ------------------------------------------------------------ the read machinery
  // What a read waits for is decided in pending-read.ts; these methods move
  // bytes from the fd into the buffer and hand results to callbacks/Futures.

  /**
   * Reads from the fd until the pending read is satisfied, the fd is
   * drained, or the stream closed (with `toEnd`, until the fd has nothing
   * more at all). Returns the read position, or null.
   */
  private readToBufferLoop(toEnd = false): number | null {
    const target = toEnd ? null : reads.readAheadTarget(this.pendingRead);
    let nextFindPos = 0;
    // Counted as a pending callback so that an EOF inside the loop does not
    // run the close callback before this read's own callback is queued.
    this.pendingCallbacks++;
    try {
      while (!this.closedFlag && (toEnd || !this.drained)) {
        if (this.readToBuffer() === 0) break;
        this.runStreamingCallback();
        if (toEnd) continue;
        const size = this.readBuffer.size;
        if (target !== null && size >= target) break;
        // Searching is the costly part: do it on the first read and whenever
        // the buffer has doubled since (Tornado).
        if (size >= nextFindPos) {
          const pos = this.findReadPos();
          if (pos !== null) return pos;
          nextFindPos = size * 2;
        }
      }
      return this.findReadPos();
    } finally {
      this.pendingCallbacks--;
    }
  }

  /**
   * A READ event. With `hangup` (the peer is gone) the fd is read to its end
   * whatever the pending read wants: what is left in the kernel can no
   * longer be flow-controlled, only kept (up to `maxBufferSize`) or lost.
   */
  private handleRead(hangup: boolean): void {
    if (!hangup && !this.reading() && this.readBuffer.size > 0) {
      // Nobody wants more yet: leave it in the kernel (flow control).
      this.heldBack = true;
      return;
    }
    let pos: number | null;
    try {
      pos = this.readToBufferLoop(hangup);
    } catch (error) {
      if (error instanceof UnsatisfiableReadError) throw error;
      // A full buffer was logged as such where it happened.
      if (!(error instanceof StreamBufferFullError)) genLog.warn(`error on read: ${(error as Error)?.message ?? error}`);
      this.close(error as Error);
      return;
    }
    if (pos !== null) {
      this.readFromBuffer(pos);
      return;
    }
    this.maybeRunCloseCallback();
  }

  /** Throws if a read is pending; else the new read's Future (null when it has a callback). */
  private setReadCallback(callback: ReadCallback | null): Future<any> | null {
    if (this.reading()) throw new Error('Already reading');
    return callback !== null ? null : new Future<any>();
  }

  /** The bytes of a delimiter, remembering the last string one's. */
  private delimiterBytes(delimiter: Buffer | Uint8Array | string): Uint8Array {
    if (typeof delimiter !== 'string') return toBytes(delimiter, 'delimiter');
    if (delimiter !== this.lastDelimiter) {
      this.lastDelimiterBytes = toBytes(delimiter, 'delimiter');
      this.lastDelimiter = delimiter;
    }
    return this.lastDelimiterBytes!;
  }

  /**
   * Runs the read just recorded in `pendingRead` as far as it goes now
   * (the tail of each of Tornado's read methods), and returns its Future.
   */
  private startRead<T>(future: Future<T> | null): Future<T> | null {
    const completed = this.completedReads;
    try {
      this.tryInlineRead();
    } catch (error) {
      if (error instanceof UnsatisfiableReadError) {
        // As in the handler: close, and let the Future fail with the cause.
        genLog.info(`Unsatisfiable read, closing connection: ${error.message}`);
        this.close(error);
        return future;
      }
      // The close the error caused completed this read from what was
      // buffered (close's rule): it has its bytes, so it must not throw,
      // or they are lost. The stream is closed with the error as its cause.
      if (this.completedReads !== completed) return future;
      // The read never started: leave no half-registered read behind.
      this.takePendingRead();
      throw error;
    }
    return future;
  }

  /**
   * Delivers a read's result: with `streaming`, `size` bytes to the
   * streaming callback (the read stays pending); otherwise completes the
   * pending read with its first `size` bytes (for `readInto`, the count).
   */
  private runReadCallback(size: number, streaming: boolean): void {
    if (streaming) {
      this.runCallback(reads.streamingCallbackOf(this.pendingRead)!, this.readBuffer.consume(size));
      return;
    }
    const read = this.takePendingRead()!;
    this.completedReads++;
    const result = read.kind === 'into' ? read.filled : this.readBuffer.consume(size);
    const { future, callback } = read;
    const streamed = reads.streamingCallbackOf(read) !== null;
    if (read.kind === 'bytes') {
      // Kept for the next readBytes, emptied first: settling the Future runs
      // its done callbacks, which may start that next read at once.
      read.future = null;
      read.callback = null;
      read.streamingCallback = null;
      this.spareBytesRead = read;
    }
    if (future !== null) {
      // Streamed chunks go through queued callbacks; an `await` on the
      // Future would resume before they run, so queue its result behind them.
      if (streamed) this.runCallback(futureSetResultUnlessCancelled, future, result);
      else futureSetResultUnlessCancelled(future, result);
    }
    if (callback !== null) {
      this.runCallback(callback, result);
    } else {
      // A queued callback re-checks this when it has run; without one, now.
      this.maybeAddErrorListener();
    }
  }

  /**
   * Tries to complete the pending read from the buffer, then from the fd
   * without waiting; otherwise starts listening for READ.
   */
  private tryInlineRead(): void {
    this.runStreamingCallback();
    let pos = this.findReadPos();
    if (pos !== null) {
      this.readFromBuffer(pos);
      return;
    }
    this.checkClosed();
    if (!this.drained) {
      try {
        pos = this.readToBufferLoop();
      } catch (error) {
        // close() ran inside the loop but could not finish while it was counted as pending.
        this.maybeRunCloseCallback();
        throw error;
      }
      if (pos !== null) {
        this.readFromBuffer(pos);
        return;
      }
    }
    if (this.closedFlag) this.maybeRunCloseCallback();
    else this.addIoState(READ);
  }

  /**
   * One read from the fd into the read buffer (or the `readInto` target).
   * Returns the bytes read, 0 if none. A connection reset closes the stream
   * quietly; other errors close it and propagate.
   */
  private readToBuffer(): number {
    const read = this.pendingRead;
    let n: number;
    try {
      if (read !== null && read.kind === 'into' && read.filled < read.target.length) {
        const space = read.target.length - read.filled;
        const got = this.readFromFdInto(read.filled ? read.target.subarray(read.filled) : read.target);
        if (got === null) {
          this.drained = true;
          return 0;
        }
        read.filled += got;
        if (got < space) this.drained = true;
        return got;
      }
      const chunk = this.readFromFd();
      if (chunk === null) {
        this.drained = true;
        return 0;
      }
      n = chunk.length;
      if (this.readLeftFdEmpty(n)) this.drained = true;
      this.readBuffer.push(chunk);
    } catch (error) {
      this.close(error as Error);
      if (isConnReset(error)) return 0;
      throw error;
    }
    if (this.readBuffer.size > this.maxBufferSize) {
      genLog.error('Reached maximum read buffer size');
      const error = new StreamBufferFullError('Reached maximum read buffer size');
      this.close(error);
      throw error;
    }
    return n;
  }

  /** Hands what is buffered to the pending read's streaming callback, if it has one. */
  private runStreamingCallback(): void {
    const read = this.pendingRead;
    if (read === null || reads.streamingCallbackOf(read) === null || this.readBuffer.size === 0) return;
    let n = this.readBuffer.size;
    if (read.kind === 'bytes') {
      // Count the streamed bytes off the total: the read ends when none are left.
      n = Math.min(read.left, n);
      read.left -= n;
    }
    if (n > 0) this.runReadCallback(n, true);
  }

  /** Completes the pending read with the first `pos` bytes. */
  private readFromBuffer(pos: number): void {
    this.runReadCallback(pos, false);
  }

  /**
   * Where the pending read can complete in the buffer, or null (also with
   * no read pending). Throws `UnsatisfiableReadError` when `maxBytes` has
   * been passed.
   */
  private findReadPos(): number | null {
    return this.pendingRead === null ? null : reads.findReadPos(this.pendingRead, this.readBuffer);
  }

  /** A `readUntilClose` at the close: whatever was buffered is the whole answer. */
  private finishReadUntilClose(): void {
    const size = this.readBuffer.size;
    if (reads.streamingCallbackOf(this.pendingRead) !== null && size) this.runReadCallback(size, true);
    this.readFromBuffer(this.readBuffer.size);
  }

  /** Clears the pending read (resetting it) and returns it. */
  private takePendingRead(): PendingRead | null {
    const read = this.pendingRead;
    if (read === null) return null;
    this.pendingRead = null;
    reads.releaseRead(read, this.readBuffer);
    return read;
  }

  // ------------------------------------------------------------ the write machinery

  /**
   * Writes until the buffer is empty or the kernel's is full (Tornado's
   * `_handle_write`); WriteBuffer chooses single or gathered writes.
   */
  private handleWrite(): void {
    const buffer = this.writeBuffer;
    while (buffer.size > 0) {
      let n: number;
      try {
        // The stream is the sink (its writeToFd, writeManyToFd and
        // gatherLimit; writeManyToFd is protected, hence the cast): no
        // adaptor object and two bound methods per stream.
        n = buffer.writeOnce(this as unknown as WriteSink);
      } catch (error) {
        // A peer that went away is routine; anything else is worth a line.
        if (!isConnReset(error)) genLog.warn(`Write error on ${this.fileno()}: ${(error as Error)?.message ?? error}`);
        this.close(error as Error);
        return;
      }
      // The kernel took less than offered: its buffer is full, wait for WRITE.
      if (n === 0 || buffer.lastWasShort) {
        this.writeBlocked = true;
        break;
      }
    }
    buffer.resolveFlushed();
    if (buffer.size === 0 && this.writeCallback !== null) {
      const callback = this.writeCallback;
      this.writeCallback = null;
      this.runCallback(callback);
    }
  }

  // ------------------------------------------------------------ registration

  /** Throws `StreamClosedError` (with the cause) if the stream is closed. */
  protected checkClosed(): void {
    if (this.closedFlag) throw new StreamClosedError(this.error);
  }

  /**
   * Makes sure an idle stream notices its peer closing: with nothing read or
   * written pending, watch READ (only when a close callback wants to know).
   */
  private maybeAddErrorListener(): void {
    if (this.pendingCallbacks !== 0) return;
    if (this.state === null || this.state === ERROR) {
      if (this.closedFlag) this.maybeRunCloseCallback();
      else if (this.readBuffer.size === 0 && this.closeCallback !== null) this.addIoState(READ);
    }
  }

  /** Adds READ and/or WRITE to the events watched, registering the fd on first use. */
  protected addIoState(state: number): void {
    if (this.closedFlag || this.closing) return;
    if (this.state === null) {
      this.state = ERROR | state;
      this.ioLoop.addHandler(this.fileno(), this.handleEvents, this.state);
    } else if (!(this.state & state)) {
      this.state |= state;
      this.ioLoop.updateHandler(this.fileno(), this.state);
    }
  }
}

/** A size option, when given (not undefined or null), must be an integer of at least 1. */
function checkSizeOption(name: string, value: number | null | undefined): void {
  if (value !== undefined && value !== null) checkInteger(name, value, 1);
}

/** The `maxBytes` option of a delimiter or regex read: null for none. */
function maxBytesOf(options: { maxBytes?: number | null }): number | null {
  return options.maxBytes === undefined || options.maxBytes === null ? null : checkInteger('maxBytes', options.maxBytes);
}
