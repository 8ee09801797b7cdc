/**
 * `PipeIOStream`: a stream over a pipe fd (Tornado's
 * `tornado.iostream.PipeIOStream`). Pipes are one-way, so one stream is used
 * for reading or for writing, not both.
 *
 * The stream takes ownership of the fd: it makes it nonblocking and closes
 * it when the stream closes.
 *
 * The fd is read and written through the transport its loop hands it
 * (reactor/transport.ts): read(2)/write(2) on readiness, or on a uring loop
 * a read end's bytes from the ring.
 */
import { checkInteger } from '../reactor/sys/validate.js';
import { close as closeFd, setNonblocking } from '../reactor/sys/libc.js';
import type { FdOwner, StreamTransport } from '../reactor/transport.js';
import { BaseIOStream } from './base-iostream.js';
import type { StreamOptions } from './options.js';

/** A stream over a pipe's read or write end. */
export class PipeIOStream extends BaseIOStream {
  private readonly fd: number;
  /** What the fd is read and written through (reactor/transport.ts). */
  private readonly transport: StreamTransport;

  /** Wraps `fd` (e.g. one end of `pipe()`), making it nonblocking. */
  constructor(fd: number, options?: StreamOptions) {
    checkInteger('fd', fd);
    super(options);
    this.fd = fd;
    setNonblocking(fd, true);
    this.transport = this.openTransport();
  }

  /**
   * Asks the loop for the fd's transport (called once, by the
   * constructor). A subclass that reads the fd its own way asks for
   * `{ kind: 'readiness' }`, so nothing reads ahead of it.
   */
  protected openTransport(): StreamTransport {
    return this.ioLoop.transportFor(this, { kind: 'pipe' });
  }

  /** The pipe's fd. */
  fileno(): number {
    return this.fd;
  }

  /** Closes the pipe's fd (on a ring, after cancelling its READ: an armed READ holds the file). */
  closeFd(): void {
    const fd = this.fd;
    const owner: FdOwner = { close: () => closeFd(fd), detach: () => fd };
    this.transport.close(owner);
  }

  /** One nonblocking read of up to `readChunkSize` bytes; closes at end of file. */
  readFromFd(): Buffer | null {
    return this.readOrClose(this.transport);
  }

  /** One nonblocking write. */
  writeToFd(data: Uint8Array): number {
    return this.transport.write(data);
  }

  protected override writeManyToFd(parts: readonly Uint8Array[], first: number, offset: number): number {
    return this.transport.writeMany(parts, first, offset);
  }

  protected override readFromFdInto(target: Uint8Array): number | null {
    return this.readIntoOrClose(this.transport, target);
  }

  protected override readLeftFdEmpty(n: number): boolean {
    return this.transport.readLeftEmpty(n, this.readChunkSize);
  }
}
