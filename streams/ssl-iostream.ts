/**
 * `SSLIOStream`: an `IOStream` whose bytes are TLS records (Tornado's
 * `tornado.iostream.SSLIOStream`), over an `SSLSocket` (../ssl/ssl-socket.ts),
 * and the TLS upgrade behind `IOStream.startTls`.
 *
 * The read family, writes and their Futures are `BaseIOStream`'s,
 * unchanged: `readFromFd` returns decrypted data and `writeToFd` hands
 * plaintext to the TLS engine. What TLS adds is driven through three hooks:
 *
 * - **The transport is not ready** while TCP connects, while the handshake
 *   runs, and while encrypted records wait for the kernel. The stream then
 *   keeps `connecting` set — base's flag for "queue writes, and call
 *   `handleConnect` on every event" — and `handleConnect` here writes the
 *   waiting records. (Tornado's SSLIOStream diverts `_handle_read` and
 *   `_handle_write` into `_do_ssl_handshake` the same way.)
 * - **The engine acts on its own**: it finishes or fails the handshake in a
 *   Node event, and may send records from a microtask. The SSLSocket
 *   reports that through `onProgress`, and `afterTls` brings the stream up
 *   to date (callbacks, WRITE interest, closing on failure).
 * - **Data out of the poller's sight** (TLS-NOTES trap 7): decrypted bytes
 *   that arrive outside a read of ours wait in the SSLSocket, and the fd
 *   may show nothing more. The stream then runs its READ path as if the fd
 *   had reported READ, so a pending read completes and an idle one sees
 *   the bytes.
 *
 * And one for speed: the engine takes one write at a time and learns a
 * microtask later that it is done. Meanwhile the stream does not watch
 * WRITE (`waitsForWritable`: the fd is writable, waiting on it would spin
 * or churn the poll mask); when the engine is free, everything queued goes
 * in as one engine write of up to 256 KiB (`writeGatherLimit`), at once
 * (`transportWritable`). TCP_NODELAY is on: the engine's bursts a turn
 * apart met Nagle's algorithm and a delayed ACK (40 ms each).
 *
 * Handshake failures close the stream; its Futures fail with
 * `StreamClosedError` whose `realError` is the `SSLError`, logged as
 * Tornado logs them (`SSL Error on <fd> <peer>: …`, and `Invalid SSL
 * certificate: …` for a certificate that does not cover the host name),
 * except an EOF or a reset during the handshake (port scans, health
 * checks), which close quietly.
 *
 * A client stream checks the server's host name whenever it verifies the
 * certificate (Tornado's `_verify_cert`; `SSLSocket.matchHostname`), for
 * `connect`, `startTls` and `TCPClient` alike.
 */
import { Future } from '../reactor/future.js';
import { IOLoop } from '../reactor/ioloop.js';
import { genLog } from '../reactor/log.js';
import { errno as E } from '../reactor/sys/errors.js';
import type { Address, Socket } from '../reactor/sys/socket.js';
import { SSLContext, createDefaultContext } from '../ssl/context.js';
import { sslOptionsToContext, type SSLOptions } from '../ssl/options.js';
import { SSLSocket } from '../ssl/ssl-socket.js';
import { SSLCertVerificationError, SSLEOFError, SSLError } from '../ssl/errors.js';
import type { StreamTransport } from '../reactor/transport.js';
import { isConnReset } from './base-iostream.js';
import { StreamClosedError, closedErrorFor } from './errors.js';
import { IOStream } from './iostream.js';
import { callbackOf, optionsOf, type ConnectOptions, type StreamOptions } from './options.js';

const READ = IOLoop.READ;
const WRITE = IOLoop.WRITE;
const ERROR = IOLoop.ERROR;
// How long a closed stream keeps its fd to send what write() had accepted.
const LINGER_SECONDS = 10;
// Plaintext handed to the engine per write call: big enough for a few
// records per loop turn, small enough that one turn never encrypts megabytes.
const PLAINTEXT_PER_WRITE = 256 * 1024;
// The verify code of a certificate that does not cover the host name (Node's).
const ALTNAME_INVALID = 'ERR_TLS_CERT_ALTNAME_INVALID';

/** Options of `new SSLIOStream()`. */
export interface SSLIOStreamOptions extends StreamOptions {
  /** The TLS settings (default: `createDefaultContext()`, a verifying client). Ignored for an `SSLSocket`. */
  sslOptions?: SSLContext | SSLOptions;
}

function wrapForStream(socket: Socket, sslOptions: SSLContext | SSLOptions | undefined): SSLSocket {
  if (socket instanceof SSLSocket) return socket;
  const context = sslOptions == null ? createDefaultContext() : sslOptionsToContext(sslOptions);
  return new SSLSocket(socket, context, { serverSide: false, doHandshakeOnConnect: false });
}

/** Whether `error` ends a handshake in a way not worth a log line (an EOF, a reset). */
function isQuietFailure(error: unknown): boolean {
  if (error instanceof SSLEOFError || isConnReset(error)) return true;
  const errno = (error as { errno?: unknown } | null)?.errno;
  return !(error instanceof SSLError) && (errno === E.EBADF || errno === E.ENOTCONN);
}

/** A TLS stream (Tornado's `SSLIOStream`). */
export class SSLIOStream extends IOStream {
  private readonly tls: SSLSocket;
  private tcpConnecting = false;
  private handshakeReported = false;
  private sslConnectCallback: (() => void) | null = null;
  private sslConnectFuture: Future<SSLIOStream> | null = null;
  private readEventQueued = false;
  // While close() takes the queued plaintext over (see close): every write goes here.
  private lingerData: Uint8Array[] | null = null;
  // A write of nothing is waiting for the handshake (see afterTls).
  private emptyWriteWaiting = false;

  /**
   * Wraps `socket`: an `SSLSocket` (from `sslWrapSocket`, as `TCPServer`
   * makes them), or a plain socket to `connect` as a client with
   * `sslOptions`. A connected socket starts its handshake at once; it runs
   * on the loop (see `waitForHandshake`).
   */
  constructor(socket: Socket, options: SSLIOStreamOptions = {}) {
    const { sslOptions, ...streamOptions } = options;
    super(wrapForStream(socket, sslOptions), streamOptions);
    this.tls = this.socket as SSLSocket;
    this.tls.onProgress = () => this.afterTls();
    this.tls.runSoon = (callback) => this.ioLoop.addCallback(callback);
    // Tornado's `_verify_cert`: a verified certificate must also cover the
    // server's host name, whichever way the stream was given one.
    if (!this.tls.serverSide) this.tls.matchHostname = true;
    // Writes queue until the handshake is done.
    this.connecting = true;
    // A server socket comes from accept(): connected (no getpeername call needed).
    let connected = this.tls.serverSide || this.tls.handshaking() || this.tls.handshakeDone();
    if (!connected) {
      try {
        this.tls.getpeername();
        connected = true;
      } catch {
        // not connected yet: `connect` starts the handshake
      }
    }
    if (connected) this.beginHandshake();
  }

  /**
   * The TLS engine reads and writes the socket itself: the loop must not
   * read ahead of it, so this stream asks for plain readiness.
   */
  protected override openTransport(): StreamTransport {
    return this.ioLoop.transportFor(this.socket, { kind: 'readiness' });
  }

    /** The TLS socket under this stream (certificate, cipher, ALPN). */
  get sslSocket(): SSLSocket {
    return this.tls;
  }

  /**
   * Connects to `address`, then makes the TLS handshake, verifying the
   * server against `serverHostname` (needed when the context checks host
   * names). Settles once the handshake is done; on failure with
   * `StreamClosedError` whose `realError` is the `OSError` or `SSLError`.
   */
  override connect(address: Address, callbackOrOptions?: (() => void) | ConnectOptions): Future<IOStream> | null {
    const callback = callbackOf<() => void>(callbackOrOptions);
    const options = optionsOf<ConnectOptions>(callbackOrOptions);
    if (options.serverHostname !== undefined) this.tls.serverHostname = options.serverHostname;
    if (this.tls.context.checkHostname && !this.tls.serverHostname) {
      throw new Error('the SSL context checks host names: connect needs { serverHostname }');
    }
    this.tcpConnecting = true;
    try {
      // A do-nothing callback, as Tornado: the handshake's end is what the caller waits for.
      super.connect(address, () => {});
    } catch (error) {
      this.tcpConnecting = false;
      throw error;
    }
    // (Typed as IOStream's: Futures are invariant. It resolves with this SSLIOStream.)
    return this.waitForHandshake(callback ?? undefined) as Future<IOStream> | null;
  }

  /**
   * Runs `callback` (or resolves the returned Future with this stream)
   * once the handshake is done — at once if it already is. Only one wait
   * at a time ("Already waiting" otherwise). If the handshake fails, the
   * stream closes and the Future fails with `StreamClosedError`.
   */
  waitForHandshake(callback?: () => void): Future<SSLIOStream> | null {
    if (this.sslConnectCallback !== null || this.sslConnectFuture !== null) throw new Error('Already waiting');
    let future: Future<SSLIOStream> | null = null;
    if (callback !== undefined && callback !== null) {
      if (typeof callback !== 'function') throw new TypeError('waitForHandshake: callback must be a function');
      this.sslConnectCallback = callback;
    } else {
      future = this.sslConnectFuture = new Future<SSLIOStream>();
    }
    if (this.handshakeReported) this.runSslConnectCallback();
    else if (this.closed()) this.maybeRunCloseCallback();
    return future;
  }

  /**
   * Tornado's `write`. A write of nothing made before the handshake is
   * done is noted: it queues no data, so `afterTls` runs the WRITE path
   * once the handshake ends, which settles it.
   */
  override write(data: Buffer | Uint8Array | string, callback?: () => void): Future<void> | null {
    const empty = typeof data === 'string' ? data.length === 0 : data instanceof Uint8Array && data.byteLength === 0;
    if (empty && this.connecting && !this.handshakeReported) this.emptyWriteWaiting = true;
    return super.write(data, callback);
  }

  // ------------------------------------------------------------ the TLS transport

  private beginHandshake(): void {
    try {
      this.tls.startHandshake();
    } catch (error) {
      this.tlsFailed(error as Error);
      return;
    }
    // The engine sends in bursts a loop turn or two apart (the handshake's
    // last flight, session tickets, then data): with Nagle's algorithm a
    // small burst waits for the ACK of the one before, which a peer delays
    // by up to 40 ms. TLS records are batched already, so turn Nagle off
    // (as Go does for every connection); setNodelay(false) turns it back on.
    this.setNodelay(true);
    // The peer's flight is what the handshake waits for.
    this.addIoState(READ);
    this.afterTls();
  }

  /** Called on every event while the transport is not ready (see the top). */
  protected override handleConnect(): void {
    if (this.tcpConnecting) {
      this.tcpConnecting = false;
      super.handleConnect();
      if (this.closed()) return;
      this.connecting = true;
      this.beginHandshake();
      return;
    }
    this.tls.flushCiphertext();
    this.afterTls(true);
  }

  /**
   * Brings the stream up to date with its TLS socket. `inHandler`: called
   * from our own event handler, which goes on to read and write itself.
   */
  private afterTls(inHandler = false): void {
    if (this.closed()) return;
    const tls = this.tls;
    const failure = tls.failure();
    if (failure !== null) {
      // Decrypted data that came before the failure is still delivered.
      if (tls.pending() > 0 && this.reading()) this.queueReadEvent();
      else this.tlsFailed(failure);
      return;
    }
    let handshakeJustDone = false;
    if (!this.handshakeReported && tls.handshakeDone()) {
      this.handshakeReported = true;
      handshakeJustDone = true;
      this.runSslConnectCallback();
    }
    const wantsWrite = tls.wantsWrite();
    this.connecting = this.tcpConnecting || !this.handshakeReported || wantsWrite;
    if (handshakeJustDone && this.emptyWriteWaiting && !this.connecting && !super.writing()) {
      // A write of nothing made during the handshake (`write('', callback)`)
      // queued no data, so nothing would ever run its callback: run the
      // WRITE path once, which runs it (regression: it hung). Only then: it
      // was a loop callback per connection, for every connection.
      this.emptyWriteWaiting = false;
      this.ioLoop.addCallback(() => {
        if (!this.closed() && !this.connecting) this.transportWritable();
      });
    }
    if (!inHandler && !this.connecting && super.writing() && tls.canSend()) {
      // The engine just became free (this runs from its callbacks, not
      // from our handler): hand it the queued data now rather than a turn later.
      this.transportWritable();
    } else if (wantsWrite || (!this.connecting && super.writing() && this.waitsForWritable())) {
      this.addIoState(WRITE);
    }
    if (!this.closed() && (tls.pending() > 0 || tls.atEof())) this.queueReadEvent();
  }

  /** Runs the READ path on the next loop turn, as if the fd had reported READ (trap 7). */
  private queueReadEvent(): void {
    if (this.readEventQueued) return;
    this.readEventQueued = true;
    this.ioLoop.addCallback(() => {
      this.readEventQueued = false;
      if (this.closed()) return;
      if (this.tls.failure() !== null && this.tls.pending() === 0) {
        this.tlsFailed(this.tls.failure()!);
        return;
      }
      this.transportReadable();
      if (!this.closed() && this.tls.failure() !== null) this.afterTls();
    });
  }

  private tlsFailed(error: Error): void {
    if (this.closed()) return;
    if (error instanceof SSLCertVerificationError && error.verifyCode === ALTNAME_INVALID && !this.tls.context.checkHostname) {
      // The name check Tornado makes itself (`_verify_cert`), in its words;
      // a context's own `checkHostname` fails inside the handshake, as in
      // Python, and is logged as an SSL error below.
      genLog.warn(`Invalid SSL certificate: ${error.message}`);
    } else if (!isQuietFailure(error)) {
      let peer: string;
      try {
        peer = JSON.stringify(this.tls.getpeername());
      } catch {
        peer = '(not connected)';
      }
      genLog.warn(`SSL Error on ${this.fileno()} ${peer}: ${error.message}`);
    }
    this.close(error);
  }

  /**
   * Closes the stream. Data that `write()` accepted but the engine has not
   * taken yet (it takes one write per engine cycle, so the last writes of a
   * turn usually wait) is still sent: the fd stays open, off the stream,
   * until it is encrypted and written (at most LINGER_SECONDS). A plain
   * socket does the same for what its kernel buffer holds; without this,
   * `write(data); close()` lost `data` (regression, Tornado's
   * test_read_until_close_after_close). The same for what the engine has
   * taken but the kernel not yet (`SSLSocket.sending`: records waiting for
   * it, or still being made): without it, a close right after a large
   * write's Future resolved cut the stream short (regression). Not after
   * an error, before the handshake, or once the peer ended the session.
   */
  override close(excInfo?: boolean | Error): void {
    if (!this.closed() && this.lingerData === null && !(excInfo instanceof Error) && this.error === null
      && this.handshakeReported && this.tls.failure() === null && !this.tls.atEof()
      && (super.writing() || this.tls.sending())) {
      // Run the WRITE path once with writeToFd taking everything into
      // lingerData: the write Futures and callback settle as written.
      this.lingerData = [];
      if (super.writing()) this.transportWritable();
    }
    super.close(excInfo);
  }

  override closeFd(): void {
    const data = this.lingerData;
    if (data !== null && (data.length > 0 || this.tls.sending()) && this.tls.failure() === null) {
      try {
        new TlsLinger(this.tls, data, this.ioLoop).start();
        return;
      } catch {
        // the loop is closing: nothing can be sent any more
      }
    }
    super.closeFd();
  }

  private runSslConnectCallback(): void {
    if (this.sslConnectCallback !== null) {
      const callback = this.sslConnectCallback;
      this.sslConnectCallback = null;
      this.runCallback(callback);
    }
    if (this.sslConnectFuture !== null) {
      const future = this.sslConnectFuture;
      this.sslConnectFuture = null;
      if (!future.done()) future.setResult(this);
    }
  }

  protected override maybeRunCloseCallback(): void {
    if (this.closed()) {
      // A handshake that never finished never runs its callback (Tornado).
      this.sslConnectCallback = null;
      const future = this.sslConnectFuture;
      this.sslConnectFuture = null;
      if (future !== null && !future.done()) future.setException(closedErrorFor(this.error));
    }
    super.maybeRunCloseCallback();
  }

  /**
   * WRITE helps only while records wait for the kernel, or while the engine
   * could take queued data; while it is finishing a write, its own callback
   * (`afterTls` → `transportWritable`) moves the data, and watching WRITE
   * would only churn the poll mask (or, during a handshake, spin the loop
   * on a writable fd).
   */
  protected override waitsForWritable(): boolean {
    // During the handshake only its own records need the fd; data queued
    // meanwhile moves when the handshake is done (afterTls).
    return this.tls.wantsWrite() || (this.handshakeReported && this.tls.canSend());
  }

  /** Whether written data (plaintext queued, or records the kernel has not taken) is still pending. */
  override writing(): boolean {
    return super.writing() || this.tls.wantsWrite();
  }

  // ------------------------------------------------------------ the fd operations, over TLS

  /**
   * Decrypted data, at most `readChunkSize` bytes (as Tornado's
   * `recv(read_chunk_size)`): what the TLS socket has, or what one read of
   * the fd decrypts. The rest waits in the TLS socket, so a record larger
   * than a small `maxBufferSize` does not overflow the read buffer.
   */
  override readFromFd(maxBytes = this.readChunkSize): Buffer | null {
    let data: Buffer | null;
    try {
      data = this.tls.receive(maxBytes);
    } catch (error) {
      if (error instanceof SSLError) {
        this.tlsFailed(error);
        return null;
      }
      throw error;
    }
    if (data === null) {
      // The engine may have something to send now (a key update, a ticket reply).
      if (this.tls.wantsWrite()) this.addIoState(WRITE);
      return null;
    }
    if (data.length === 0) {
      this.close();
      return null;
    }
    return data;
  }

  protected override readFromFdInto(target: Uint8Array): number | null {
    // What does not fit stays in the TLS socket (not in the read buffer,
    // where it would escape the maxBufferSize check).
    const chunk = this.readFromFd(Math.min(target.byteLength, this.readChunkSize));
    if (chunk === null) return null;
    target.set(chunk, 0);
    return chunk.length;
  }

  /** The fd is empty for now only if the last read of it was short and nothing decrypted is waiting. */
  protected override readLeftFdEmpty(_n: number): boolean {
    return this.tls.fdDrained() && this.tls.pending() === 0;
  }

  /** Hands plaintext to the engine; 0 while it cannot take more (records wait for the kernel). */
  override writeToFd(data: Uint8Array): number {
    if (this.lingerData !== null) {
      this.lingerData.push(data);
      return data.byteLength;
    }
    const n = this.tls.sendSome(data.byteLength > PLAINTEXT_PER_WRITE ? data.subarray(0, PLAINTEXT_PER_WRITE) : data);
    if (this.tls.wantsWrite()) {
      this.connecting = true;
      this.addIoState(WRITE);
    }
    return n;
  }

  /** Several queued writes as one engine write (up to PLAINTEXT_PER_WRITE): one batch of records. */
  protected override writeManyToFd(parts: readonly Uint8Array[], first: number, offset: number): number {
    const pieces: Uint8Array[] = [];
    let length = 0;
    for (let i = first; i < parts.length && length < PLAINTEXT_PER_WRITE; i++) {
      let part = parts[i]!;
      if (i === first && offset) part = part.subarray(offset);
      if (length + part.byteLength > PLAINTEXT_PER_WRITE) part = part.subarray(0, PLAINTEXT_PER_WRITE - length);
      pieces.push(part);
      length += part.byteLength;
    }
    if (this.lingerData !== null) {
      this.lingerData.push(...pieces);
      return length;
    }
    const n = this.tls.sendSome(pieces.length === 1 ? pieces[0]! : pieces);
    if (this.tls.wantsWrite()) {
      this.connecting = true;
      this.addIoState(WRITE);
    }
    return n;
  }

  protected override writeGatherLimit(): number {
    return PLAINTEXT_PER_WRITE;
  }
}

/**
 * What a closed SSLIOStream still had to send (see `SSLIOStream.close`):
 * feeds `data` to the engine as it becomes free, writes the records, then
 * closes the TLS socket. It ends at once — dropping what is left, as
 * Tornado's close would have — when:
 *
 * - the connection fails (the peer closed: EPIPE, ECONNRESET);
 * - the peer sends data, or had sent data the stream never read: no one
 *   will read it, and a real socket closed over unread data resets the
 *   connection (what Tornado's `close()` does). Without this, two streams
 *   closed while each waited for the other to read kept their fds until
 *   the time bound, each lingering on the other (fuzz seed 347460342);
 * - LINGER_SECONDS pass (a peer alive but not reading);
 * - its loop closes (no handler or timer outlives it: `IOLoop.atClose`).
 *
 * The peer's end of file (a half-close) does not end it: the peer may
 * still read. The socket stays registered on the loop (READ until end of
 * file, ERROR, plus WRITE while records wait for the kernel).
 */
class TlsLinger {
  private finished = false;
  private watching = 0;
  private peerEnded = false;
  private timeout: object | null = null;
  private forgetAtClose: (() => void) | null = null;
  private readonly fd: number;

  constructor(private readonly tls: SSLSocket, private data: Uint8Array[], private readonly ioLoop: IOLoop) {
    this.fd = tls.fileno();
  }

  start(): void {
    // Decrypted data the stream had not read left the kernel before the
    // close (as what a socket's reader took): only what comes now counts.
    if (this.tls.pending() > 0) this.tls.receive(this.tls.pending());
    this.tls.onProgress = this.pump;
    this.watching = READ | ERROR;
    this.ioLoop.addHandler(this.tls, this.pump, this.watching);
    this.forgetAtClose = this.ioLoop.atClose(() => this.finish());
    this.timeout = this.ioLoop.callLater(LINGER_SECONDS, () => this.finish());
    this.pump();
  }

  private readonly pump = (): void => {
    if (this.finished) return;
    const tls = this.tls;
    try {
      if (this.dataCameIn()) {
        this.finish();
        return;
      }
      // Held records (session tickets waiting for a reply) go too.
      tls.flushCiphertext();
      if (this.data.length > 0 && tls.canSend()) {
        let taken = 0;
        let length = 0;
        while (taken < this.data.length && length < PLAINTEXT_PER_WRITE) length += this.data[taken++]!.byteLength;
        const batch = this.data.slice(0, taken);
        this.data = this.data.slice(taken);
        tls.sendSome(batch.length === 1 ? batch[0]! : batch);
        if (tls.wantsWrite()) tls.flushCiphertext();
      }
    } catch {
      this.finish();
      return;
    }
    if (tls.failure() !== null || tls.fileno() < 0 || (this.data.length === 0 && !tls.sending())) {
      this.finish();
      return;
    }
    const events = (this.peerEnded ? 0 : READ) | (tls.wantsWrite() ? WRITE : 0) | ERROR;
    if (events !== this.watching) {
      this.watching = events;
      this.ioLoop.updateHandler(this.fd, events);
    }
  };

  /**
   * Reads what the fd holds: whether it decrypted to data (which no one
   * will read). Notes the peer's end of file. Throws the socket's error.
   */
  private dataCameIn(): boolean {
    if (this.tls.pending() > 0) return true;
    if (this.peerEnded) return false;
    const incoming = this.tls.receive();
    if (incoming === null) return false;
    if (incoming.length > 0) return true;
    this.peerEnded = true;
    return false;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.tls.onProgress = null;
    this.forgetAtClose?.();
    if (this.timeout !== null) this.ioLoop.removeTimeout(this.timeout as never);
    try {
      this.ioLoop.removeHandler(this.fd);
    } catch {
      // the loop is closed already
    }
    this.tls.close();
  }
}

/**
 * The upgrade behind `IOStream.startTls` (and `TCPClient`'s TLS): wraps the
 * idle stream's socket in a new `SSLIOStream`, and returns it with a Future
 * settled when its handshake ends (with the `SSLError` itself on failure,
 * as Tornado does). The caller checks that the stream is idle.
 */
export function upgradeToTls(stream: IOStream, serverSide: boolean, sslOptions: SSLContext | SSLOptions | undefined,
  serverHostname: string | undefined, closeCallback: (() => void) | null = null): [SSLIOStream, Future<SSLIOStream>] {
  const context = sslOptions == null
    ? createDefaultContext(serverSide ? 'clientAuth' : 'serverAuth')
    : sslOptionsToContext(sslOptions);
  if (!serverSide && context.checkHostname && !serverHostname) {
    throw new Error('the SSL context checks host names: startTls needs serverHostname');
  }
  stream.ioLoop.removeHandler(stream.socket.fileno());
  const socket = new SSLSocket(stream.socket, context, { serverSide, serverHostname: serverHostname ?? null, doHandshakeOnConnect: false });
  const future = new Future<SSLIOStream>();
  const sslStream = new SSLIOStream(socket, {
    ioLoop: stream.ioLoop,
    maxBufferSize: stream.maxBufferSize,
    readChunkSize: stream.readChunkSize,
    maxWriteBufferSize: stream.maxWriteBufferSize ?? undefined,
  });
  // The plaintext stream's close callback now watches the TLS stream (Tornado).
  sslStream.setCloseCallback(() => {
    if (!future.done()) future.setException(sslStream.error ?? new StreamClosedError());
    closeCallback?.();
  });
  sslStream.waitForHandshake(() => {
    if (!future.done()) future.setResult(sslStream);
  });
  return [sslStream, future];
}

// The one thing a gale module does to another as it loads: IOStream.startTls
// needs SSLIOStream, which extends IOStream, so iostream.ts cannot import it
// (a cycle). package.json's "sideEffects" names this file, so that bundlers
// keep this line wherever the module is in the graph (both folder indexes
// that export IOStream also export SSLIOStream): spec/import-side-effects
// checks that the list says exactly this.
IOStream.tlsUpgrade = (stream, serverSide, sslOptions, serverHostname, closeCallback) =>
  upgradeToTls(stream, serverSide, sslOptions, serverHostname, closeCallback)[1];
