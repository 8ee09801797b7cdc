/**
 * Picks a stream socket's transport: a completion socket when its loop runs
 * on io_uring (see ./socket-transport.ts for the seam), else null, and the
 * stream reads and writes the fd on readiness. No Tornado counterpart.
 *
 * The default on a uring loop: stream sockets read with a multishot RECV
 * and write with linked SENDs. `GALE_URING_STREAMS` picks less: `0` runs
 * them on readiness (the ring only polls), `1` reads on completions and
 * writes with write(2) (docs/uring.md says what each mode changes).
 */
import type { IOLoop } from '../ioloop.js';
import { AF_UNIX, SOCK_STREAM } from '../sys/constants.js';
import { URingPoller } from './poller.js';
import type { CompletionSocket } from './socket-transport.js';

/**
 * Whether uring loops run stream sockets on completions: unless
 * `GALE_URING_STREAMS=0`. Read per stream.
 */
export function completionStreams(): boolean {
  return process.env.GALE_URING_STREAMS !== '0';
}

/** Whether streams write through the ring too: unless `GALE_URING_STREAMS` is `0` or `1`. */
export function ringSends(): boolean {
  const mode = process.env.GALE_URING_STREAMS;
  return mode !== '0' && mode !== '1';
}

/**
 * The completion socket for stream socket `fd` (of `family` and `type`) on `loop`, or
 * null when the stream should use readiness.
 */
export function completionSocketFor(loop: IOLoop, fd: number, family: number, type: number): CompletionSocket | null {
  if (loop.pollerName !== 'uring' || !completionStreams() || type !== SOCK_STREAM || fd < 0) return null;
  // The loop's poller is private to it; this is the one place that reaches
  // in, so the IOLoop's public surface stays Tornado's.
  const poller = (loop as unknown as { poller: unknown }).poller;
  return poller instanceof URingPoller ? poller.attach(fd, family === AF_UNIX, ringSends()) : null;
}
