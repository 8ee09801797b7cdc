/**
 * The IOLoop's misuse errors, as classes a caller can catch. Tornado's
 * `tornado.ioloop` raises `RuntimeError` for a loop used in the wrong state,
 * and its pollers (like asyncio's `selectors`) raise `KeyError` /
 * `FileExistsError` for an fd registered twice or not at all; gale gives each
 * family one class. The messages are Tornado's where Tornado has one.
 */

/**
 * The loop (or the thread) is in the wrong state for this call — Tornado's
 * `RuntimeError`:
 * - `start()` or `runSync()` on a loop that is already running
 *   ("IOLoop is already running");
 * - `start()` on a closed loop ("IOLoop is closing");
 * - `new IOLoop({ makeCurrent: true })` while another loop is current
 *   ("current IOLoop already exists");
 * - `install()` while a global instance exists ("IOLoop instance already
 *   initialized");
 * - `nodeInterop: true` in a worker thread, where libuv's loop cannot be
 *   reached.
 */
export class LoopStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoopStateError';
  }
}

/**
 * A handler registration that does not match the loop's table — the
 * `KeyError` of asyncio's selectors (Tornado's epoll raises
 * `FileExistsError` / `FileNotFoundError`):
 * - `addHandler()` for an fd that already has a handler
 *   ("fd N is already registered"): remove the old one first;
 * - `updateHandler()` for an fd that has none ("fd N is not registered").
 *
 * `removeHandler()` of an unknown fd is not an error (Tornado ignores it).
 */
export class FdRegistrationError extends Error {
  /** The fd number the call named. */
  readonly fd: number;

  constructor(fd: number, message: string) {
    super(message);
    this.name = 'FdRegistrationError';
    this.fd = fd;
  }
}
