/**
 * reactor/future.ts under `await` and Promise combinators. A Future is a
 * native Promise whose prototype's `constructor` is `Promise`, so `await`
 * takes V8's own path. What that changes and what it must not: awaiting a
 * failed or cancelled Future throws its error; a failed Future nobody
 * awaits raises no 'unhandledRejection' (nor a later 'rejectionHandled'
 * when it is awaited after all), counted with process.on; a Promise
 * derived without a handler is the caller's, as with any Promise;
 * `Promise.resolve(future)` is the Future itself; Promises derived from a
 * Future are plain Promises; a subclass is awaited through `then`, so its
 * own `result()` is honoured; `gen` helpers give Futures that await as
 * before. Counted, never timed: the Promises (async_hooks) a Future makes.
 */
import { createHook } from 'node:async_hooks';
import { types } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CancelledError, Future, toFuture } from '../reactor/future.js';
import { coroutine, maybeFuture, multi } from '../reactor/gen.js';
import { delay, rejection } from './helpers.js';

const unhandled: unknown[] = [];
const handledLate: unknown[] = [];
process.on('unhandledRejection', (reason) => { unhandled.push(reason); });
process.on('rejectionHandled', (promise) => { handledLate.push(promise); });

/** Lets Node's rejection tracking run: it reports after the microtasks, on the next tick of the macrotask queue. */
async function settleRejectionTracking(): Promise<void> {
  await delay(5);
  await new Promise((resolve) => setImmediate(resolve));
}

test('awaiting a failed Future throws its error: failed before the await, or while awaited', async () => {
  const before = new Future<number>();
  const error = new RangeError('before');
  before.setException(error);
  assert.is(await rejection(before), error);
  const during = new Future<number>();
  const waiting = rejection(during);
  const later = new TypeError('during');
  setImmediate(() => during.setException(later));
  assert.is(await waiting, later);
  // The same error again on a second await, and from result().
  assert.is(await rejection(during), later);
  assert.throws(() => during.result(), (e: unknown) => e === later);
});

test('awaiting a cancelled Future throws CancelledError: cancelled before the await, or while awaited', async () => {
  const before = new Future<number>();
  before.cancel();
  const first = await rejection(before);
  assert.instance(first, CancelledError);
  assert.is(first.message, 'Future was cancelled');
  const during = new Future<number>();
  const waiting = rejection(during);
  setImmediate(() => during.cancel());
  assert.instance(await waiting, CancelledError);
});

test('a failed or cancelled Future nobody awaits fires no unhandledRejection, nor rejectionHandled when awaited later', async () => {
  unhandled.length = 0;
  handledLate.length = 0;
  const failed = new Future<void>();
  failed.setException(new Error('never awaited'));
  const cancelled = new Future<void>();
  cancelled.cancel();
  const awaitedLater = new Future<void>();
  awaitedLater.setException(new Error('awaited after a turn'));
  // Failed with a done callback only (Tornado's way of consuming it).
  const withCallback = new Future<void>();
  let seen: unknown = null;
  withCallback.addDoneCallback((f) => { seen = f.exception(); });
  withCallback.setException(new Error('seen by a callback'));
  await settleRejectionTracking();
  assert.is((await rejection(awaitedLater) as Error).message, 'awaited after a turn');
  await settleRejectionTracking();
  assert.is((seen as Error | null)?.message, 'seen by a callback');
  assert.is(unhandled.length, 0, `unhandledRejection fired ${unhandled.length} times`);
  assert.is(handledLate.length, 0, `rejectionHandled fired ${handledLate.length} times`);
});

test('a Promise derived from a failed Future without a handler is the caller\'s unhandled rejection, as with any Promise', async () => {
  unhandled.length = 0;
  const failed = new Future<void>();
  const error = new Error('derived');
  void failed.then(() => {});
  failed.setException(error);
  await settleRejectionTracking();
  assert.equal(unhandled, [error]);
  unhandled.length = 0;
});

test('a Future is a native Promise, and Promise.resolve hands it back as it is', async () => {
  const f = new Future<number>();
  assert.ok(f instanceof Promise);
  assert.ok(types.isPromise(f));
  assert.is(Promise.resolve(f), f);
  assert.is(String(f), '[object Future]');
  f.setResult(4);
  assert.is(await Promise.resolve(f), 4);
  assert.equal(await Promise.all([f, toFuture(5)]), [4, 5]);
  assert.is(await Promise.race([f, new Future<number>()]), 4);
});

test('Promises derived from a Future (then, catch, finally) are plain Promises', async () => {
  const f = new Future<number>();
  const derived = [f.then((v) => v + 1), f.catch(() => 0), f.finally(() => {})];
  f.setResult(1);
  for (const p of derived) {
    assert.is(Object.getPrototypeOf(p), Promise.prototype);
    assert.not.ok(p instanceof Future);
  }
  assert.equal(await Promise.all(derived), [2, 1, 1]);
  const g = new Future<number>();
  const finallyOfFailed = g.finally(() => {});
  g.setException(new Error('through finally'));
  assert.is((await rejection(finallyOfFailed) as Error).message, 'through finally');
});

test('a subclass is not handed back by Promise.resolve: it is awaited through then, so its result() is honoured', async () => {
  class Doubled extends Future<number> {
    override result(): number { return super.result() * 2; }
  }
  const d = new Doubled();
  assert.is.not(Promise.resolve(d), d);
  setImmediate(() => d.setResult(21));
  assert.is(await d, 42);
  assert.is(await d.then((v) => v), 42);
  assert.ok(d instanceof Future);
  const failing = new Doubled();
  failing.setException(new RangeError('sub'));
  assert.instance(await rejection(failing), RangeError);
});

test('gen.coroutine, maybeFuture and multi still give Futures that await as before', async () => {
  const co = coroutine(async (x: number) => x + 1);
  const made = co(1);
  assert.instance(made, Future);
  assert.is(await made, 2);
  const failing = coroutine(() => { throw new Error('sync throw'); })();
  assert.is((await rejection(failing) as Error).message, 'sync throw');
  const f = new Future<string>();
  assert.is(maybeFuture(f), f);
  f.setResult('x');
  assert.equal(await multi([f, Promise.resolve('y')]), ['x', 'y']);
});

/** The Promises async_hooks sees while `run` runs to its end. */
async function promisesMade(run: () => Promise<unknown>): Promise<number> {
  let created = 0;
  const hook = createHook({ init(_id, type) { if (type === 'PROMISE') created++; } });
  hook.enable();
  try {
    await null; // the hook's own set-up is not counted
    created = 0;
    await run();
  } finally {
    hook.disable();
  }
  return created;
}

test('a Future is one Promise; failing adds the one its no-op rejection handler derives, and no more', async () => {
  const baseline = await promisesMade(async () => {});
  const made = await promisesMade(async () => { new Future<number>().setResult(1); });
  assert.is(made - baseline, 1);
  const failed = await promisesMade(async () => { new Future<number>().setException(new Error('x')); });
  assert.is(failed - baseline, 2);
  const cancelled = await promisesMade(async () => { new Future<number>().cancel(); });
  assert.is(cancelled - baseline, 2);
});

test('no unhandled rejections left over', async () => {
  await settleRejectionTracking();
  assert.equal(unhandled, []);
  assert.equal(handledLate, []);
});

test.run();
