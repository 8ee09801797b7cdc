/**
 * `IOStream`: a stream over a `Socket` (Tornado's `tornado.iostream.IOStream`),
 * connected already (from `accept`) or connected here with a nonblocking
 * `connect`.
 *
 * The socket's fd is read, written, connected and closed through the
 * transport its loop hands it (reactor/transport.ts): on readiness loops
 * plain read(2)/write(2) rather than `Socket.recv`/`send` (same syscall
 * cost, but no exception object for the EAGAIN a nonblocking stream hits
 * all the time); on a uring loop the ring's completions.
 */
import { Future } from '../reactor/future.js';
import { IOLoop } from '../reactor/ioloop.js';
import { genLog } from '../reactor/log.js';
import { OSError, errnoCode, errno as E } from '../reactor/sys/errors.js';
import { AF_INET, AF_INET6, IPPROTO_TCP, SOL_SOCKET, SO_ERROR, TCP_NODELAY, type Address, type Socket } from '../reactor/sys/socket.js';
import { BaseIOStream } from './base-iostream.js';
import type { StreamTransport } from '../reactor/transport.js';
import { callbackOf, type ConnectOptions, type StreamOptions } from './options.js';
import type { SSLIOStream } from './ssl-iostream.js';
import type { SSLContext } from '../ssl/context.js';
import type { SSLOptions } from '../ssl/options.js';
// getaddrinfo.ts is on the ground floor, reactor/sys:
// connect() resolves a host name on the spot, as Python's socket.connect does.
import { isIP } from 'node:net';
import { EAI, GaiError, resolveSync } from '../reactor/sys/getaddrinfo.js';

const IN_PROGRESS = new Set<number>([E.EINPROGRESS, E.EAGAIN, E.EWOULDBLOCK]);

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
  /** What the socket's fd is read, written, connected and closed through (reactor/transport.ts). */
  private readonly transport: StreamTransport;

  /** Wraps `socket` (connected or not), making it nonblocking. */
  constructor(socket: Socket, options?: StreamOptions) {
    super(options);
    this.socket = socket;
    socket.setBlocking(false);
    this.transport = this.openTransport();
  }

  /**
   * Asks the loop for the socket's transport (called once, by the
   * constructor). A subclass whose fd something else reads and writes
   * (SSLIOStream: the TLS engine) asks for plain readiness instead, so
   * nothing reads ahead of it.
   */
  protected openTransport(): StreamTransport {
    const socket = this.socket;
    return this.ioLoop.transportFor(socket, { kind: 'socket', family: socket.family, type: socket.type });
  }

  /** The socket's fd (-1 once closed). */
  fileno(): number {
    return this.socket.fileno();
  }

  /**
   * Closes the socket through the transport: by the socket, or (where
   * requests in flight hold the file, on a ring) by the transport itself,
   * after the bytes already taken are sent (a bounded lingering close).
   */
  closeFd(): void {
    this.transport.close(this.socket);
  }

  /** Closes the stream (bytes the transport already took still go out: see `closeFd`). */
  override close(excInfo?: boolean | Error): void {
    // Announced before the handler is removed: that removal may start the close.
    if (!this.closed()) this.transport.willClose(this.socket.fileno());
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
    return this.readOrClose(this.transport);
  }

  /** One nonblocking write. */
  writeToFd(data: Uint8Array): number {
    return this.transport.write(data);
  }

  protected override writeManyToFd(parts: readonly Uint8Array[], first: number, offset: number): number {
    return this.transport.writeMany(parts, first, offset);
  }

  protected override readLeftFdEmpty(n: number): boolean {
    return this.transport.readLeftEmpty(n, this.readChunkSize);
  }

  protected override readFromFdInto(target: Uint8Array): number | null {
    return this.readIntoOrClose(this.transport, target);
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
    const callback = callbackOf<() => void>(callbackOrOptions);
    this.connecting = true;
    let future: Future<IOStream> | null = null;
    if (callback !== null) this.connectCallback = callback;
    else future = this.connectFuture = new Future<IOStream>();
    let failure: Error | null = null;
    try {
      const target = this.resolveForConnect(address);
      const errno = this.transport.connect(target, this.socket);
      if (errno !== 0 && !IN_PROGRESS.has(errno)) failure = socketError(errno, 'connect');
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
    const errno = this.transport.connectResult();
    if (errno < 0) return; // not over yet: a later event will say
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
    // The TLS engine reads the socket itself: this transport stops now.
    // Bytes it already read ahead cannot go back to the kernel.
    if (this.transport.release() > 0) throw new Error('IOStream is not idle (data read ahead of it); cannot convert to SSL');
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
