/**
 * The completion transports' factory: what a uring loop hands a stream or a
 * listener when it asks for a transport (`IOLoop.transportFor`, contract in
 * ../transport.ts). No Tornado counterpart (Tornado's loops only poll).
 *
 * The choice is made here once per fd, from the loop's options
 * (../loop-options.ts, docs/uring.md says what each mode changes):
 *
 * - a stream socket gets a `CompletionSocket` (multishot RECV; with
 *   `streams: 'ring'` linked SENDs, and the close through the ring; with
 *   `connect`, the connect too), unless `streams: 'readiness'`;
 * - a pipe's read end (an O_RDONLY fd) gets a `CompletionPipe` (one
 *   single-shot READ in flight), unless `pipes: false` or streams are on
 *   readiness; a write end or a read/write fd stays on readiness (this
 *   endpoint only reads);
 * - a listener gets an `Acceptor` (single-shot ACCEPTs with an address
 *   slot each), unless `accept: false` or it is shared with sibling
 *   processes;
 * - anything else, or an fd the ring cannot take (already polled, no
 *   provided-buffer ring, the ring closed), gets the readiness transport.
 */
import { isReadOnly } from '../sys/libc.js';
import { SOCK_STREAM } from '../sys/constants.js';
import { ReadinessListener, ReadinessTransport } from '../readiness-transport.js';
import type { URingConfig } from '../loop-options.js';
import type {
  FdSource, ListenerRequest, ListenerTransport, StreamRequest, StreamTransport, TransportFactory, TransportTimers,
} from '../transport.js';
import type { URingPoller } from './poller.js';
import { CompletionPipe } from './pipe-transport.js';
import { Acceptor } from './acceptor.js';

/** The transports of one uring poller. */
export class URingTransports implements TransportFactory {
  constructor(private readonly poller: URingPoller, private readonly config: URingConfig) {}

  stream(source: FdSource, request: StreamRequest, timers: TransportTimers): StreamTransport {
    const fd = source.fileno();
    const streams = this.config.streams;
    if (fd >= 0 && streams !== 'readiness') {
      if (request.kind === 'socket' && request.type === SOCK_STREAM) {
        const socket = this.poller.attach(fd, streams === 'ring', timers, source);
        if (socket !== null) return socket;
      } else if (request.kind === 'pipe' && this.config.pipes && isReadOnly(fd)) {
        const poller = this.poller;
        const pipe = poller.attachEndpoint(fd, (id, gen) => new CompletionPipe(poller, fd, id, gen));
        if (pipe !== null) return pipe;
      }
    }
    return new ReadinessTransport(source);
  }

  listener(fd: number, request: ListenerRequest): ListenerTransport {
    if (fd >= 0 && this.config.accept && !request.shared) {
      const poller = this.poller;
      const acceptor = poller.attachEndpoint(fd, (id, gen) => new Acceptor(poller, fd, id, gen, request));
      if (acceptor !== null) return acceptor;
    }
    return new ReadinessListener(fd, request.nonblocking);
  }
}
