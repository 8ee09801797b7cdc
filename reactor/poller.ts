/**
 * The poller interface: what the IOLoop needs from epoll, poll or kqueue.
 *
 * Event bits are the IOLoop's (READ 0x001, WRITE 0x004, ERROR 0x018), which
 * are also epoll's and poll's own bits on Linux, so those backends pass them
 * through unchanged. Results land in two preallocated arrays (`readyFds`,
 * `readyEvents`) so a poll allocates nothing.
 */
export type PollerName = 'epoll' | 'poll' | 'kqueue' | 'uring';

/** A readiness backend. */
export interface Poller {
  /** Which backend this is. */
  readonly name: PollerName;
  /** The ready fds of the last `poll()`, in its first `n` slots. */
  readonly readyFds: Int32Array;
  /** The events of the last `poll()`, parallel to `readyFds`. */
  readonly readyEvents: Int32Array;
  /** Starts watching `fd` for `events`. */
  register(fd: number, events: number): void;
  /** Changes the events watched on `fd` (the loop calls it only on a real change). */
  modify(fd: number, events: number): void;
  /** Stops watching `fd`. Never throws for an fd that was closed first. */
  unregister(fd: number): void;
  /**
   * Waits up to `timeoutMs` (-1: forever) and returns how many fds are
   * ready. A signal (EINTR) returns 0, so the loop can let Node run its
   * signal handlers.
   */
  poll(timeoutMs: number): number;
  /** Releases the backend's own fd and memory. */
  close(): void;
}

/** READ/WRITE/ERROR, as the IOLoop defines them. */
export const READ = 0x001;
export const WRITE = 0x004;
export const ERROR = 0x018;

/** How many ready fds one poll reports at most (the rest wait for the next). */
export const MAX_EVENTS = 1024;
