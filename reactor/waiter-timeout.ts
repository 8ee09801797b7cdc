/**
 * The `timeout` argument of the locks' and queues' waiting methods
 * (`Condition.wait`, `Semaphore.acquire`, `Queue.get`, …), read as Tornado
 * reads it: `if timeout:` — no timeout when it is absent, `0`, or
 * `{ seconds: 0 }` (Python's `timedelta(0)` is false); otherwise a deadline
 * as `withTimeout` takes it (a number is an absolute time on the loop's
 * clock, `{ seconds }` is relative to now).
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
 * The deadline `timeout` names on the current loop, or null for none.
 * Throws `TypeError`/`RangeError` for a malformed one, so callers check it
 * before they change any state.
 */
export function waiterDeadline(timeout: Deadline | null | undefined): WaiterDeadline | null {
  if (timeout === undefined || timeout === null || timeout === 0) return null;
  const loop = IOLoop.current()!;
  const deadline = loop.deadlineOf(timeout);
  if (typeof timeout === 'object' && timeout.seconds === 0) return null;
  return { loop, deadline };
}

/** Runs `onTimeout` at the deadline unless `waiter` is done first (then the timer is removed). */
export function armWaiterTimeout(waiter: Future<any>, at: WaiterDeadline, onTimeout: () => void): void {
  const { loop } = at;
  const handle = loop.addTimeout(at.deadline, onTimeout);
  waiter.addDoneCallback(() => loop.removeTimeout(handle));
}
