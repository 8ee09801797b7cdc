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
import { AF_UNIX, F_GETFL, SOCK_STREAM } from '../sys/constants.js';
import { c, check } from '../sys/libc.js';
import { URingPoller } from './poller.js';
import type { CompletionSocket } from './socket-transport.js';
import { CompletionPipe } from './pipe-transport.js';

const O_ACCMODE = 3;
const O_RDONLY = 0;

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

/** Whether uring loops read pipes through the ring: unless `GALE_URING_PIPES=0` (or streams are off). */
export function completionPipes(): boolean {
  return process.env.GALE_URING_PIPES !== '0' && completionStreams();
}

/**
 * The completion endpoint for pipe fd `fd` on `loop`, or null when the
 * stream should use readiness: not a uring loop, turned off, or not a
 * read-only fd (a write end, or a read/write fd a stream may write to:
 * this endpoint only reads).
 */
export function completionPipeFor(loop: IOLoop, fd: number): CompletionPipe | null {
  if (loop.pollerName !== 'uring' || !completionPipes() || fd < 0) return null;
  const poller = (loop as unknown as { poller: unknown }).poller;
  if (!(poller instanceof URingPoller)) return null;
  if ((check(c.fcntl(fd, F_GETFL, 0) as number, 'fcntl') & O_ACCMODE) !== O_RDONLY) return null;
  return poller.attachEndpoint(fd, (id, gen) => new CompletionPipe(poller, fd, id, gen));
}
