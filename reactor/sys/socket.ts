/**
 * `Socket`: Python's `socket.socket` over a raw fd, for AF_INET, AF_INET6
 * and AF_UNIX. It is the leaf every higher layer (streams, ssl, servers,
 * clients) builds on, so it lives on the ground floor, `reactor/sys`, and
 * imports nothing outside it (`gale/net` re-exports it for porters).
 *
 * Semantics follow Python 3: sockets are blocking by default and
 * close-on-exec always; on a nonblocking socket a call that would block
 * throws `OSError` with code `'EAGAIN'` (Python's `BlockingIOError`), and a
 * nonblocking `connect` throws `'EINPROGRESS'`. EINTR is retried (PEP 475).
 *
 * Cost notes (each FFI call is a few µs, see docs/ffi.md): the blocking
 * mode is tracked in JS so `setBlocking` with the current mode is free;
 * `accept` passes the listener's mode to accept4 so the new fd needs no
 * fcntl; small sends and receives go through the thread's native arena
 * (numbers only), large ones pass the caller's buffer zero-copy.
 */
import { toBytes } from './validate.js';
import { CHUNK_SIZE, chunk, scratch } from './arena.js';
import * as sys from './libc.js';
import { OSError, errno as E } from './errors.js';
import { decodeSockaddr, encodeSockaddr, sockaddrFamily, type Address } from './sockaddr.js';
import { AF_INET, AF_INET6, AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SHUT_WR, SHUT_RDWR } from './constants.js';

export type { Address } from './sockaddr.js';
/**
 * The socket constants of API.md (plus the SOCK_NONBLOCK/SOCK_CLOEXEC type
 * flags and the buffer-size options), with this platform's values.
 */
export {
  AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_CLOEXEC,
  SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, SO_ERROR, SO_KEEPALIVE, SO_SNDBUF, SO_RCVBUF,
  IPPROTO_TCP, TCP_NODELAY, IPPROTO_IPV6, IPV6_V6ONLY,
  AI_PASSIVE, AI_NUMERICHOST, AI_ADDRCONFIG, SHUT_RD, SHUT_WR, SHUT_RDWR,
} from './constants.js';

const linux = process.platform === 'linux';
// Linux-only socket options that tell what an inherited fd is.
const SO_TYPE = linux ? 3 : 0x1008;
const SO_PROTOCOL = 38;
const SO_DOMAIN = 39;

/** The default `listen` backlog, as Tornado's `_DEFAULT_BACKLOG`. */
export const DEFAULT_BACKLOG = 128;

// Set only while this module wraps an fd whose mode it already knows (accept,
// socketpair), so the constructor can skip the fcntl it would otherwise need.
let knownNonblocking: boolean | undefined;

function wrapFd(fd: number, family: number, type: number, proto: number, nonblocking: boolean): Socket {
  knownNonblocking = nonblocking;
  try {
    return new Socket(family, type, proto, fd);
  } finally {
    knownNonblocking = undefined;
  }
}

function checkInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer, got ${describe(value)}`);
  return value;
}

/**
 * Validates an address against a family before it reaches native memory,
 * so a wrong shape gives a TypeError naming the problem rather than an
 * obscure failure deeper down.
 */
function checkAddress(family: number, address: unknown): Address {
  if (family === AF_UNIX) {
    if (typeof address !== 'string') throw new TypeError(`an AF_UNIX address must be a path string, got ${describe(address)}`);
    if (address.includes('\0') && address[0] !== '\0') throw new TypeError('an AF_UNIX path must not contain NUL bytes');
    return address;
  }
  const shape = family === AF_INET6 ? '[host, port] or [host, port, flowinfo, scopeId]' : '[host, port]';
  if (!Array.isArray(address) || !(address.length === 2 || (family === AF_INET6 && address.length === 4))) {
    throw new TypeError(`an address for family ${family} must be ${shape}, got ${describe(address)}`);
  }
  if (typeof address[0] !== 'string') throw new TypeError(`the host must be a string, got ${describe(address[0])}`);
  if (address[0].includes('\0')) throw new TypeError('the host must not contain NUL bytes');
  for (let i = 1; i < address.length; i++) {
    if (typeof address[i] !== 'number' || !Number.isInteger(address[i])) {
      throw new TypeError(`${['', 'port', 'flowinfo', 'scopeId'][i]} must be an integer, got ${describe(address[i])}`);
    }
  }
  const port = address[1] as number;
  if (port < 0 || port > 65535) throw new RangeError(`port must be 0-65535, got ${port}`);
  return address as Address;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return value === null ? 'null' : typeof value;
}

/** A socket over a raw fd, with Python's `socket.socket` semantics. */
export class Socket {
  /** The address family (AF_INET, AF_INET6, AF_UNIX). */
  readonly family: number;
  /** The socket type (SOCK_STREAM, SOCK_DGRAM), without the NONBLOCK/CLOEXEC bits. */
  readonly type: number;
  /** The protocol number (0 when the family's default). */
  readonly proto: number;
  private fd: number;
  private nonblocking: boolean;
  /** Set by `shutdown(SHUT_WR)` or `shutdown(SHUT_RDWR)`. */
  private writesShut = false;

  /**
   * Creates a socket, or wraps `fileno` (taking ownership of it). With a
   * `fileno`, omitted `family`/`type`/`proto` are read from the fd, and the
   * blocking mode is read from it unless `type` carries SOCK_NONBLOCK.
   * Without one, SOCK_NONBLOCK in `type` makes a nonblocking socket.
   */
  constructor(family?: number, type?: number, proto?: number, fileno?: number) {
    const flags = type === undefined ? 0 : checkInt('type', type) & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fileno === undefined || fileno === null) {
      this.family = family === undefined ? AF_INET : checkInt('family', family);
      this.type = type === undefined ? SOCK_STREAM : type & ~flags;
      this.proto = proto === undefined ? 0 : checkInt('proto', proto);
      this.nonblocking = (flags & SOCK_NONBLOCK) !== 0;
      this.fd = sys.socket(this.family, this.type, this.proto, this.nonblocking);
      return;
    }
    this.fd = checkInt('fileno', fileno);
    if (fileno < 0) throw new OSError(E.EBADF, 'socket', `invalid fileno ${fileno}`);
    this.family = family === undefined ? detectFamily(fileno) : checkInt('family', family);
    this.type = type === undefined ? sys.getsockoptInt(fileno, SOL_SOCKET, SO_TYPE) : type & ~flags;
    this.proto = proto === undefined ? (linux ? sys.getsockoptInt(fileno, SOL_SOCKET, SO_PROTOCOL) : 0) : checkInt('proto', proto);
    if (knownNonblocking !== undefined) this.nonblocking = knownNonblocking;
    else this.nonblocking = (flags & SOCK_NONBLOCK) !== 0 || sys.isNonblocking(fileno);
  }

  /** The fd, or -1 once closed or detached. */
  fileno(): number {
    return this.fd;
  }

  private checkOpen(syscall: string): number {
    if (this.fd < 0) throw new OSError(E.EBADF, syscall);
    return this.fd;
  }

  /** Sets blocking (`true`) or nonblocking (`false`) mode. Free when unchanged. */
  setBlocking(flag: boolean): void {
    const fd = this.checkOpen('fcntl');
    const nonblocking = !flag;
    if (nonblocking === this.nonblocking) return;
    sys.setNonblocking(fd, nonblocking);
    this.nonblocking = nonblocking;
  }

  /** Whether the socket is in blocking mode (Python's `getblocking`). */
  getBlocking(): boolean {
    return !this.nonblocking;
  }

  /** Sets a socket option: an int (booleans count as 0/1) or raw bytes. */
  setsockopt(level: number, option: number, value: number | boolean | Uint8Array): void {
    const fd = this.checkOpen('setsockopt');
    if (typeof value === 'boolean') value = value ? 1 : 0;
    if (typeof value === 'number') sys.setsockoptInt(fd, checkInt('level', level), checkInt('option', option), checkInt('value', value));
    else if (value instanceof Uint8Array) sys.setsockoptBytes(fd, checkInt('level', level), checkInt('option', option), value);
    else throw new TypeError(`a socket option value must be a number or a Buffer, got ${describe(value)}`);
  }

  /** Reads a socket option: an int, or up to `buflen` raw bytes when `buflen` is given. */
  getsockopt(level: number, option: number, buflen?: number): number | Buffer {
    const fd = this.checkOpen('getsockopt');
    checkInt('level', level);
    checkInt('option', option);
    if (!buflen) return sys.getsockoptInt(fd, level, option);
    if (checkInt('buflen', buflen) < 0) throw new RangeError('buflen must not be negative');
    return sys.getsockoptBytes(fd, level, option, buflen);
  }

  private stage(address: unknown): number {
    return encodeSockaddr(scratch.view, sys.SOCKADDR_OFFSET, this.family, checkAddress(this.family, address));
  }

  /** Binds to `address` (a literal IP host, `''` for all interfaces, or a Unix path). */
  bind(address: Address): void {
    const fd = this.checkOpen('bind');
    sys.bindStaged(fd, this.stage(address));
  }

  /** Starts listening. */
  listen(backlog: number = DEFAULT_BACKLOG): void {
    sys.listen(this.checkOpen('listen'), Math.max(0, checkInt('backlog', backlog)));
  }

  /**
   * Accepts a connection: `[socket, peerAddress]`. The new socket has the
   * listener's blocking mode. Throws OSError EAGAIN on a nonblocking socket
   * with nothing pending.
   */
  accept(): [Socket, Address] {
    const accepted = this.acceptIfPending();
    if (accepted === null) throw new OSError(E.EAGAIN, 'accept');
    return accepted;
  }

  /**
   * `accept()` for accept loops: null, not an OSError, when nothing is
   * pending. Every batch of accepts ends that way, and building an error
   * (with its stack) for it cost more than the accept itself.
   */
  acceptIfPending(): [Socket, Address] | null {
    const fd = this.checkOpen('accept');
    const conn = sys.accept(fd, this.nonblocking);
    if (conn < 0) return null;
    // Decode before anything else can reuse the staged sockaddr.
    let address: Address;
    try {
      address = decodeSockaddr(scratch.view, sys.SOCKADDR_OFFSET, sys.stagedAddressLength());
    } catch (error) {
      sys.close(conn);
      throw error;
    }
    return [wrapFd(conn, this.family, this.type, this.proto, this.nonblocking), address];
  }

  /** Connects; on a nonblocking socket throws OSError EINPROGRESS while the connection is under way. */
  connect(address: Address): void {
    const err = this.connectEx(address);
    if (err !== 0) throw new OSError(err, 'connect');
  }

  /** Connects and returns the errno instead of throwing (0 on success). Bad addresses still throw. */
  connectEx(address: Address): number {
    const length = this.stage(address);
    if (this.fd < 0) return E.EBADF;
    return sys.connectStaged(this.fd, length);
  }

  /**
   * @internal Validates `address` for this socket's family (as `connect`
   * does) and writes its sockaddr at `view[offset]`; returns its length.
   * For a connect through io_uring, whose sockaddr lives in its own memory.
   */
  encodeAddress(address: Address, view: Buffer, offset: number): number {
    return encodeSockaddr(view, offset, this.family, checkAddress(this.family, address));
  }

  /** The socket's own address. */
  getsockname(): Address {
    const length = sys.sockname(this.checkOpen('getsockname'), false);
    return decodeSockaddr(scratch.view, sys.SOCKADDR_OFFSET, length);
  }

  /** The connected peer's address. */
  getpeername(): Address {
    const length = sys.sockname(this.checkOpen('getpeername'), true);
    return decodeSockaddr(scratch.view, sys.SOCKADDR_OFFSET, length);
  }

  /** Sends what the kernel takes now; returns the byte count (maybe short). */
  send(data: Uint8Array | string, flags = 0): number {
    const fd = this.checkOpen('send');
    checkInt('flags', flags);
    return sys.send(fd, toBytes(data), flags);
  }

  /** Sends all of `data`, looping over short sends (blocking sockets; a nonblocking one may throw EAGAIN midway). */
  sendall(data: Uint8Array | string, flags = 0): void {
    const bytes = toBytes(data);
    for (let sent = 0; sent < bytes.byteLength;) sent += this.send(bytes.subarray(sent), flags);
  }

  /** Receives up to `bufsize` bytes; an empty Buffer means the peer closed. */
  recv(bufsize: number, flags = 0): Buffer {
    const fd = this.checkOpen('recv');
    if (checkInt('bufsize', bufsize) < 0) throw new RangeError('negative buffersize in recv');
    checkInt('flags', flags);
    if (bufsize > CHUNK_SIZE) {
      const target = Buffer.allocUnsafe(bufsize);
      const n = sys.recvToBuffer(fd, target, bufsize, flags);
      return n === bufsize ? target : Buffer.from(target.subarray(0, n));
    }
    const n = sys.recvToChunk(fd, bufsize, flags);
    return Buffer.from(chunk.view.subarray(0, n));
  }

  /** Receives into `buf` (up to `nbytes`, default its length); returns the count. */
  recvInto(buf: Uint8Array, nbytes?: number): number {
    const fd = this.checkOpen('recv');
    if (!(buf instanceof Uint8Array)) throw new TypeError(`recvInto needs a Buffer or Uint8Array, got ${describe(buf)}`);
    const want = nbytes ? checkInt('nbytes', nbytes) : buf.byteLength;
    if (want < 0) throw new RangeError('negative buffersize in recvInto');
    if (want > buf.byteLength) throw new RangeError('buffer too small for requested bytes');
    // Up to a chunk: into the arena (numbers only, the cheap call), then copied.
    if (want > CHUNK_SIZE) return sys.recvToBuffer(fd, buf, want, 0);
    const n = sys.recvToChunk(fd, want, 0);
    buf.set(chunk.view.subarray(0, n), 0);
    return n;
  }

  /** Shuts down one or both directions (SHUT_RD, SHUT_WR, SHUT_RDWR). */
  shutdown(how: number): void {
    sys.shutdown(this.checkOpen('shutdown'), checkInt('how', how));
    if (how === SHUT_WR || how === SHUT_RDWR) this.writesShut = true;
  }

  /**
   * Whether this socket's writes were shut down (`shutdown(SHUT_WR)` or
   * `SHUT_RDWR`): a transport that takes bytes ahead of the kernel (ring
   * sends) refuses them then, as write(2) does (EPIPE).
   */
  writesShutDown(): boolean {
    return this.writesShut;
  }

  /** Closes the fd. Calling it again does nothing. */
  close(): void {
    const fd = this.fd;
    if (fd < 0) return;
    // Forget the fd first: even a failed close(2) releases it on Linux, and
    // a retry could close an fd number that has since been reused.
    this.fd = -1;
    try {
      sys.close(fd);
    } catch (error) {
      // Python ignores ECONNRESET from close: the fd is gone all the same.
      if (!(error instanceof OSError && error.errno === E.ECONNRESET)) throw error;
    }
  }

  /** Gives up ownership of the fd without closing it, and returns it. */
  detach(): number {
    const fd = this.fd;
    this.fd = -1;
    return fd;
  }
}

function detectFamily(fd: number): number {
  if (linux) return sys.getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
  sys.sockname(fd, false);
  return sockaddrFamily(scratch.view, sys.SOCKADDR_OFFSET);
}

/** Two connected sockets (blocking, close-on-exec, like Python's). SOCK_NONBLOCK in `type` makes them nonblocking. */
export function socketpair(family: number = AF_UNIX, type: number = SOCK_STREAM): [Socket, Socket] {
  const flags = checkInt('type', type) & (SOCK_NONBLOCK | SOCK_CLOEXEC);
  const bare = type & ~flags;
  const nonblocking = (flags & SOCK_NONBLOCK) !== 0;
  const [a, b] = sys.socketpair(checkInt('family', family), bare, nonblocking);
  return [wrapFd(a, family, bare, 0, nonblocking), wrapFd(b, family, bare, 0, nonblocking)];
}

/** A nonblocking, close-on-exec pipe: `[readFd, writeFd]`. */
export function pipe(): [number, number] {
  return sys.pipe();
}
