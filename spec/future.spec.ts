/**
 * reactor/future.ts: Tornado's Future (done callbacks, exceptions, result
 * twice, asyncio-style cancellation) as a native Promise, plus chainFuture,
 * the *UnlessCancelled helpers and the no-unhandled-rejection promise.
 * Ports the Future parts of Tornado 4.4's concurrent_test.
 */
import { createHook } from 'node:async_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CancelledError, Future, InvalidStateError, TimeoutError, chainFuture, futureSetExceptionUnlessCancelled,
  futureSetResultUnlessCancelled, isFuture, isThenable, toFuture,
} from '../reactor/future.js';
import { captureLogs, delay, fdLeakCheck, rejection, thrown } from './helpers.js';

const checkFds = fdLeakCheck();

// Every test here also proves it raised no unhandled rejection.
const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => { unhandled.push(reason); });

test('a new Future is pending; result() and exception() refuse', () => {
  const f = new Future<number>();
  assert.is(f.done(), false);
  assert.is(f.running(), true);
  assert.is(f.cancelled(), false);
  assert.instance(thrown(() => f.result()), InvalidStateError);
  assert.instance(thrown(() => f.exception()), InvalidStateError);
});

test('setResult completes it and runs done callbacks in order, with the Future', () => {
  const f = new Future<string>();
  const calls: Array<[string, Future<string>]> = [];
  f.addDoneCallback((x) => calls.push(['a', x]));
  f.addDoneCallback((x) => calls.push(['b', x]));
  assert.equal(calls, []);
  f.setResult('value');
  assert.is(f.done(), true);
  assert.is(f.running(), false);
  assert.is(f.result(), 'value');
  assert.is(f.exception(), null);
  assert.equal(calls.map(([n]) => n), ['a', 'b']);
  assert.is(calls[0]![1], f);
});

test('a done callback added after completion runs at once, synchronously', () => {
  const f = new Future<number>();
  f.setResult(1);
  let ran = 0;
  f.addDoneCallback((x) => { ran = x.result() + 1; });
  assert.is(ran, 2);
});

test('setException: result() throws it, exception() returns it', () => {
  const f = new Future<number>();
  const error = new RangeError('bad');
  let seen: unknown = null;
  f.addDoneCallback((x) => { seen = x.exception(); });
  f.setException(error);
  assert.ok(f.done());
  assert.is(thrown(() => f.result()), error);
  assert.is(f.exception(), error);
  assert.is(seen, error);
});

test('setting a done Future again throws InvalidStateError', () => {
  const f = new Future<number>();
  f.setResult(1);
  assert.instance(thrown(() => f.setResult(2)), InvalidStateError);
  assert.instance(thrown(() => f.setException(new Error('x'))), InvalidStateError);
  assert.is(f.result(), 1);
  const g = new Future<number>();
  g.setException(new Error('first'));
  assert.instance(thrown(() => g.setResult(2)), InvalidStateError);
  assert.is((g.exception() as Error).message, 'first');
});

test('cancel: a pending Future becomes cancelled and runs its callbacks', () => {
  const f = new Future<number>();
  let called = 0;
  f.addDoneCallback(() => called++);
  assert.is(f.cancel(), true);
  assert.is(f.cancelled(), true);
  assert.is(f.done(), true);
  assert.is(called, 1);
  assert.instance(thrown(() => f.result()), CancelledError);
  assert.instance(thrown(() => f.exception()), CancelledError);
  assert.is(f.cancel(), false, 'cancelling twice returns false');
  const error = thrown(() => f.setResult(1));
  assert.instance(error, InvalidStateError);
  assert.match(error.message, /cancelled/);
  assert.is(called, 1);
});

test('cancel of a done Future returns false and changes nothing', () => {
  const f = new Future<number>();
  f.setResult(3);
  assert.is(f.cancel(), false);
  assert.is(f.cancelled(), false);
  assert.is(f.result(), 3);
});

test('an exception in a done callback is logged and the others still run', async () => {
  const { logs } = await captureLogs(() => {
    const f = new Future<number>();
    const calls: string[] = [];
    f.addDoneCallback(function broken() { throw new Error('callback failed'); });
    f.addDoneCallback(() => calls.push('second'));
    f.setResult(1);
    assert.equal(calls, ['second']);
    // Also for a callback added after completion.
    f.addDoneCallback(() => { throw new Error('late failure'); });
  });
  assert.is(logs.length, 2);
  assert.is(logs[0]![0], 'error');
  assert.match(logs[0]![1], /^Exception in callback <function broken> for \[object Future\]/);
  assert.match(logs[0]![1], /callback failed/);
  assert.match(logs[1]![1], /Exception in callback <anonymous function>/);
  assert.match(logs[1]![1], /late failure/);
});

test('await gives the result, or throws the exception', async () => {
  const ok = new Future<number>();
  setImmediate(() => ok.setResult(7));
  assert.is(await ok, 7);
  const bad = new Future<number>();
  const error = new Error('nope');
  setImmediate(() => bad.setException(error));
  assert.is(await rejection(bad), error);
});

test('await of an already-done Future, and of a cancelled one', async () => {
  const ok = new Future<string>();
  ok.setResult('done');
  assert.is(await ok, 'done');
  const bad = new Future<string>();
  bad.setException(new TypeError('t'));
  assert.instance(await rejection(bad), TypeError);
  const cancelled = new Future<string>();
  cancelled.cancel();
  assert.instance(await rejection(cancelled), CancelledError);
  const cancelledLater = new Future<string>();
  const waiting = rejection(cancelledLater);
  cancelledLater.cancel();
  assert.instance(await waiting, CancelledError);
});

test('then with both handlers, and catch', async () => {
  const f = new Future<number>();
  const chained = f.then((v) => v * 2, () => -1);
  f.setResult(21);
  assert.is(await chained, 42);
  const g = new Future<number>();
  const caught = g.catch((e) => `caught ${(e as Error).message}`);
  g.setException(new Error('boom'));
  assert.is(await caught, 'caught boom');
  const h = new Future<number>();
  h.setResult(5);
  assert.is(await h.catch(() => 0), 5);
  // then() twice shares one underlying Promise and both see the value.
  const k = new Future<number>();
  const both = Promise.all([k.then((v) => v), k.then((v) => v + 1)]);
  k.setResult(1);
  assert.equal(await both, [1, 2]);
});

test('a failed Future that nobody awaits raises no unhandled rejection', async () => {
  const f = new Future<void>();
  f.setException(new Error('ignored write failure'));
  const g = new Future<void>();
  g.then(undefined, () => {}); // awaited with a handler before failing
  g.setException(new Error('handled'));
  const h = new Future<void>();
  h.cancel();
  const k = new Future<void>();
  k.catch(() => {});
  k.setException(new Error('caught'));
  await delay(20);
  assert.equal(unhandled, []);
});

// Promises created (async_hooks counts each one, deterministically) while
// `awaitIt(x)` runs to its end, minus those of awaiting a native Promise:
// what `await` on a Future costs beyond a Promise.
async function promisesPerAwait(make: () => PromiseLike<unknown>, settle: (x: PromiseLike<unknown>) => void): Promise<number> {
  const awaitIt = async (x: PromiseLike<unknown>): Promise<void> => { await x; };
  let created = 0;
  const hook = createHook({ init(_id, type) { if (type === 'PROMISE') created++; } });
  const count = async (x: PromiseLike<unknown>, go: () => void): Promise<number> => {
    created = 0;
    hook.enable();
    try {
      const done = awaitIt(x);
      go();
      await done;
    } finally {
      hook.disable();
    }
    return created;
  };
  await count(Promise.resolve(1), () => {}); // the first run also counts the hook's own set-up
  const native = await count(Promise.resolve(1), () => {});
  const x = make();
  return (await count(x, () => settle(x))) - native;
}

test('await on a Future costs no Promise more than on a native one: the Future is the Promise V8 awaits', async () => {
  // Still pending at the await: settled on a later turn.
  assert.is(await promisesPerAwait(() => new Future<number>(), (f) => setImmediate(() => (f as Future<number>).setResult(1))), 0);
  // Settled right after the await.
  assert.is(await promisesPerAwait(() => new Future<number>(), (f) => (f as Future<number>).setResult(1)), 0);
  // Already done.
  const done = (): Future<number> => { const f = new Future<number>(); f.setResult(1); return f; };
  assert.is(await promisesPerAwait(done, () => {}), 0);
  const doneVoid = (): Future<void> => { const f = new Future<void>(); f.setResult(); return f; };
  assert.is(await promisesPerAwait(doneVoid, () => {}), 0);
  // then() on it gives each caller its own derived Promise.
  const a = doneVoid();
  const b = doneVoid();
  const [pa, pb] = [a.then(() => 'a'), b.then(() => 'b')];
  assert.is.not(pa, pb);
  assert.equal(await Promise.all([pa, pb]), ['a', 'b']);
  // The same for one that fails, and nothing goes unhandled.
  const failed = new Future<number>();
  const caught = (async () => { try { await failed; } catch (error) { return error; } return null; })();
  failed.setException(new Error('boom'));
  assert.is(((await caught) as Error).message, 'boom');
});

test('then() and await adopt a thenable result before a callback sees it, as a native Promise does; a Buffer result is passed as it is', async () => {
  const ofPromise = new Future<Promise<number>>();
  ofPromise.setResult(Promise.resolve(5));
  // The callback sees the number itself (returning a thenable would be adopted anyway, so look at it).
  assert.is(await ofPromise.then((value) => typeof value), 'number');
  assert.is(await (ofPromise as PromiseLike<unknown>), 5);
  const inner = new Future<number>();
  const ofFuture = new Future<Future<number>>();
  const seen = ofFuture.then((value) => [typeof value, value]);
  ofFuture.setResult(inner);
  inner.setResult(6);
  assert.equal(await seen, ['number', 6]);
  // Done before then() is called: the same.
  assert.is(await ofFuture.then((value) => typeof value), 'number');
  const failing = new Future<Promise<number>>();
  failing.setResult(Promise.reject(new Error('inner')));
  assert.is(await failing.then(() => 'fulfilled', (error) => (error as Error).message), 'inner');
  const bytes = Buffer.from('abc');
  const ofBytes = new Future<Buffer>();
  const got = ofBytes.then((value) => value);
  ofBytes.setResult(bytes);
  assert.is(await got, bytes);
});

test('isFuture recognises Futures (also from another module copy), and nothing else', () => {
  assert.ok(isFuture(new Future()));
  assert.not.ok(isFuture(Promise.resolve(1)));
  assert.not.ok(isFuture({ then() {} }));
  assert.not.ok(isFuture(null));
  assert.not.ok(isFuture(undefined));
  assert.not.ok(isFuture(42));
  assert.ok(isFuture({ [Symbol.for('gale.Future')]: true }));
  assert.is(String(new Future()), '[object Future]');
});

test('isThenable', () => {
  assert.ok(isThenable(Promise.resolve()));
  assert.ok(isThenable(new Future()));
  assert.ok(isThenable({ then() {} }));
  const fn = Object.assign(() => {}, { then() {} });
  assert.ok(isThenable(fn));
  assert.not.ok(isThenable({ then: 1 }));
  assert.not.ok(isThenable(null));
  assert.not.ok(isThenable('then'));
});

test('futureSetResultUnlessCancelled / futureSetExceptionUnlessCancelled', () => {
  const f = new Future<number>();
  futureSetResultUnlessCancelled(f, 1);
  assert.is(f.result(), 1);
  const g = new Future<number>();
  g.cancel();
  futureSetResultUnlessCancelled(g, 1); // no InvalidStateError
  futureSetExceptionUnlessCancelled(g, new Error('x'));
  assert.ok(g.cancelled());
  const h = new Future<number>();
  const error = new Error('e');
  futureSetExceptionUnlessCancelled(h, error);
  assert.is(h.exception(), error);
});

test('chainFuture from a Future: result, exception and cancellation pass along', () => {
  const a = new Future<number>();
  const b = new Future<number>();
  chainFuture(a, b);
  a.setResult(3);
  assert.is(b.result(), 3);
  const c = new Future<number>();
  const d = new Future<number>();
  chainFuture(c, d);
  const error = new Error('chained');
  c.setException(error);
  assert.is(d.exception(), error);
  const e = new Future<number>();
  const f = new Future<number>();
  chainFuture(e, f);
  e.cancel();
  assert.ok(f.cancelled());
});

test('chainFuture leaves a target that is already done alone', () => {
  const a = new Future<number>();
  const b = new Future<number>();
  chainFuture(a, b);
  b.cancel();
  a.setResult(1); // would throw InvalidStateError if it set b
  assert.ok(b.cancelled());
  const c = new Future<number>();
  const d = new Future<number>();
  chainFuture(c, d);
  d.setException(new TimeoutError('Timeout'));
  c.setException(new Error('late'));
  assert.instance(d.exception(), TimeoutError);
});

test('chainFuture from a Promise', async () => {
  const b = new Future<string>();
  chainFuture(Promise.resolve('p'), b);
  assert.is(await b, 'p');
  const d = new Future<string>();
  const error = new Error('rejected');
  chainFuture(Promise.reject(error), d);
  assert.is(await rejection(d), error);
  const e = new Future<string>();
  chainFuture(new Promise<string>((resolve) => setImmediate(() => resolve('late'))), e);
  e.cancel();
  await delay(5);
  assert.ok(e.cancelled());
});

test('toFuture wraps values and thenables, and passes Futures through', async () => {
  const f = new Future<number>();
  assert.is(toFuture(f), f);
  const v = toFuture(5);
  assert.ok(v.done());
  assert.is(v.result(), 5);
  const p = toFuture(Promise.resolve('x'));
  assert.not.ok(p.done());
  assert.is(await p, 'x');
});

test('error classes carry their names', () => {
  assert.is(new CancelledError().name, 'CancelledError');
  assert.is(new CancelledError().message, 'Future was cancelled');
  assert.is(new TimeoutError('t').name, 'TimeoutError');
  assert.is(new InvalidStateError('s').name, 'InvalidStateError');
  assert.instance(new TimeoutError('t'), Error);
});

test('no unhandled rejections, no fds leaked', async () => {
  await delay(20);
  assert.equal(unhandled, []);
  checkFds();
});

test.run();
