/**
 * Platform constants for the syscalls gale makes, written down once: the
 * values Python's `socket` and `fcntl` modules expose (`socket.AF_INET`,
 * `fcntl.F_GETFL`, …), which Tornado code uses by those names.
 * Linux values are verified on this machine; the BSD/macOS values are taken
 * from their headers and have not run on such a host (see docs/verified.md).
 */
const linux = process.platform === 'linux';
const darwin = process.platform === 'darwin';

export const AF_UNSPEC = 0;
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = linux ? 10 : darwin ? 30 : 28;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOL_SOCKET = linux ? 1 : 0xffff;
export const SO_REUSEADDR = linux ? 2 : 0x0004;
export const SO_KEEPALIVE = linux ? 9 : 0x0008;
export const SO_REUSEPORT = linux ? 15 : 0x0200;
export const SO_ERROR = linux ? 4 : 0x1007;
export const SO_SNDBUF = linux ? 7 : 0x1001;
export const SO_RCVBUF = linux ? 8 : 0x1002;
/** struct linger { int l_onoff; int l_linger; }: {1, 0} makes close(2) reset a TCP connection. */
export const SO_LINGER = linux ? 13 : 0x0080;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = linux ? 26 : 27;
export const AI_PASSIVE = 1;
export const AI_NUMERICHOST = 4;
export const AI_ADDRCONFIG = linux ? 0x20 : 0x400;
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;

/** Flags for socket()/accept4()/pipe2()/eventfd() (Linux only). */
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const O_NONBLOCK = linux ? 0o4000 : 0x0004;
export const O_CLOEXEC = linux ? 0o2000000 : 0x1000000;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;

/**
 * poll(2) event bits (the same on Linux, macOS and the BSDs). POLLIN,
 * POLLOUT and POLLERR|POLLHUP are the IOLoop's READ, WRITE and ERROR.
 */
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

/**
 * The low 32 bits of a native address or u64 (a safe integer: below 2^53).
 * Not `value % 2^32`: on a number that is not an int32 that is a
 * floating-point modulo, which TurboFan compiles to a call into C (fmod),
 * and the ring pays it for every SQE; a division, a floor and a
 * multiply-subtract are inlined.
 */
export function lo32(value: number): number {
  return value - hi32(value) * 0x100000000;
}

/** The high 32 bits of a native address or u64 (a safe integer: below 2^53). */
export function hi32(value: number): number {
  return Math.floor(value / 0x100000000);
}
