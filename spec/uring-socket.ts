/**
 * What the ring specs share to drive one completion socket by hand: a byte
 * pattern to send and check, and a ring poller with one end of a socketpair
 * attached to it (spec/uring-streams, spec/uring-quiet-sends).
 */
import { URingPoller, type URingPollerOptions } from '../reactor/uring/poller.js';
import { READ } from '../reactor/poller.js';
import { close as closeFd, socketpair } from '../reactor/sys/libc.js';
import { AF_UNIX, SOCK_STREAM } from '../reactor/sys/constants.js';

/** `length` bytes of a pattern that `seed` shifts (two seeds differ at every byte). */
export function pattern(length: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** A completion socket, as `URingPoller.attach` makes it. */
export type AttachedSocket = NonNullable<ReturnType<URingPoller['attach']>>;

/**
 * Runs `body` with a ring poller and one end of a socketpair attached to it
 * as a completion socket, registered for READ; the other end, `peer`, is a
 * plain nonblocking fd that `closePeer` closes early. Afterwards the socket
 * is detached and the poller and both fds closed.
 */
export function withAttachedSocket(options: URingPollerOptions,
  body: (poller: URingPoller, socket: AttachedSocket, peer: number, closePeer: () => void) => void): void {
  const poller = new URingPoller(options);
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  let peerOpen = true;
  const closePeer = () => {
    if (peerOpen) closeFd(b);
    peerOpen = false;
  };
  try {
    const socket = poller.attach(a, true)!;
    poller.register(a, READ);
    body(poller, socket, b, closePeer);
    socket.detach();
  } finally {
    poller.close();
    closeFd(a);
    closePeer();
  }
}
