/**
 * The transport contract: what a stream asks of its fd, and what it is told
 * back. ./poller.ts states what the loop promises a handler about
 * *readiness*; this file states, one step up, what a stream may ask of the
 * fd it watches and what every backend answers. libuv's `uv_stream_t` over
 * per-platform backends is the model; Tornado inlines its one transport
 * (recv/send on readiness) in `IOStream.read_from_fd`/`write_to_fd`.
 *
 * ## Two implementations, chosen once, by the loop
 *
 * - **readiness** (./readiness-transport.ts): epoll, poll, kqueue, and any
 *   fd a ring cannot take. read(2)/write(2)/accept4(2)/connect(2), made by
 *   the stream when the loop reports the fd ready.
 * - **completion** (./uring/transports.ts): the ring does the I/O ahead of
 *   the stream (a multishot RECV, linked SENDs, single-shot READs and
 *   ACCEPTs, a CONNECT, the CLOSE) and the transport hands out what has
 *   completed; the poller reports readiness from that state.
 *
 * The loop picks with `IOLoop.transportFor(fd, request)` (its backend's
 * `TransportFactory`); a stream never asks which one it got, and no code
 * above the reactor names the ring. The `mode` field exists for tests and
 * diagnostics only.
 *
 * ## What is promised (every implementation)
 *
 * - **Events are readiness, as ./poller.ts states it.** The stream watches
 *   READ/WRITE on `fd` with `addHandler`/`updateHandler` as on any fd:
 *   level-triggered, ERROR may come alone, readiness is a hint. After READ,
 *   `read` returns bytes, EOF or "nothing now"; after WRITE, `write` takes
 *   bytes or 0.
 * - **`read(max)`**: at most `max` bytes, `EOF` (an empty Buffer) at end of
 *   file, or null for "nothing now". Never blocks. A read error is thrown
 *   once (an `OSError`), and the next read returns `EOF`. Bytes come in the
 *   order the peer sent them, none twice.
 * - **`readInto(target)`**: the count, 0 at end of file, -1 for "nothing now".
 * - **`readLeftEmpty(n, max)`**: whether a read that returned `n` of the
 *   `max` asked for leaves nothing to read until the next READ event (the
 *   stream then stops reading: one FFI call saved per batch).
 * - **`write(data)` / `writeMany(parts, first, offset)`**: the bytes taken
 *   now, 0 for none (watch WRITE). Taken bytes are the system's: they reach
 *   the peer in order, even if the stream closes right after. A write that
 *   throws (`OSError`: EPIPE, ECONNRESET…) took nothing.
 * - **`connect(address, socket)`**: starts a nonblocking connect and
 *   returns 0 or an in-progress errno (EINPROGRESS, EAGAIN), or the errno
 *   of an immediate failure. Its end is reported as WRITE (WRITE|ERROR on
 *   failure), after which `connectResult()` is the errno (0: connected);
 *   before, -1. A malformed address throws (TypeError/RangeError) and
 *   starts nothing.
 * - **Close, in Tornado's order**: `willClose(fd)` (the fd the owner holds
 *   now, -1 if it was closed behind the stream's back), then the stream
 *   removes its handler, then `close(owner)`: the fd is closed exactly once,
 *   by the owner (`owner.close()`) or, when requests in flight hold the
 *   file, by the transport itself after `owner.detach()`. A `close` that
 *   was not announced by `willClose` for the same fd never closes a number
 *   the owner no longer holds.
 * - **`release()`**: stops all I/O on the fd without closing it (a handover:
 *   `startTls`), and returns how many bytes it had read ahead that the new
 *   owner will never see (the caller refuses the handover when any were).
 * - Listeners (`ListenerTransport`): `accept()` returns a connected fd
 *   (nonblocking and close-on-exec as asked, its peer in `acceptedAddress`)
 *   or -1 for "none now", and throws accept(2)'s errors (EMFILE…) as
 *   `OSError`. A listener transport lives while its fd is watched; after
 *   `removeHandler` it accepts with accept4(2) directly (a retry before
 *   watching again), and `transportFor` makes a new one for the next watch.
 *
 * ## What is not promised
 *
 * - Which syscall is behind a call, or how many: readiness makes one per
 *   read or write; completion makes none (the loop's one `io_uring_enter`
 *   per iteration does the work of all of them).
 * - That taken bytes reach the kernel inside `write()`: completion hands
 *   them over with the loop's next enter (or when the loop stops or closes,
 *   or the process exits; docs/uring.md, "When a write reaches the kernel").
 * - That nothing is read ahead of the stream: completion reads up to a
 *   bound ahead (flow control still reaches the peer beyond it).
 * - That the fd number is free when `close()` returns: a completion
 *   transport with sends in flight lingers until they are done (bounded in
 *   bytes and time), then closes it.
 */
import type { Address } from './sys/sockaddr.js';

/** Which implementation a transport is (tests and diagnostics only: streams never branch on it). */
export type TransportMode = 'readiness' | 'completion';

/** Where a stream's fd comes from (a `Socket`, a `PipeIOStream`): asked on every readiness call. */
export interface FdSource {
  /** The fd, or -1 once it was closed. */
  fileno(): number;
  /**
   * Whether the fd's writes were shut down (shutdown(SHUT_WR)): a transport
   * that takes bytes before the kernel sees them refuses them then (EPIPE),
   * as write(2) does. Absent: never.
   */
  writesShutDown?(): boolean;
}

/** What owns the fd: a `Socket`, or a pipe's closer. */
export interface FdOwner {
  /** Closes the fd (once). */
  close(): void;
  /** Gives up the fd without closing it (the transport closes it). */
  detach(): number;
}

/** What a connect needs from the socket: `Socket` has both. */
export interface Connectable {
  /** The socket's fd (-1 once closed). */
  fileno(): number;
  /** connect(2) now: 0, or the errno (EINPROGRESS while under way). Throws for a malformed address. */
  connectEx(address: Address): number;
  /** Writes `address`'s sockaddr at `view[offset]` and returns its length. Throws for a malformed address. */
  encodeAddress(address: Address, view: Buffer, offset: number): number;
}

/** A stream's fd operations (see the file comment for the contract). */
export interface StreamTransport {
  /** Which implementation this is (tests and diagnostics only). */
  readonly mode: TransportMode;
  /** At most `max` bytes, `EOF` at end of file, null for nothing now. Throws the read's OSError once. */
  read(max: number): Buffer | null;
  /** Into `target`: the count, 0 at end of file, -1 for nothing now. */
  readInto(target: Uint8Array): number;
  /** Whether a read that returned `n` of `max` bytes leaves nothing to read until the next READ. */
  readLeftEmpty(n: number, max: number): boolean;
  /** Takes what it can of `data` now: the count, 0 for none. Throws (having taken nothing) on failure. */
  write(data: Uint8Array): number;
  /** `write` of `parts` from `parts[first]` at `offset` on, gathered (up to 64 KiB or the send buffer's room). */
  writeMany(parts: readonly Uint8Array[], first: number, offset: number): number;
  /** Starts a nonblocking connect: 0, an in-progress errno, or a failure's errno. */
  connect(address: Address, socket: Connectable): number;
  /** The connect's errno once it is over (0: connected), -1 before. */
  connectResult(): number;
  /** The stream is about to close `fd` (its owner's fd now; -1 if closed behind its back). */
  willClose(fd: number): void;
  /** Closes the fd (after the handler is removed): through `owner`, or itself after `owner.detach()`. */
  close(owner: FdOwner): void;
  /** Stops all I/O on the fd without closing it; returns the bytes read ahead that are lost. */
  release(): number;
}

/** A listening socket's accepts (see the file comment). */
export interface ListenerTransport {
  /** Which implementation this is (tests and diagnostics only). */
  readonly mode: TransportMode;
  /** The listener's fd. */
  readonly fd: number;
  /** The peer of the connection `accept` returned last. */
  readonly acceptedAddress: Address;
  /** The next connection's fd, or -1 if none waits. Throws accept(2)'s OSError (EMFILE…). */
  accept(): number;
  /** Stops accepting ahead, for a transport whose fd was never watched (`addHandler` failed). */
  release(): void;
}

/** What a stream asks for: a transport for a connected (or connecting) stream socket… */
export interface SocketRequest {
  readonly kind: 'socket';
  /** AF_INET, AF_INET6, AF_UNIX. */
  readonly family: number;
  /** SOCK_STREAM for streams. */
  readonly type: number;
}

/** …for a pipe end (or any fd a `PipeIOStream` wraps)… */
export interface PipeRequest {
  readonly kind: 'pipe';
}

/** …for an fd something else reads and writes (a TLS engine): plain readiness, never read ahead… */
export interface ReadinessRequest {
  readonly kind: 'readiness';
}

/** …or for a listening socket. */
export interface ListenerRequest {
  readonly kind: 'listener';
  /** Accepted sockets are nonblocking (the listener's mode). */
  readonly nonblocking: boolean;
  /**
   * The listener is shared with sibling processes (adopted from a parent):
   * it must be accepted on readiness, so every sibling is woken and the
   * first to accept wins (Tornado's model); an armed ACCEPT would take the
   * kernel's exclusive wake-up for a process that may be busy.
   */
  readonly shared: boolean;
  /** Asked before accepting ahead: false once this process must not accept on it any more (handed to workers). */
  readonly canAccept?: () => boolean;
}

export type StreamRequest = SocketRequest | PipeRequest | ReadinessRequest;

/** The timers a transport may need from its loop (a lingering close's bound). */
export interface TransportTimers {
  callLater(delay: number, callback: () => void): unknown;
  removeTimeout(timeout: any): void;
}

/** What a backend provides: the loop asks it for every transport (`IOLoop.transportFor`). */
export interface TransportFactory {
  /** A stream's transport for the fd `source` holds. */
  stream(source: FdSource, request: StreamRequest, timers: TransportTimers): StreamTransport;
  /** A listener's transport for `fd`; call before `addHandler` of the fd. */
  listener(fd: number, request: ListenerRequest): ListenerTransport;
}
