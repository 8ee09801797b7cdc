/**
 * Executors: dummyExecutor on the calling thread, ThreadPoolExecutor on
 * worker threads with results delivered through the loop's waker.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { withTimeout } from '../reactor/gen.js';
import { OSError } from '../reactor/sys/errors.js';
import { setLogger, stderrLogger } from '../reactor/log.js';
import { defineTask, dummyExecutor, type Executor, type TaskRef } from '../reactor/executor.js';
import { ThreadPoolExecutor, defaultExecutor } from '../reactor/executor-pool.js';
import { captureLogs, fdLeakCheck, inLoop, rejection, stoppedPool, threadCount } from './helpers.js';
import * as tasks from './fixtures/tasks.js';

const tasksUrl = new URL('./fixtures/tasks.js', import.meta.url);
const task = (name: keyof typeof tasks | 'missing'): TaskRef => defineTask(tasksUrl, name);

// Taken before any worker exists; every pool must be gone by the last test.
const checkFds = fdLeakCheck();
const threadsAtStart = threadCount();

// ------------------------------------------------------------ defineTask

test('defineTask accepts absolute paths and file URLs, refuses the rest', () => {
  const path = fileURLToPath(tasksUrl);
  assert.is(defineTask(path, 'add').module, path);
  assert.is(defineTask(tasksUrl, 'add').module, tasksUrl);
  assert.is(defineTask(tasksUrl.href, 'add').name, 'add');
  assert.ok(Object.isFrozen(defineTask(tasksUrl, 'add')));
  assert.throws(() => defineTask('./fixtures/tasks.js', 'add'), (e: Error) => e instanceof TypeError && /absolute path or a file: URL/.test(e.message));
  assert.throws(() => defineTask('tasks', 'add'), TypeError);
  assert.throws(() => defineTask(new URL('https://example.com/tasks.js'), 'add'), TypeError);
  assert.throws(() => defineTask(tasksUrl, ''), (e: Error) => e instanceof TypeError && /non-empty string/.test(e.message));
  assert.throws(() => defineTask(tasksUrl, undefined as unknown as string), TypeError);
});

// ------------------------------------------------------------ dummyExecutor

test('dummyExecutor runs a plain function at once on this thread', async () => {
  const future = dummyExecutor.submit<number>(tasks.add, 2, 3);
  assert.ok(future.done());
  assert.is(future.result(), 5);
  assert.is(await dummyExecutor.submit<number>(tasks.whereAmI), 0);
  assert.is(await dummyExecutor.submit<string>(tasks.later, 1, 'awaited'), 'awaited');
});

test('dummyExecutor rejects instead of throwing', async () => {
  const failing = dummyExecutor.submit(tasks.fail, 'sync failure');
  assert.ok(failing.done());
  assert.instance(failing.exception(), tasks.TaskFailure);
  assert.instance(await rejection(dummyExecutor.submit({ module: 'relative.js', name: 'x' })), TypeError);
  assert.instance(await rejection(dummyExecutor.submit(42 as never)), TypeError);
  assert.instance(await rejection(dummyExecutor.submit(tasks.failLater, 'later')), RangeError);
});

test('dummyExecutor imports a TaskRef, then runs it on this thread', async () => {
  const future = dummyExecutor.submit<number>(task('add'), 40, 2);
  assert.not.ok(future.done(), 'the import is asynchronous');
  assert.is(await future, 42);
  assert.is(await dummyExecutor.submit<number>(task('whereAmI')), 0);
  // Same thread, same module instance: the error keeps its class.
  const error = await rejection(dummyExecutor.submit(task('fail'), 'by reference'));
  assert.instance(error, tasks.TaskFailure);
  assert.match((await rejection(dummyExecutor.submit(task('notAFunction')))).message, /no exported function named "notAFunction"/);
  dummyExecutor.shutdown();
});

// ------------------------------------------------------------ ThreadPoolExecutor

test('a task round-trips its arguments and result through a worker', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 2 });
  const rich = { when: new Date(0), map: new Map([['k', [1, 2n]]]), bytes: new Uint8Array([1, 2, 3]), nested: { list: [null, 'x'] } };
  const [sum, echoed, where] = await inLoop(() => Promise.all([
    executor.submit<number>(task('add'), 2, 3),
    executor.submit<typeof rich>(task('echo'), rich),
    executor.submit<number>(task('whereAmI')),
  ]));
  assert.is(sum, 5);
  assert.equal(echoed, rich);
  assert.is.not(where, 0, 'ran on a worker thread');
  assert.ok(executor.liveWorkers >= 1 && executor.liveWorkers <= 2);
  await stoppedPool(executor);
});

test('more tasks than workers: they run in parallel, queue FIFO, never exceed maxWorkers', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 3 });
  const shared = new SharedArrayBuffer(4);
  await inLoop(async () => {
    // Three tasks that can only finish if all three run at the same time.
    const meet = [0, 1, 2].map(() => executor.submit<number>(task('rendezvous'), shared, 3));
    const sums = Array.from({ length: 30 }, (_, i) => executor.submit<number>(task('add'), i, i));
    assert.is(executor.liveWorkers, 3);
    const ids = await Promise.all(meet);
    assert.is(new Set(ids).size, 3);
    assert.equal(await Promise.all(sums), Array.from({ length: 30 }, (_, i) => 2 * i));
    assert.is(executor.liveWorkers, 3);
  });
  await stoppedPool(executor);

  const single = new ThreadPoolExecutor({ maxWorkers: 1 });
  const counter = new SharedArrayBuffer(4);
  const order = await inLoop(() => Promise.all(Array.from({ length: 10 }, () => single.submit<number>(task('ticket'), counter))));
  assert.equal(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await stoppedPool(single);
});

test('an async task is awaited in its worker', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 2 });
  await inLoop(async () => {
    assert.equal(await executor.submit(task('later'), 5, { done: true }), { done: true });
    assert.instance(await rejection(executor.submit(task('failLater'), 'async failure')), RangeError);
  });
  await stoppedPool(executor);
});

test('a throwing task rejects with its error\'s name, message, stack and fields', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 2 });
  await inLoop(async () => {
    const error = await rejection(executor.submit(task('fail'), 'it broke'));
    assert.instance(error, Error);
    assert.is(error.name, 'TaskFailure');
    assert.is(error.message, 'it broke');
    assert.is(error.code, 'E_TASK');
    assert.match(error.stack, /TaskFailure: it broke/);
    assert.match(error.stack, /at fail \(.*fixtures\/tasks\.(js|ts)/, 'the stack is the worker\'s');

    const os = await rejection(executor.submit(task('failOS'), false));
    assert.instance(os, OSError, 'OSError keeps its class');
    assert.is(os.name, 'OSError');
    assert.is(os.code, 'EAI_NONAME');
    assert.is(os.errno, -2);
    assert.is(os.syscall, 'getaddrinfo');
    const sub = await rejection(executor.submit(task('failOS'), true));
    assert.instance(sub, OSError, 'an OSError subclass comes back as an OSError');
    assert.is(sub.name, 'LookupError');
    assert.is(sub.message, 'Name or service not known');
    assert.is(sub.hostname, 'nowhere.invalid');
    assert.instance(await rejection(executor.submit(task('throwValue'), new TypeError('built-in'))), TypeError);
    const caused = await rejection(executor.submit(task('failWithCause')));
    assert.is(caused.message, 'outer');
    assert.instance(caused.cause, RangeError);
    assert.is(caused.cause.message, 'inner');

    assert.is(await rejection(executor.submit(task('throwValue'), 42)), 42);
    assert.match((await rejection(executor.submit(task('unclonable')))).message, /could not be sent back/);
    assert.match((await rejection(executor.submit(task('notAFunction')))).message, /no exported function named "notAFunction"/);
    const missing = await rejection(executor.submit(defineTask(new URL('./fixtures/nowhere.js', import.meta.url), 'f')));
    assert.is(missing.code, 'ERR_MODULE_NOT_FOUND');
    const badArg = await rejection(executor.submit(task('echo'), () => 1));
    assert.is(badArg.name, 'DataCloneError');
    // Failures do not use up the workers.
    assert.is(await executor.submit(task('add'), 1, 1), 2);
  });
  await stoppedPool(executor);
});

test('a crashed worker rejects its task and is replaced', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 1 });
  const { logs } = await captureLogs(() => inLoop(async () => {
    const exited = await rejection(executor.submit(task('exitWorker'), 7));
    assert.match(exited.message, /executor worker exited with code 7 while running tasks\.js#exitWorker/);
    assert.is(await executor.submit(task('add'), 1, 2), 3, 'a replacement runs the next task');

    const crashed = await rejection(executor.submit(task('crashPending')));
    assert.match(crashed.message, /died of an uncaught TypeError: uncaught inside the worker/);
    assert.instance(crashed.cause, TypeError);
    assert.is(await executor.submit(task('add'), 2, 2), 4);
  }));
  assert.equal(logs, []);
  await stoppedPool(executor);
});

test('a worker that dies after its task returned is replaced, and the error reported', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 1 });
  const logs: string[] = [];
  const record = (...args: unknown[]): void => { logs.push(args.map((a) => (a instanceof Error ? a.stack : String(a))).join(' ')); };
  const reported = /uncaught after the task returned/;
  setLogger({ debug: record, info: record, warn: record, error: record });
  try {
    await inLoop(async () => {
      assert.is(await executor.submit(task('crashAfterReturn')), 'returned');
      // The death surfaces either in the log (the worker was idle) or as the
      // rejection of a task that had just been handed to it. Wait, bounded by
      // runSync, until it has.
      for (let surfaced = false; !surfaced;) {
        const outcome = await executor.submit(task('later'), 5, null).then(() => null, (e: unknown) => e as Error);
        surfaced = logs.some((text) => reported.test(text)) || (outcome !== null && reported.test(outcome.message));
      }
      assert.is(await executor.submit(task('add'), 3, 4), 7);
    });
  } finally {
    setLogger(stderrLogger);
  }
  assert.ok(logs.every((text) => text.includes('Uncaught exception in executor worker')));
  await stoppedPool(executor);
});

test('shutdown(true) lets running and queued tasks finish, then stops the workers', async () => {
  const checkRunFds = fdLeakCheck();
  const executor = new ThreadPoolExecutor({ maxWorkers: 2 });
  await inLoop(async () => {
    const results = [0, 1, 2, 3, 4].map((i) => executor.submit<number>(task('later'), 20, i));
    const done = executor.shutdown();
    assert.throws(() => executor.submit(task('add'), 1, 1), /cannot schedule new futures after shutdown/);
    assert.equal(await Promise.all(results), [0, 1, 2, 3, 4]);
    await done;
    assert.is(executor.liveWorkers, 0);
  });
  executor.shutdown(); // again: harmless
  checkRunFds();
});

test('shutdown() never fails a running or queued task, even one awaited with a timeout (issue 10)', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 1 });
  const { logs } = await captureLogs(() => inLoop(async () => {
    const running = executor.submit<number>(task('later'), 30, 1);
    const queued = executor.submit<number>(task('later'), 1, 2);
    const guarded = withTimeout({ seconds: 20 }, queued);
    executor.shutdown();
    assert.is(await withTimeout({ seconds: 20 }, running), 1);
    assert.is(await guarded, 2);
  }));
  assert.equal(logs, []);
  await stoppedPool(executor);
});

test('shutdown(true, { cancelFutures: true }) cancels queued tasks; the running one finishes (Python 3.9+)', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 1 });
  await inLoop(async () => {
    const running = executor.submit<number>(task('later'), 30, 1);
    const queued = [2, 3].map((i) => executor.submit<number>(task('later'), 1, i));
    const done = executor.shutdown(true, { cancelFutures: true });
    assert.ok(queued.every((f) => f.cancelled()), 'queued Futures are cancelled at once');
    assert.not.ok(running.done());
    assert.is(await running, 1);
    await done;
  });
  assert.is(executor.liveWorkers, 0);
});

test('shutdown(false) terminates now and rejects every pending task', async () => {
  const checkRunFds = fdLeakCheck();
  const executor = new ThreadPoolExecutor({ maxWorkers: 2 });
  await inLoop(async () => {
    const pending = [0, 1, 2].map(() => executor.submit(task('later'), 60_000, 'too late'));
    executor.shutdown(false);
    for (const future of pending) {
      assert.match((await rejection(future)).message, /executor was shut down before tasks\.js#later finished/);
    }
  });
  await stoppedPool(executor, false);
  checkRunFds();
});

test('submit refuses plain functions, bad TaskRefs, and anything after shutdown', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 1 });
  assert.throws(() => executor.submit(tasks.add, 1, 2), (e: Error) => e instanceof TypeError && /plain function add/.test(e.message));
  assert.throws(() => executor.submit({ module: 'tasks.js', name: 'add' }), TypeError);
  assert.throws(() => executor.submit(null as never), TypeError);
  assert.is(executor.liveWorkers, 0, 'nothing was started');
  executor.shutdown();
  assert.throws(() => executor.submit(task('add'), 1, 2), /cannot schedule new futures after shutdown/);
  await stoppedPool(executor);
  assert.throws(() => new ThreadPoolExecutor({ maxWorkers: 0 }), RangeError);
});

test('a task cancelled while queued never runs', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 1 });
  const counter = new SharedArrayBuffer(4);
  await inLoop(async () => {
    const first = executor.submit(task('later'), 10, 'first');
    const skipped = executor.submit(task('ticket'), counter);
    assert.ok(skipped.cancel());
    assert.is(await first, 'first');
    assert.is(await executor.submit(task('ticket'), counter), 0, 'the cancelled ticket was never taken');
  });
  await stoppedPool(executor);
});

test('results arrive on a loop that never looks at libuv (nodeInterop: false)', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 2 });
  await inLoop(async () => {
    assert.is(await executor.submit(task('add'), 20, 22), 42);
    assert.is(await executor.submit(task('later'), 5, 'timer in the worker'), 'timer in the worker');
    assert.match((await rejection(executor.submit(task('exitWorker'), 3))).message, /exited with code 3/);
    assert.is(await executor.submit(task('add'), 1, 1), 2);
  }, { nodeInterop: false });
  await stoppedPool(executor);
});

test('IOLoop.runInExecutor uses the given, the loop\'s default, or the shared pool', async () => {
  const mine = new ThreadPoolExecutor({ maxWorkers: 1 });
  const seen: string[] = [];
  const spy: Executor = { submit: (t, ...args) => { seen.push('spy'); return dummyExecutor.submit(t, ...args); }, shutdown() {} };
  const loop = new IOLoop({ makeCurrent: false });
  try {
    await loop.runSync(async () => {
      assert.is(await loop.runInExecutor(mine, task('add'), 1, 2), 3);
      assert.is(await loop.runInExecutor(null, task('add'), 2, 2), 4);
      loop.setDefaultExecutor(spy);
      assert.is(await loop.runInExecutor(null, tasks.add, 3, 3), 6);
    }, 30);
  } finally {
    loop.close();
  }
  assert.equal(seen, ['spy']);
  assert.is(defaultExecutor(), defaultExecutor(), 'one shared pool');
  await stoppedPool(mine);
  const shared = defaultExecutor();
  await stoppedPool(shared);
  assert.is.not(defaultExecutor(), shared, 'a shut-down shared pool is replaced');
  defaultExecutor().shutdown();
});

test('Futures settle on the loop that last submitted', async () => {
  const executor = new ThreadPoolExecutor({ maxWorkers: 1 });
  let future: Future<number> | null = null;
  await inLoop(() => { future = executor.submit<number>(task('later'), 20, 1); });
  assert.not.ok(future!.done());
  assert.is(await inLoop(() => executor.submit(task('add'), 1, 1)), 2);
  assert.is(future!.result(), 1);
  await stoppedPool(executor);
});

test('an idle pool does not keep the process alive', () => {
  const script = fileURLToPath(new URL('./fixtures/idle-pool.js', import.meta.url));
  const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
  assert.is(child.signal, null, `the child was killed: ${child.stderr}`);
  assert.is(child.status, 0, child.stderr);
  assert.is(child.stdout, 'sum=42\n');
});

test('no fds leaked, no worker threads left', () => {
  checkFds();
  assert.ok(threadCount() <= threadsAtStart, `${threadCount()} threads now, ${threadsAtStart} at start`);
});

test.run();
