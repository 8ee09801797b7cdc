/**
 * The readiness transport (./transport.ts): the stream makes read(2),
 * write(2), connect(2) and accept4(2) itself when the loop reports its fd
 * ready. What epoll, poll and kqueue loops give every stream, and what a
 * uring loop gives an fd its ring cannot take. Tornado's `IOStream`
 * (`recv`/`send` on readiness) inlines the same thing.
 *
 * It keeps no state but where the fd comes from: the owner's `fileno()` is
 * asked on every call, so a stream whose socket was closed behind its back
 * fails with EBADF (fd -1) rather than touch a reused fd number.
 */
import { OSError, errno as E } from './sys/errors.js';
import { accept as accept4, close as closeFd, getsockoptInt, stagedAddressLength, SOCKADDR_OFFSET } from './sys/libc.js';
import { scratch } from './sys/arena.js';
import { decodeSockaddr, type Address } from './sys/sockaddr.js';
import { SOL_SOCKET, SO_ERROR } from './sys/constants.js';
import { readChunk, readChunkInto, writeChunk, writeChunks } from './fd-io.js';
import type {
  Connectable, FdOwner, FdSource, ListenerRequest, ListenerTransport, StreamRequest, StreamTransport, TransportFactory,
} from './transport.js';

/** A stream's fd on readiness. */
export class ReadinessTransport implements StreamTransport {
  readonly mode = 'readiness' as const;

  constructor(private readonly source: FdSource) {}

  read(max: number): Buffer | null {
    return readChunk(this.source.fileno(), max);
  }

  readInto(target: Uint8Array): number {
    return readChunkInto(this.source.fileno(), target);
  }

  readLeftEmpty(n: number, max: number): boolean {
    return n < max;
  }

  write(data: Uint8Array): number {
    return writeChunk(this.source.fileno(), data);
  }

  writeMany(parts: readonly Uint8Array[], first: number, offset: number): number {
    return writeChunks(this.source.fileno(), parts, first, offset);
  }

  connect(address: Address, socket: Connectable): number {
    return socket.connectEx(address);
  }

  /** SO_ERROR: a readiness connect is over once the loop reported the fd. */
  connectResult(): number {
    const fd = this.source.fileno();
    if (fd < 0) throw new OSError(E.EBADF, 'getsockopt');
    return getsockoptInt(fd, SOL_SOCKET, SO_ERROR);
  }

  willClose(_fd: number): void {}

  close(owner: FdOwner): void {
    owner.close();
  }

  release(): number {
    return 0;
  }
}

/** A listener's accepts with accept4(2) on readiness (also what a completion listener does once unwatched). */
export class ReadinessListener implements ListenerTransport {
  readonly mode = 'readiness' as const;
  acceptedAddress: Address = '';

  constructor(readonly fd: number, private readonly nonblocking: boolean) {}

  accept(): number {
    return acceptNow(this, this.fd, this.nonblocking);
  }

  release(): void {}
}

/**
 * One accept4(2) on `fd`: the connection's fd (its peer decoded into
 * `into.acceptedAddress`) or -1 if none is pending.
 */
export function acceptNow(into: { acceptedAddress: Address }, fd: number, nonblocking: boolean): number {
  const conn = accept4(fd, nonblocking);
  if (conn < 0) return -1;
  // Decode before anything else can reuse the staged sockaddr.
  try {
    into.acceptedAddress = decodeSockaddr(scratch.view, SOCKADDR_OFFSET, stagedAddressLength());
  } catch (error) {
    closeFd(conn);
    throw error;
  }
  return conn;
}

/** The factory of readiness loops (epoll, poll, kqueue). */
export const readinessTransports: TransportFactory = {
  stream(source: FdSource, _request: StreamRequest): StreamTransport {
    return new ReadinessTransport(source);
  },
  listener(fd: number, request: ListenerRequest): ListenerTransport {
    return new ReadinessListener(fd, request.nonblocking);
  },
};
