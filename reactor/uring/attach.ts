/**
 * Picks a stream socket's transport: a completion socket when its loop runs
 * on io_uring (see ./socket-transport.ts for the seam), else null, and the
 * stream reads and writes the fd on readiness. No Tornado counterpart.
 *
 * Opt-in for now: `GALE_URING_STREAMS=1` runs stream sockets on
 * completions on a uring loop; without it the ring only polls and streams
 * use readiness (docs/uring.md lists what still differs).
 */
import type { IOLoop } from '../ioloop.js';
import { AF_UNIX, SOCK_STREAM } from '../sys/constants.js';
import { URingPoller } from './poller.js';
import type { CompletionSocket } from './socket-transport.js';

/**
 * Whether uring loops run stream sockets on completions: `GALE_URING_STREAMS=1`
 * (reads), `2` (reads and ring sends; see ./socket-transport.ts). Read per stream.
 */
export function completionStreams(): boolean {
  const mode = process.env.GALE_URING_STREAMS;
  return mode === '1' || mode === '2';
}

/** Whether streams write through the ring too (`GALE_URING_STREAMS=2`). */
export function ringSends(): boolean {
  return process.env.GALE_URING_STREAMS === '2';
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
