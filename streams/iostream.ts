/**
 * `IOStream`: a stream over a `Socket` (Tornado's `tornado.iostream.IOStream`),
 * connected already (from `accept`) or connected here with a nonblocking
 * `connect`.
 *
 * The socket's fd is read and written with plain read(2)/write(2) through
 * ./fd-io.ts rather than `Socket.recv`/`send`: same syscall cost, but no
 * exception object for the EAGAIN that a nonblocking stream hits all the time.
 */
import { Future } from '../reactor/future.js';
import { IOLoop } from '../reactor/ioloop.js';
import { genLog } from '../reactor/log.js';
import { OSError, errnoCode, errno as E } from '../reactor/sys/errors.js';
import { AF_INET, AF_INET6, IPPROTO_TCP, SOL_SOCKET, SO_ERROR, TCP_NODELAY, type Address, type Socket } from '../reactor/sys/socket.js';
import { BaseIOStream } from './base-iostream.js';
import { writeChunk, writeChunks } from './fd-io.js';
import { completionSocketFor } from '../reactor/uring/attach.js';
import type { CompletionSocket } from '../reactor/uring/socket-transport.js';
import { splitCallback, type ConnectOptions, type StreamOptions } from './options.js';
import type { SSLIOStream } from './ssl-iostream.js';
import type { SSLContext } from '../ssl/context.js';
import type { SSLOptions } from '../ssl/options.js';
// getaddrinfo.ts is on the ground floor, reactor/sys:
// connect() resolves a host name on the spot, as Python's socket.connect does.
import { isIP } from 'node:net';
import { EAI, GaiError, resolveSync } from '../reactor/sys/getaddrinfo.js';

const IN_PROGRESS = new Set<number>([E.EINPROGRESS, E.EAGAIN, E.EWOULDBLOCK]);

/**
 * How long a lingering close (ring sends) may wait for its peer to take
 * the bytes written before the close; then they are dropped and the fd
 * closed (`completionStats.lingerAborts`).
 */
export const LINGER_SECONDS = 30;

/** An OSError for `errno`, with a readable message even where libuv has no name for it. */
function socketError(errno: number, syscall?: string): OSError {
  const code = errnoCode(errno);
  if (!code.startsWith('Unknown')) return new OSError(errno, syscall);
  const name = Object.entries(E).find(([, value]) => value === errno)?.[0];
  return name ? new OSError(errno, syscall, `[Errno ${errno}] ${name}${syscall ? ` (${syscall})` : ''}`, name) : new OSError(errno, syscall);
}

/** A stream over a socket. */
export class IOStream extends BaseIOStream {
  /** The socket this stream reads and writes. Closed (fileno -1) once the stream is. */
  readonly socket: Socket;
  private connectCallback: (() => void) | null = null;
  /**
   * The completion transport on a uring loop (reactor/uring/socket-transport.ts
   * explains the seam), else null: the fd is read and written on readiness.
   */
  private readonly completion: CompletionSocket | null;

  /** Wraps `socket` (connected or not), making it nonblocking. */
  constructor(socket: Socket, options?: StreamOptions) {
    super(options);
    this.socket = socket;
    socket.setBlocking(false);
    this.completion = this.completionTransport();
  }

  /**
   * The stream's completion transport, or null for readiness. A subclass
   * that reads the fd its own way (SSLIOStream's engine reads the socket)
   * keeps readiness: a RECV would take its bytes.
   */
  protected completionTransport(): CompletionSocket | null {
    if ((this as { readFromFd: unknown }).readFromFd !== IOStream.prototype.readFromFd) return null;
    return completionSocketFor(this.ioLoop, this.socket.fileno(), this.socket.family, this.socket.type);
  }

  /** The socket's fd (-1 once closed). */
  fileno(): number {
    return this.socket.fileno();
  }

  /**
   * Closes the socket. On a completion transport the ring closes it
   * (IORING_OP_CLOSE, behind the cancel of its RECV: an armed RECV holds
   * the file open), and with ring sends only once the bytes the stream had
   * written are sent: a lingering close, bounded by `LINGER_SECONDS`.
   */
  closeFd(): void {
    const completion = this.completion;
    if (completion === null || !completion.closeWanted) {
      completion?.detach();
      this.socket.close();
      return;
    }
    this.socket.detach(); // the fd is the ring's to close now
    if (completion.close()) {
      const loop = this.ioLoop;
      const bound = loop.callLater(LINGER_SECONDS, () => completion.abortLinger());
      completion.onLingerEnd = () => loop.removeTimeout(bound);
    }
  }

  /** Closes the stream (with ring sends, see `closeFd`: what the ring's send buffer holds still goes out). */
  override close(excInfo?: boolean | Error): void {
    const completion = this.completion;
    // From here on the ring closes the fd (removing the handler detaches it).
    if (completion !== null && !this.closed() && completion.fd === this.socket.fileno()) completion.prepareClose();
    super.close(excInfo);
  }

  /** The socket's pending error (SO_ERROR), or null. */
  override getFdError(): Error | null {
    const fd = this.socket.fileno();
    if (fd < 0) return null;
    const errno = this.socket.getsockopt(SOL_SOCKET, SO_ERROR) as number;
    return errno ? socketError(errno) : null;
  }

  /** One nonblocking read of up to `readChunkSize` bytes; closes at end of file. */
  readFromFd(): Buffer | null {
    const completion = this.completion;
    if (completion === null) return this.readChunkOrClose(this.socket.fileno());
    const data = completion.read(this.readChunkSize);
    if (data !== null && data.length === 0) {
      this.close();
      return null;
    }
    return data;
  }

  /** One nonblocking write. */
  writeToFd(data: Uint8Array): number {
    if (this.completion?.ringSends) return this.completion.send([data], 0, 0);
    return writeChunk(this.socket.fileno(), data);
  }

  protected override writeManyToFd(parts: readonly Uint8Array[], first: number, offset: number): number {
    if (this.completion?.ringSends) return this.completion.send(parts, first, offset);
    return writeChunks(this.socket.fileno(), parts, first, offset);
  }

  protected override readLeftFdEmpty(n: number): boolean {
    const completion = this.completion;
    if (completion === null || completion.lastReadDirect) return super.readLeftFdEmpty(n);
    return completion.buffered === 0;
  }

  protected override readFromFdInto(target: Uint8Array): number | null {
    if (this.completion === null) return this.readIntoOrClose(this.socket.fileno(), target);
    const n = this.completion.readInto(target);
    if (n < 0) return null;
    if (n === 0) {
      this.close();
      return null;
    }
    return n;
  }

  /**
   * Connects the socket to `address` without blocking. Writes issued while
   * the connection is under way are queued and sent once it is made. On
   * failure the stream closes: the Future fails with `StreamClosedError`
   * whose `realError` is the `OSError` (a callback is never run; the close
   * callback is, and "Connect error on fd …" is logged). A host name is
   * resolved first, blocking; one that does not resolve fails the same way
   * with the resolver's `GaiError`. Returns a Future of this stream, or
   * null with a callback.
   */
  connect(address: Address, callbackOrOptions?: (() => void) | ConnectOptions): Future<IOStream> | null {
    const [callback] = splitCallback<() => void, ConnectOptions>(callbackOrOptions);
    this.connecting = true;
    const completion = this.completion;
    // On a uring loop the connect goes through the ring (an IORING_OP_CONNECT
    // with the next enter; its CQE is the outcome): no connect(2), no SO_ERROR.
    const throughRing = completion !== null && completion.fd === this.socket.fileno() && completion.connectsThroughRing();
    let future: Future<IOStream> | null = null;
    if (callback !== null) this.connectCallback = callback;
    else future = this.connectFuture = new Future<IOStream>();
    let failure: Error | null = null;
    try {
      const target = this.resolveForConnect(address);
      if (throughRing) {
        completion.startConnect((view) => this.socket.encodeAddress(target, view, 0));
      } else {
        completion?.startConnect();
        const errno = this.socket.connectEx(target);
        if (errno !== 0 && !IN_PROGRESS.has(errno)) failure = socketError(errno, 'connect');
      }
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) {
        // A malformed address is the caller's bug, not a failed connection.
        this.connecting = false;
        this.connectCallback = null;
        this.connectFuture = null;
        throw error;
      }
      failure = error as Error;
    }
    if (failure !== null) {
      // Some systems refuse a local connection at once rather than report it
      // later; handle it like the later report.
      if (future === null) genLog.warn(`Connect error on fd ${this.socket.fileno()}: ${failure.message}`);
      this.close(failure);
      return future;
    }
    this.addIoState(IOLoop.WRITE);
    return future;
  }

  /**
   * A `[host, port]` whose host is a name, not an IP literal, is resolved
   * here, blocking, for the socket's family (Tornado: "Hostnames are
   * accepted here, but will be resolved synchronously and block the
   * IOLoop"; use `TCPClient` to resolve without blocking). A name that does
   * not resolve throws the resolver's `GaiError`, which fails the connect.
   */
  private resolveForConnect(address: Address): Address {
    if (typeof address === 'string' || !Array.isArray(address)) return address;
    const [host, port] = address;
    const family = this.socket.family;
    if (typeof host !== 'string' || isIP(host) !== 0 || (family !== AF_INET && family !== AF_INET6)) return address;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) return address; // encodeSockaddr says why
    const found = resolveSync(host, port, family)[0];
    if (found === undefined) throw new GaiError(EAI.EAI_NONAME!, host);
    return found[1];
  }

  protected override handleConnect(): void {
    // A connect through the ring has its outcome in the CONNECT's CQE (the
    // kernel took SO_ERROR already); otherwise it is the socket's SO_ERROR.
    if (this.completion?.connectPending()) return; // not over yet: its CQE will say
    const ringErrno = this.completion?.connectErrno ?? -1;
    const errno = ringErrno >= 0 ? ringErrno : this.socket.getsockopt(SOL_SOCKET, SO_ERROR) as number;
    if (errno !== 0) {
      this.error = socketError(errno, 'connect');
      // Whoever asked for a Future gets the error there; callback users get a log line.
      if (this.connectFuture === null) genLog.warn(`Connect error on fd ${this.socket.fileno()}: ${errnoCode(errno)}`);
      this.close();
      return;
    }
    if (this.connectCallback !== null) {
      const callback = this.connectCallback;
      this.connectCallback = null;
      this.runCallback(callback);
    }
    if (this.connectFuture !== null) {
      const future = this.connectFuture;
      this.connectFuture = null;
      if (!future.done()) future.setResult(this);
    }
    this.connecting = false;
  }

  protected override maybeRunCloseCallback(): void {
    // A connect that failed never runs its callback (Tornado).
    if (this.closed()) this.connectCallback = null;
    super.maybeRunCloseCallback();
  }

  /**
   * @internal The TLS upgrade behind `startTls`, installed by
   * ./ssl-iostream.ts when it loads (SSLIOStream extends IOStream, so
   * importing it here would be a cycle); package.json's `"sideEffects"`
   * declares it, so that bundlers keep it.
   */
  static tlsUpgrade: ((stream: IOStream, serverSide: boolean, sslOptions: SSLContext | SSLOptions | undefined,
    serverHostname: string | undefined, closeCallback: (() => void) | null) => Future<SSLIOStream>) | null = null;

  /**
   * Converts this idle stream to TLS (for STARTTLS protocols such as SMTP):
   * returns a Future of the new `SSLIOStream`, settled when its handshake
   * is done (failing with the `SSLError` itself, as Tornado does). This
   * stream must not be used afterwards. Throws if a read, a write or a
   * connect is pending, data is buffered, or the stream is closed.
   * `sslOptions` defaults to `createDefaultContext()` for the side;
   * `serverHostname` is the name a client verifies. This stream's close
   * callback moves to the TLS stream.
   */
  startTls(serverSide: boolean, sslOptions?: SSLContext | SSLOptions, serverHostname?: string): Future<SSLIOStream> {
    if (this.reading() || this.writing() || this.connecting || this.closed() || this.readBuffer.size > 0) {
      throw new Error('IOStream is not idle; cannot convert to SSL');
    }
    if (IOStream.tlsUpgrade === null) throw new Error("startTls needs gale's TLS streams: import 'gale' or 'gale/streams'");
    if (this.completion !== null) {
      // The TLS engine reads the socket itself: the ring stops reading it
      // now. Bytes it already read ahead cannot go back to the kernel.
      const readAhead = this.completion.buffered;
      this.completion.detach();
      if (readAhead > 0) throw new Error('IOStream is not idle (data read ahead through io_uring); cannot convert to SSL');
    }
    const closeCallback = this.takeCloseCallback();
    try {
      return IOStream.tlsUpgrade(this, serverSide, sslOptions, serverHostname, closeCallback);
    } catch (error) {
      this.setCloseCallback(closeCallback);
      throw error;
    }
  }

  /** Sets TCP_NODELAY (TCP sockets only; ignored once the socket is gone). */
  override setNodelay(value: boolean): void {
    const family = this.socket.family;
    if (this.socket.fileno() < 0 || (family !== AF_INET && family !== AF_INET6)) return;
    try {
      this.socket.setsockopt(IPPROTO_TCP, TCP_NODELAY, value ? 1 : 0);
    } catch (error) {
      // It can fail if the peer has just closed; that is not this call's problem.
      const errno = (error as OSError).errno;
      if (errno !== E.EINVAL && errno !== E.ECONNRESET) throw error;
    }
  }
}
