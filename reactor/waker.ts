/**
 * The waker: an fd another thread can make readable to wake a loop that is
 * blocked in its poller — Tornado's `Waker` (tornado/platform/posix.py, a
 * pipe), asyncio's self-pipe. An eventfd on Linux (one fd, an 8-byte
 * counter), a nonblocking pipe elsewhere. A worker thread wakes the loop by
 * writing to `writeFileno()` with its own syscall binding.
 */
import { close, drainWake, eventfd, pipe, writeWake } from './sys/libc.js';

const useEventfd = process.platform === 'linux';

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
    drainWake(this.readFd, useEventfd);
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
  writeWake(fd, useEventfd ? 8 : 1);
}
