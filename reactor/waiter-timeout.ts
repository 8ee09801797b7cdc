/**
 * The `timeout` argument of the locks' and queues' waiting methods, read as
 * Tornado reads it: `Condition.wait`, `Semaphore.acquire`, `Queue.get` and
 * `Queue.put` test `if timeout:` — no timeout when it is absent, `0`, or
 * `{ seconds: 0 }` (Python's `timedelta(0)` is false); `Event.wait` and so
 * `Queue.join` hand it to `with_timeout` unless it is None. Either way a
 * deadline is what `withTimeout` takes (a number is an absolute time on the
 * loop's clock, `{ seconds }` is relative to now).
 */
import type { Future } from './future.js';
import { IOLoop } from './ioloop.js';

/** An absolute deadline on `IOLoop.time()`, or `{ seconds }` from now. */
export type Deadline = number | { seconds: number };

/** Where and when a waiter times out. */
export interface WaiterDeadline {
  readonly loop: IOLoop;
  readonly deadline: number;
}

/**
 * The deadline `timeout` names on the current loop, or null for none, read
 * as Tornado's `if timeout:`. Throws `TypeError`/`RangeError` for a
 * malformed one, so callers check it before they change any state.
 */
export function waiterDeadline(timeout: Deadline | null | undefined): WaiterDeadline | null {
  const at = timeoutDeadline(timeout);
  if (timeout === 0 || (typeof timeout === 'object' && timeout?.seconds === 0)) return null;
  return at;
}

/**
 * The same read as `with_timeout` reads it (`if timeout is None:`, as
 * Tornado's `Event.wait` does): only absent or `null` means none, and `0`
 * or `{ seconds: 0 }` time out at the next timer pass.
 */
export function timeoutDeadline(timeout: Deadline | null | undefined): WaiterDeadline | null {
  if (timeout === undefined || timeout === null) return null;
  const loop = IOLoop.current()!;
  return { loop, deadline: loop.deadlineOf(timeout) };
}

/** Runs `onTimeout` at the deadline unless `waiter` is done first (then the timer is removed). */
export function armWaiterTimeout(waiter: Future<any>, at: WaiterDeadline, onTimeout: () => void): void {
  const { loop } = at;
  const handle = loop.addTimeout(at.deadline, onTimeout);
  waiter.addDoneCallback(() => loop.removeTimeout(handle));
}
