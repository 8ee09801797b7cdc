/**
 * `PipeIOStream`: a stream over a pipe fd (Tornado's
 * `tornado.iostream.PipeIOStream`). Pipes are one-way, so one stream is used
 * for reading or for writing, not both.
 *
 * The stream takes ownership of the fd: it makes it nonblocking and closes
 * it when the stream closes.
 *
 * On a uring loop a read end reads through the ring (a single-shot READ
 * kept in flight, reactor/uring/pipe-transport.ts): the loop reports READ
 * from what the READ brought, and `readFromFd` makes no syscall. Writes
 * stay write(2) on readiness. `GALE_URING_PIPES=0` keeps pipes on readiness.
 */
import { checkInteger } from '../reactor/sys/validate.js';
import { close as closeFd, setNonblocking } from '../reactor/sys/libc.js';
import { completionPipeFor } from '../reactor/uring/attach.js';
import type { CompletionPipe } from '../reactor/uring/pipe-transport.js';
import { BaseIOStream } from './base-iostream.js';
import { writeChunk, writeChunks } from './fd-io.js';
import type { StreamOptions } from './options.js';

/** A stream over a pipe's read or write end. */
export class PipeIOStream extends BaseIOStream {
  private readonly fd: number;
  /** The completion endpoint on a uring loop (read ends), else null: read(2) on readiness. */
  private readonly completion: CompletionPipe | null;

  /** Wraps `fd` (e.g. one end of `pipe()`), making it nonblocking. */
  constructor(fd: number, options?: StreamOptions) {
    checkInteger('fd', fd);
    super(options);
    this.fd = fd;
    setNonblocking(fd, true);
    // A subclass that reads the fd its own way keeps readiness (a READ would take its bytes).
    const ownRead = (this as { readFromFd: unknown }).readFromFd === PipeIOStream.prototype.readFromFd;
    this.completion = ownRead ? completionPipeFor(this.ioLoop, fd) : null;
  }

  /** The pipe's fd. */
  fileno(): number {
    return this.fd;
  }

  /** Closes the pipe's fd (on a ring, after cancelling its READ: an armed READ holds the file). */
  closeFd(): void {
    this.completion?.detach();
    closeFd(this.fd);
  }

  /** One nonblocking read of up to `readChunkSize` bytes; closes at end of file. */
  readFromFd(): Buffer | null {
    const completion = this.completion;
    if (completion === null) return this.readChunkOrClose(this.fd);
    const data = completion.read(this.readChunkSize);
    if (data !== null && data.length === 0) {
      this.close();
      return null;
    }
    return data;
  }

  /** One nonblocking write. */
  writeToFd(data: Uint8Array): number {
    return writeChunk(this.fd, data);
  }

  protected override writeManyToFd(parts: readonly Uint8Array[], first: number, offset: number): number {
    return writeChunks(this.fd, parts, first, offset);
  }

  protected override readFromFdInto(target: Uint8Array): number | null {
    const completion = this.completion;
    if (completion === null) return this.readIntoOrClose(this.fd, target);
    const n = completion.readInto(target);
    if (n < 0) return null;
    if (n === 0) {
      this.close();
      return null;
    }
    return n;
  }

  protected override readLeftFdEmpty(n: number): boolean {
    const completion = this.completion;
    if (completion === null || completion.lastReadDirect) return super.readLeftFdEmpty(n);
    return completion.buffered === 0;
  }
}
