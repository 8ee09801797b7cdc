/**
 * TCPClient: a factory of connected `IOStream`s (Tornado's `tornado.tcpclient`),
 * and the `Connector` that races a host's addresses against each other.
 *
 * ## Happy eyeballs, Tornado 4.4's way (RFC 6555, simplified)
 *
 * A name often resolves to both IPv6 and IPv4 addresses, and one family may
 * be broken on the path to the server: connects to it then hang until the
 * kernel gives up, minutes later. The Connector splits the addresses into a
 * primary list (the family of the first address, which is the one
 * getaddrinfo prefers) and a secondary list (the rest), and:
 *   - tries the primary addresses one at a time, each failure moving on to
 *     the next;
 *   - starts on the secondary list 0.3 s after the start, or as soon as a
 *     primary attempt fails, whichever is first (so a quickly refused
 *     primary does not cost the full 0.3 s);
 *   - takes the first connection to succeed; an attempt that succeeds after
 *     the race is decided (a late arrival) is closed when it arrives;
 *   - fails with the last error once every attempt has failed.
 * From Tornado 5 it also takes an overall deadline (`timeout`), which fails
 * the connect with `TimeoutError`.
 *
 * The Connector knows nothing of sockets: it calls `connect(af, addr)`,
 * which returns a Future of something closable. As in Tornado 4.4 it never
 * cancels an attempt (a connect function may settle its own Future whenever
 * it likes); `TCPClient` itself closes the streams that lost, which fails
 * their connects. So it can be driven by fake connect functions and a fake
 * clock in tests, as Tornado's `_Connector` is; its constructor takes
 * Tornado's `(addrinfo, ioLoop, connect)`.
 */
import { IOLoop } from '../reactor/ioloop.js';
import { Future, TimeoutError, chainFuture, futureSetExceptionUnlessCancelled } from '../reactor/future.js';
import type { TimeoutHandle } from '../reactor/timers.js';
import { IOStream } from '../streams/iostream.js';
import { upgradeToTls, type SSLIOStream } from '../streams/ssl-iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import type { SSLContext } from '../ssl/context.js';
import type { SSLOptions } from '../ssl/options.js';
import { Resolver, type Resolved } from '../resolvers/resolver.js';
import { AF_INET6, AF_UNSPEC, SOCK_NONBLOCK, SOCK_STREAM, Socket, type Address } from '../reactor/sys/socket.js';

/** How long the primary family has alone before the secondary starts (seconds; Tornado's `_INITIAL_CONNECT_TIMEOUT`). */
export const INITIAL_CONNECT_TIMEOUT = 0.3;

/** One connection attempt: a Future of the connected stream. The Connector never cancels it. */
export type ConnectFunction<S> = (af: number, addr: Address) => Future<S>;

type Addrinfo = Array<[number, Address]>;

/**
 * Races connection attempts to a host's addresses (Tornado's `_Connector`).
 * `start()` returns a Future of `[af, addr, stream]` for the winner.
 */
export class Connector<S extends { close(): void }> {
  /** Settles with the winner, or the last error, or `TimeoutError`. */
  readonly future = new Future<[number, Address, S]>();
  /** The addresses of the first address's family, tried one at a time. */
  readonly primaryAddrs: Addrinfo;
  /** The other addresses, started after the initial timeout or the first primary failure. */
  readonly secondaryAddrs: Addrinfo;
  private readonly connect: ConnectFunction<S>;
  private readonly ioLoop: IOLoop;
  private timeout: TimeoutHandle | null = null;
  private connectTimeout: TimeoutHandle | null = null;
  private lastError: unknown = null;
  private remaining: number;
  private readonly attempts = new Set<Future<S>>();

  /**
   * Tornado's argument order: `(addrinfo, io_loop, connect)`; `ioLoop` null
   * means the current loop.
   */
  constructor(addrinfo: Resolved, ioLoop: IOLoop | null, connect: ConnectFunction<S>) {
    if (typeof connect !== 'function') {
      throw new TypeError('Connector takes (addrinfo, ioLoop, connect), in Tornado\'s order');
    }
    this.connect = connect;
    this.ioLoop = ioLoop ?? IOLoop.current()!;
    this.remaining = addrinfo.length;
    [this.primaryAddrs, this.secondaryAddrs] = Connector.split(addrinfo);
    // However the race ends (a winner, all failed, the deadline, a cancel),
    // no timer of it may linger. Attempts still pending go on: a winner among
    // them is closed when it arrives (onConnectDone).
    this.future.addDoneCallback(() => this.clearTimeouts());
  }

  /** Splits `addrinfo` into the first address's family and the rest, keeping order. */
  static split(addrinfo: Resolved): [Addrinfo, Addrinfo] {
    const primary: Addrinfo = [];
    const secondary: Addrinfo = [];
    const primaryAf = addrinfo[0]?.[0];
    for (const [af, addr] of addrinfo) (af === primaryAf ? primary : secondary).push([af, addr]);
    return [primary, secondary];
  }

  /** Attempts still pending (for tests and diagnostics). */
  get pending(): number {
    return this.attempts.size;
  }

  /**
   * Starts the race. `timeout` (seconds) is the head start of the primary
   * family; `connectTimeout`, a deadline on the loop's clock or
   * `{ seconds }` from now, ends the whole race with `TimeoutError`.
   */
  start(timeout: number = INITIAL_CONNECT_TIMEOUT, connectTimeout?: number | { seconds: number }): Future<[number, Address, S]> {
    if (this.primaryAddrs.length === 0) {
      this.future.setException(new Error('no addresses to connect to'));
      return this.future;
    }
    // Timers first: an attempt that fails synchronously (a socket that
    // cannot be bound) then starts the secondary at once, as any failure
    // does. If the race ends synchronously, its end clears them.
    this.setTimeout(timeout);
    if (connectTimeout !== undefined) this.setConnectTimeout(connectTimeout);
    this.tryConnect(this.primaryAddrs[Symbol.iterator]());
    return this.future;
  }

  /** Starts the next address of `addrs`; when there is none, fails the race if nothing else is running. */
  tryConnect(addrs: Iterator<[number, Address]>): void {
    if (this.future.done()) return;
    const next = addrs.next();
    if (next.done) {
      // This queue is finished; the other one may still be working.
      if (this.remaining === 0) this.future.setException(this.lastError ?? new Error('connection failed'));
      return;
    }
    const [af, addr] = next.value;
    let attempt: Future<S>;
    try {
      attempt = this.connect(af, addr);
    } catch (error) {
      attempt = new Future<S>();
      attempt.setException(error);
    }
    this.attempts.add(attempt);
    attempt.addDoneCallback((done) => this.onConnectDone(addrs, af, addr, done));
  }

  /** One attempt finished: a failure moves on, a success wins (or is closed, if late). */
  onConnectDone(addrs: Iterator<[number, Address]>, af: number, addr: Address, attempt: Future<S>): void {
    this.remaining--;
    this.attempts.delete(attempt);
    if (attempt.cancelled() || attempt.exception() !== null) {
      if (this.future.done()) return;
      this.lastError = attempt.cancelled() ? new Error(`connection attempt to ${JSON.stringify(addr)} was cancelled`) : attempt.exception();
      this.tryConnect(addrs);
      if (this.timeout !== null) {
        // A failed primary attempt: don't wait out the head start for the secondary.
        this.ioLoop.removeTimeout(this.timeout);
        this.onTimeout();
      }
      return;
    }
    const stream = attempt.result();
    if (this.future.done()) {
      stream.close(); // a late arrival: just drop it (Tornado)
      return;
    }
    this.future.setResult([af, addr, stream]);
  }

  /** Starts the secondary family (the head start is over). */
  onTimeout(): void {
    this.timeout = null;
    if (!this.future.done()) this.tryConnect(this.secondaryAddrs[Symbol.iterator]());
  }

  /** The deadline passed: fail with `TimeoutError` (late arrivals are closed when they come). */
  onConnectTimeout(): void {
    this.connectTimeout = null;
    futureSetExceptionUnlessCancelled(this.future, new TimeoutError('Timeout while connecting'));
  }

  private setTimeout(timeout: number): void {
    this.timeout = this.ioLoop.addTimeout(this.ioLoop.time() + timeout, () => this.onTimeout());
  }

  private setConnectTimeout(deadline: number | { seconds: number }): void {
    this.connectTimeout = this.ioLoop.addTimeout(deadline, () => this.onConnectTimeout());
  }

  private clearTimeouts(): void {
    if (this.timeout !== null) this.ioLoop.removeTimeout(this.timeout);
    if (this.connectTimeout !== null) this.ioLoop.removeTimeout(this.connectTimeout);
    this.timeout = this.connectTimeout = null;
  }
}

/** Options for `new TCPClient()`. */
export interface TCPClientOptions {
  /** The resolver to use (default: `Resolver.create()`, closed with the client). */
  resolver?: Resolver;
}

/** Options of `TCPClient.connect` (Tornado's keyword arguments). */
export interface ConnectOptions {
  /** AF_INET or AF_INET6 to use one family only (default: both, AF_UNSPEC). */
  af?: number;
  /** Make a TLS connection with these settings (an `SSLContext` or Tornado's dict form). */
  sslOptions?: SSLContext | SSLOptions | null;
  /** The name TLS verifies the server against (default: `host`). */
  serverHostname?: string;
  /** The stream's `maxBufferSize`. */
  maxBufferSize?: number;
  /** Local address to bind before connecting (default: the kernel's choice). */
  sourceIp?: string;
  /** Local port to bind before connecting (default: an ephemeral port). */
  sourcePort?: number;
  /** Seconds for the whole connect, lookup included; then `TimeoutError` (default: none). */
  timeout?: number;
}

/**
 * A non-blocking TCP connection factory (Tornado's `TCPClient`).
 *
 * `connect` resolves the host, races its addresses with a `Connector`, and
 * settles with the connected `IOStream`. A refused or unreachable address
 * rejects with what the stream reports (`StreamClosedError` whose
 * `realError` is the `OSError`, e.g. ECONNREFUSED) once every address has
 * failed; a failed lookup rejects with the resolver's `GaiError`.
 */
export class TCPClient {
  /** The resolver lookups go through. */
  readonly resolver: Resolver;
  private readonly ownResolver: boolean;

  constructor(options: TCPClientOptions = {}) {
    this.ownResolver = options.resolver == null;
    this.resolver = options.resolver ?? Resolver.create();
  }

  /** Closes the resolver if this client created it. */
  close(): void {
    if (this.ownResolver) this.resolver.close();
  }

  /**
   * Connects to `host`:`port`. Settles with the connected stream; errors
   * (including bad options) always come through the Future.
   *
   * `sourcePort` without `sourceIp` binds the wildcard address of each
   * attempt's family, so the kernel still picks the route. (Tornado binds
   * the loopback address there, which only reaches loopback servers.)
   */
  connect(host: string, port: number, options: ConnectOptions = {}): Future<IOStream> {
    const result = new Future<IOStream>();
    const { af = AF_UNSPEC, sslOptions, maxBufferSize, sourceIp, sourcePort, timeout } = options;
    if (timeout != null && !(typeof timeout === 'number' && timeout >= 0 && Number.isFinite(timeout))) {
      result.setException(new RangeError(`timeout must be a non-negative number of seconds, got ${String(timeout)}`));
      return result;
    }
    const loop = IOLoop.current()!;
    const deadline = timeout == null ? undefined : loop.time() + timeout;
    const lookup = this.resolver.resolve(host, port, af)!;
    let connector: Connector<IOStream> | null = null;
    // The deadline covers the lookup too; the Connector takes over once it is done.
    const lookupTimer = deadline === undefined ? null : loop.addTimeout(deadline, () => {
      futureSetExceptionUnlessCancelled(result, new TimeoutError(`Timeout while resolving ${host}`));
    });
    lookup.addDoneCallback((done) => {
      if (lookupTimer) loop.removeTimeout(lookupTimer);
      if (result.done()) return;
      if (done.cancelled() || done.exception() !== null) {
        result.setException(done.cancelled() ? new Error(`the lookup of ${host} was cancelled`) : done.exception());
        return;
      }
      // Tornado 5's close_streams: once the race is over, every stream but
      // the winner is closed, so a loser still connecting fails at once
      // rather than hold a half-open socket until the kernel gives up.
      const streams = new Set<IOStream>();
      const connect = (family: number, addr: Address): Future<IOStream> =>
        createStream(family, addr, maxBufferSize, sourceIp, sourcePort, streams);
      connector = new Connector<IOStream>(done.result(), loop, connect);
      const race = connector.start(INITIAL_CONNECT_TIMEOUT, deadline);
      race.addDoneCallback((ended) => {
        const winner = !ended.cancelled() && ended.exception() === null ? ended.result()[2] : null;
        for (const stream of streams) if (stream !== winner) stream.close();
        streams.clear();
      });
      race.addDoneCallback((race) => {
        if (race.cancelled()) return;
        const error = race.exception();
        if (error !== null) futureSetExceptionUnlessCancelled(result, error);
        else if (result.done()) race.result()[2].close(); // the caller gave up meanwhile
        // The upgrade waits for the next turn: the stream's own handler may still be on the stack.
        else if (sslOptions != null) loop.addCallback(() => this.upgrade(race.result()[2], sslOptions, options.serverHostname ?? host, result));
        else result.setResult(race.result()[2]);
      });
    });
    // With TLS the deadline covers the handshake too (the Connector's ends with the TCP connect).
    if (deadline !== undefined && sslOptions != null) {
      const handshakeTimer = loop.addTimeout(deadline, () => {
        futureSetExceptionUnlessCancelled(result, new TimeoutError(`Timeout while connecting to ${host}`));
      });
      result.addDoneCallback(() => loop.removeTimeout(handshakeTimer));
    }
    // A caller that gives up (cancels, or the deadline passed) abandons everything in progress.
    result.addDoneCallback(() => {
      if (!lookup.done()) lookup.cancel();
      if (connector && !connector.future.done()) connector.future.cancel();
    });
    return result;
  }

  /**
   * TLS over the connected `stream` (Tornado: `start_tls`), verifying
   * `serverHostname`. A failed handshake rejects `result` with
   * `StreamClosedError` whose `realError` is the `SSLError`.
   */
  private upgrade(stream: IOStream, sslOptions: SSLContext | SSLOptions, serverHostname: string, result: Future<IOStream>): void {
    if (result.done()) {
      stream.close(); // the caller gave up meanwhile
      return;
    }
    let tls: SSLIOStream;
    let handshake: Future<SSLIOStream>;
    try {
      [tls, handshake] = upgradeToTls(stream, false, sslOptions, serverHostname);
    } catch (error) {
      stream.close();
      futureSetExceptionUnlessCancelled(result, error);
      return;
    }
    handshake.addDoneCallback((done) => {
      const error = done.exception() as Error | null;
      if (error !== null) futureSetExceptionUnlessCancelled(result, error instanceof StreamClosedError ? error : new StreamClosedError(error));
      else if (!result.done()) result.setResult(tls);
    });
    // A caller that gives up (cancel, deadline) mid-handshake closes the TLS stream.
    result.addDoneCallback(() => {
      if (!handshake.done()) tls.close();
    });
  }
}

/**
 * One attempt: a nonblocking socket, bound first if asked, then
 * `IOStream.connect`. The stream joins `streams` (so the client can close
 * it if it loses); closing it fails the returned Future with
 * `StreamClosedError`.
 */
function createStream(af: number, addr: Address, maxBufferSize: number | undefined,
  sourceIp: string | undefined, sourcePort: number | undefined, streams: Set<IOStream>): Future<IOStream> {
  const future = new Future<IOStream>();
  let socket: Socket | null = null;
  let stream: IOStream;
  try {
    socket = new Socket(af, SOCK_STREAM | SOCK_NONBLOCK);
    if (sourceIp != null || sourcePort != null) {
      socket.bind([sourceIp ?? (af === AF_INET6 ? '::' : '0.0.0.0'), sourcePort ?? 0]);
    }
    stream = new IOStream(socket, maxBufferSize === undefined ? {} : { maxBufferSize });
  } catch (error) {
    socket?.close();
    future.setException(error);
    return future;
  }
  streams.add(stream);
  chainFuture(stream.connect(addr)!, future);
  // Someone else may still cancel the attempt: then nothing waits for the stream.
  future.addDoneCallback((done) => {
    if (done.cancelled()) stream.close();
  });
  return future;
}
