/**
 * TCPServer: accepts connections on the loop and hands each one to
 * `handleStream` as an `IOStream` (Tornado's `tornado.tcpserver`).
 *
 * Three ways to start it, as in Tornado:
 *   server.listen(8888)                      // bind + start in one step
 *   server.bind(8888); server.start()        // bind first, start later
 *   server.addSockets(bindSockets(8888))     // bring your own sockets
 *
 * `handleStream` may be synchronous or async. If it throws or its Promise
 * rejects, the error is logged (a throw as "Error in connection callback",
 * a rejection by the loop as "Exception in callback …", as in Tornado 4.4)
 * and that stream is closed; the server keeps serving everyone else.
 */
import { IOLoop } from '../reactor/ioloop.js';
import { appLog } from '../reactor/log.js';
import { Future, isThenable } from '../reactor/future.js';
import { IOStream } from '../streams/iostream.js';
import type { StreamOptions } from '../streams/options.js';
import { SSLIOStream } from '../streams/ssl-iostream.js';
import { SSLSocket } from '../ssl/ssl-socket.js';
import type { SSLContext } from '../ssl/context.js';
import { checkServerSslOptions, sslOptionsToContext, type SSLOptions } from '../ssl/options.js';
import type { Address } from '../reactor/sys/sockaddr.js';
import type { Socket } from '../reactor/sys/socket.js';
import { addAcceptHandler, bindSockets } from './netutil.js';
import { checkProcessCount, forkProcesses } from './process.js';

/** Options for `new TCPServer()`. */
export interface TCPServerOptions {
  /**
   * Serve TLS: an `SSLContext` with a certificate, or Tornado's dict form
   * (`certfile` required). Checked and loaded at construction; each
   * connection is an `SSLIOStream` whose handshake runs on the loop.
   */
  sslOptions?: SSLContext | SSLOptions | null;
  /** Passed to each connection's IOStream (default 100 MB). */
  maxBufferSize?: number;
  /** Passed to each connection's IOStream (default 64 KiB). */
  readChunkSize?: number;
  /**
   * Passed to each connection's IOStream: the most bytes its write buffer
   * may hold before `write()` throws `StreamBufferFullError` (default: no
   * limit, as in Tornado). Set it to protect the server from peers that
   * stop reading.
   */
  maxWriteBufferSize?: number;
}

/** A non-blocking, single-threaded TCP server. Subclass it and override `handleStream`. */
export class TCPServer {
  /** The loop the server accepts on (the current loop when sockets are added). */
  ioLoop: IOLoop | null = null;
  private readonly options: TCPServerOptions;
  private readonly sslContext: SSLContext | null;
  private readonly sockets = new Map<number, { socket: Socket; removeAcceptHandler: () => void }>();
  private pendingSockets: Socket[] = [];
  private started = false;
  private multiProcess = false;
  private stopped = false;
  /** What every connection's stream is made with: built at the first connection (the loop is known by then), shared after. */
  private streamOptions: StreamOptions | null = null;

  constructor(options: TCPServerOptions = {}) {
    this.options = options;
    // Missing or bad certificate files fail here, not at the first connection.
    if (options.sslOptions != null) {
      checkServerSslOptions(options.sslOptions);
      this.sslContext = sslOptionsToContext(options.sslOptions);
    } else {
      this.sslContext = null;
    }
  }

  /** Binds to `port` on `address` ('' = all interfaces) and starts accepting at once. */
  listen(port: number, address = ''): void {
    this.addSockets(bindSockets(port, address));
  }

  /** Starts accepting on already-bound, listening sockets. */
  addSockets(sockets: Socket[]): void {
    this.ioLoop ??= IOLoop.current()!;
    for (const socket of sockets) {
      const removeAcceptHandler = addAcceptHandler(socket, this.handleConnection, this.ioLoop);
      this.sockets.set(socket.fileno(), { socket, removeAcceptHandler });
    }
  }

  /** Starts accepting on one socket. */
  addSocket(socket: Socket): void {
    this.addSockets([socket]);
  }

  /**
   * Binds now; accepting begins with `start()` (or at once if already
   * started). After `start(n)` with worker processes, only a bind with
   * `reusePort` in a worker makes sense (each worker then has its own
   * socket); anything else is refused with a clear error.
   */
  bind(port: number, address: string | null = null, options: { family?: number; backlog?: number; reusePort?: boolean } = {}): void {
    if (this.multiProcess && !options.reusePort) {
      throw new Error('TCPServer.bind() after start(n) with worker processes: bind before start() so every worker shares '
        + 'the socket, or pass reusePort: true so each worker binds its own');
    }
    const sockets = bindSockets(port, address, options);
    if (this.started) this.addSockets(sockets);
    else this.pendingSockets.push(...sockets);
  }

  /**
   * Starts accepting on the sockets given to `bind()`. With
   * `numProcesses` 1 (the default) this process serves. Otherwise (null or
   * 0: one per CPU) `forkProcesses` starts that many worker processes that
   * share the sockets and serve; this process only supervises them (see
   * `forkProcesses`) and never accepts itself.
   */
  start(numProcesses: number | null = 1): void {
    if (this.started) throw new Error('TCPServer already started');
    const count = checkProcessCount(numProcesses);
    if (count !== 1) {
      const id = forkProcesses(count);
      this.started = true;
      this.multiProcess = true;
      // In the parent: the sockets stay open, unwatched, for the workers it
      // restarts.
      if (id === null) return;
    }
    this.started = true;
    const sockets = this.pendingSockets;
    this.pendingSockets = [];
    this.addSockets(sockets);
  }

  /**
   * Stops listening: closes the listening sockets. Connections already
   * accepted go on until they finish.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const { socket, removeAcceptHandler } of this.sockets.values()) {
      removeAcceptHandler();
      socket.close();
    }
    this.sockets.clear();
    for (const socket of this.pendingSockets) socket.close();
    this.pendingSockets = [];
  }

  /** Override: called for each new connection. May return a Promise. */
  handleStream(_stream: IOStream, _address: Address): void | PromiseLike<void> {
    throw new Error('TCPServer.handleStream is not implemented: subclass TCPServer and override it');
  }

  private readonly handleConnection = (accepted: Socket, address: Address): void => {
    let stream: IOStream | null = null;
    let connection = accepted;
    try {
      const streamOptions = this.streamOptions ??= {
        ioLoop: this.ioLoop!,
        maxBufferSize: this.options.maxBufferSize,
        readChunkSize: this.options.readChunkSize,
        maxWriteBufferSize: this.options.maxWriteBufferSize,
      };
      // A TLS stream is handed over before its handshake, as in Tornado.
      // (The TLS socket takes the fd over: it is what to close on failure.)
      if (this.sslContext !== null) connection = new SSLSocket(accepted, this.sslContext, { serverSide: true, doHandshakeOnConnect: false });
      stream = this.sslContext === null ? new IOStream(connection, streamOptions) : new SSLIOStream(connection, streamOptions);
      const result = this.handleStream(stream, address);
      if (result instanceof Promise) {
        // An async handler (the usual case). Tornado 4.4 passes its Future to
        // io_loop.add_future(future, lambda f: f.result()); what that does
        // when it fulfils is nothing, so only a rejection is looked at: it
        // takes the path addFuture would (failedHandler), with no Future
        // and no loop callback per connection that ends well.
        const owned = stream;
        result.then(undefined, (error: unknown) => this.failedHandler(owned, error));
      } else if (isThenable(result)) {
        const owned = stream;
        this.ioLoop!.addFuture(result, (done) => closeIfFailed(owned, done));
      }
    } catch (error) {
      this.connectionFailed(stream, connection, error);
    }
  };

  /**
   * An async `handleStream` rejected: what `addFuture` does with a failed
   * Future, in the same microtask — a loop callback that closes the stream
   * and rethrows, so the loop logs "Exception in callback …" (Tornado 4.4).
   */
  private failedHandler(stream: IOStream, error: unknown): void {
    const failed = new Future<void>();
    failed.setException(error);
    this.ioLoop!.addCallback((done: Future<void>) => closeIfFailed(stream, done), failed);
  }

  private connectionFailed(stream: IOStream | null, connection: Socket, error: unknown): void {
    appLog.error('Error in connection callback', error);
    if (stream) stream.close();
    else connection.close();
  }
}

/** The callback a handler's Future is given (Tornado: `lambda f: f.result()`), closing the stream first if it failed. */
function closeIfFailed<T>(stream: IOStream, done: Future<T>): void {
  if (done.exception() !== null) stream.close();
  done.result();
}
