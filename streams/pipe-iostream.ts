/**
 * `PipeIOStream`: a stream over a pipe fd (Tornado's
 * `tornado.iostream.PipeIOStream`). Pipes are one-way, so one stream is used
 * for reading or for writing, not both.
 *
 * The stream takes ownership of the fd: it makes it nonblocking and closes
 * it when the stream closes.
 */
import { checkInteger } from '../reactor/validate.js';
import { close as closeFd, setNonblocking } from '../reactor/sys/libc.js';
import { BaseIOStream } from './base-iostream.js';
import { writeChunk, writeChunks } from './fd-io.js';
import type { StreamOptions } from './options.js';

/** A stream over a pipe's read or write end. */
export class PipeIOStream extends BaseIOStream {
  private readonly fd: number;

  /** Wraps `fd` (e.g. one end of `pipe()`), making it nonblocking. */
  constructor(fd: number, options?: StreamOptions) {
    checkInteger('fd', fd);
    super(options);
    this.fd = fd;
    setNonblocking(fd, true);
  }

  /** The pipe's fd. */
  fileno(): number {
    return this.fd;
  }

  /** Closes the pipe's fd. */
  closeFd(): void {
    closeFd(this.fd);
  }

  /** One nonblocking read of up to `readChunkSize` bytes; closes at end of file. */
  readFromFd(): Buffer | null {
    return this.readChunkOrClose(this.fd);
  }

  /** One nonblocking write. */
  writeToFd(data: Uint8Array): number {
    return writeChunk(this.fd, data);
  }

  protected override writeManyToFd(parts: readonly Uint8Array[], first: number, offset: number): number {
    return writeChunks(this.fd, parts, first, offset);
  }

  protected override readFromFdInto(target: Uint8Array): number | null {
    return this.readIntoOrClose(this.fd, target);
  }
}
