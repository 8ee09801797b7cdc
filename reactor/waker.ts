/**
 * The waker: an fd another thread can make readable to wake a loop that is
 * blocked in its poller. An eventfd on Linux (one fd, an 8-byte counter), a
 * nonblocking pipe elsewhere. A worker thread wakes the loop by writing to
 * `writeFileno()` with its own syscall binding.
 */
import { c, close, eventfd, lastErrno, pipe } from './sys/libc.js';
import { scratch } from './sys/arena.js';
import { OSError, errno as E } from './sys/errors.js';

const useEventfd = process.platform === 'linux';
const WAKE_OFFSET = 960; // 8 bytes of scratch reserved for the waker's counter

/** An fd that becomes readable when `wake()` is called, from any thread. */
export class Waker {
  private readFd: number;
  private writeFd: number;

  constructor() {
    if (useEventfd) {
      this.readFd = this.writeFd = eventfd();
    } else {
      [this.readFd, this.writeFd] = pipe();
    }
  }

  /** The fd to register for READ. */
  fileno(): number {
    return this.readFd;
  }

  /** The fd to write to (the same as `fileno()` for an eventfd). */
  writeFileno(): number {
    return this.writeFd;
  }

  /** Makes `fileno()` readable. A full pipe or counter already means "awake". */
  wake(): void {
    wakeFd(this.writeFd);
  }

  /** Drains pending wake-ups so the fd is quiet again. */
  consume(): void {
    // One read empties an eventfd; a pipe may hold several bytes.
    for (;;) {
      const n = c.read(this.readFd, scratch.addr + WAKE_OFFSET, 8) as number;
      if (useEventfd || n <= 0) return;
    }
  }

  /** Closes the fds. */
  close(): void {
    if (this.readFd < 0) return;
    close(this.readFd);
    if (this.writeFd !== this.readFd) close(this.writeFd);
    this.readFd = this.writeFd = -1;
  }
}

/**
 * Writes one wake-up to a waker's write fd. Used by worker threads, which
 * know only the fd number. EAGAIN (counter or pipe full) is success: the
 * reader has not drained yet, so it is awake anyway.
 */
export function wakeFd(fd: number): void {
  const view = scratch.view;
  view.writeUInt32LE(1, WAKE_OFFSET);
  view.writeUInt32LE(0, WAKE_OFFSET + 4);
  if ((c.write(fd, scratch.addr + WAKE_OFFSET, useEventfd ? 8 : 1) as number) < 0) {
    const err = lastErrno();
    if (err !== E.EAGAIN && err !== E.EINTR) throw new OSError(err, 'write');
  }
}
