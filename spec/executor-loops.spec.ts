/**
 * `IOLoop.runInExecutor` with two loops: a ThreadPoolExecutor delivers a
 * task's result through a waker on the loop that was current when the task
 * was submitted. Regression: `runInExecutor` left that to whichever loop
 * was current, so `other.runInExecutor(pool, …)` called while another loop
 * was current delivered on that loop — and never, if only `other` ran.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { ThreadPoolExecutor } from '../reactor/executor-pool.js';
import { defineTask } from '../reactor/executor-task.js';
import { fdLeakCheck, stoppedPool } from './helpers.js';

const add = defineTask(new URL('./fixtures/tasks.js', import.meta.url), 'add');

test('runInExecutor delivers on its own loop, whichever loop is current', async () => {
  const leaks = fdLeakCheck();
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 });
  const current = new IOLoop({ makeCurrent: false });
  const other = new IOLoop({ makeCurrent: false });
  try {
    // The pool has delivered on `current` before: its waker sits there.
    assert.is(await current.runSync(() => current.runInExecutor<number>(pool, add, 1, 1), 10), 2);
    const seen: Array<IOLoop | null> = [];
    current.makeCurrent();
    const futures = [other.runInExecutor<number>(pool, add, 2, 3), other.runInExecutor<number>(pool, add, 4, 5)];
    IOLoop.clearCurrent();
    for (const future of futures) future.addDoneCallback(() => seen.push(IOLoop.current(false)));
    // Only `other` runs: a result waiting on `current`'s waker never came (runSync timed out).
    assert.equal(await other.runSync(() => Promise.all(futures), 10), [5, 9]);
    assert.equal(seen, [other, other]);
    // And back: `current` submits again, and gets its result.
    assert.is(await current.runSync(() => current.runInExecutor<number>(pool, add, 6, 7), 10), 13);
  } finally {
    IOLoop.clearCurrent();
    // Without waiting: a task whose result waits for a loop that no longer runs would hold it.
    await stoppedPool(pool, false);
    current.close();
    other.close();
  }
  leaks();
});

test.run();
