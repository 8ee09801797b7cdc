/**
 * Makes a socket's close reset the connection (SO_LINGER on, zero
 * seconds), for a completion socket closed over bytes it received and its
 * stream never read. On epoll those bytes would still be in the kernel,
 * and Linux answers a TCP close over unread bytes with a reset: the peer
 * gets ECONNRESET, not an end of file. A ring RECV has taken them out of
 * the kernel, so the close alone would send a FIN; this keeps what the
 * peer sees the same. A Unix socket ignores the option (its peer learns
 * nothing either way: docs/differential.md). No Tornado counterpart.
 */
import { setsockoptBytes } from '../sys/libc.js';
import { SOL_SOCKET, SO_LINGER } from '../sys/constants.js';

/** struct linger { int l_onoff = 1; int l_linger = 0; } */
const LINGER_ZERO = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/** Sets SO_LINGER {on, 0} on `fd`; an fd that is gone or not a socket is left alone. */
export function resetOnClose(fd: number): void {
  try {
    setsockoptBytes(fd, SOL_SOCKET, SO_LINGER, LINGER_ZERO);
  } catch { /* closed behind the stream's back, or not a socket: nothing to reset */ }
}
