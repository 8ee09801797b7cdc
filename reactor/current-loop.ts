/**
 * The current loop, for the modules that ioloop.ts itself builds on.
 *
 * `ThreadPoolExecutor` delivers a task's result on the loop that was
 * current when the task was submitted, and ioloop.ts makes the default pool
 * lazily for `runInExecutor(null, …)`. If the pool imported ioloop.ts for
 * `IOLoop.current()`, the two would import each other. So ioloop.ts hands
 * its `IOLoop.current` in here when it loads, and the pool is given its loop
 * from here (as Tornado 5's executors never import the loop).
 */
import type { IOLoop } from './ioloop.js';

let lookup: (() => IOLoop) | null = null;

/** Called once, by ioloop.ts: how to find this thread's current loop. */
export function provideCurrentLoop(current: () => IOLoop): void {
  lookup = current;
}

/**
 * This thread's current loop (`IOLoop.current()`: the global instance when
 * none is current).
 *
 * @throws Error if ioloop.ts was never loaded, so no loop can exist.
 */
export function currentLoop(): IOLoop {
  if (!lookup) throw new Error('no IOLoop: import IOLoop (gale/reactor) before submitting work that needs a loop');
  return lookup();
}
