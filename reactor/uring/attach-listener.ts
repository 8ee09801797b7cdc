/**
 * Picks how a listening socket accepts: through the ring (an `Acceptor`,
 * ./acceptor.ts) when its loop runs on io_uring, else null and the accept
 * handler calls accept4 on readiness. No Tornado counterpart (it serves
 * `netutil.add_accept_handler`).
 *
 * On by default on uring loops; `GALE_URING_ACCEPT=0` keeps listeners on
 * readiness (to compare the two, or to rule the acceptor out).
 */
import type { IOLoop } from '../ioloop.js';
import { Acceptor, type AcceptorOptions } from './acceptor.js';
import { URingPoller } from './poller.js';

/** Whether uring loops accept through the ring (`GALE_URING_ACCEPT`, read per listener). */
export function ringAccepts(): boolean {
  return process.env.GALE_URING_ACCEPT !== '0';
}

/**
 * An acceptor for listening socket `fd` on `loop`, attached to its poller,
 * or null when the listener should be polled (not a uring loop, the ring
 * closed, the fd already watched or attached). Attach it before the loop
 * watches the fd: `addHandler` then watches the acceptor's queue.
 */
export function acceptorFor(loop: IOLoop, fd: number, options: AcceptorOptions): Acceptor | null {
  if (loop.pollerName !== 'uring' || fd < 0 || !ringAccepts()) return null;
  // The loop's poller is private to it; reached here as ./attach.ts does
  // for streams, so the IOLoop's public surface stays Tornado's.
  const poller = (loop as unknown as { poller: unknown }).poller;
  if (!(poller instanceof URingPoller)) return null;
  return poller.attachEndpoint(fd, (id, gen) => new Acceptor(poller, fd, id, gen, options));
}
