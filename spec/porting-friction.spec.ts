/**
 * What porting a real Tornado 4.x library (the Redis client tornadis, line
 * for line) needed from gale beyond the ported modules, each a regression
 * test of the fix:
 * - `coroutine(fn)` returns a gale Future (Tornado's `@gen.coroutine`),
 *   `maybeFuture(x)` / `toFuture(x)` make one of anything;
 * - `await future` goes through `result()`, as Tornado's `yield future`
 *   does, so a Future subclass overriding `result()` (tornadis's
 *   `ContextManagerFuture`) is honoured;
 * - `removeHandler` of something never registered (even null) is a debug
 *   log, as in Tornado, not a throw;
 * - `errno` names and `errnoFromException(e)`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constants } from 'node:os';
import { readFileSync } from 'node:fs';
import * as gale from '../index.js';
import { Future, isFuture, toFuture } from '../reactor/future.js';
import { coroutine, maybeFuture, sleep } from '../reactor/gen.js';
import { IOLoop } from '../reactor/ioloop.js';
import { OSError } from '../reactor/sys/errors.js';
import { errno, errnoFromException } from '../reactor/errno.js';
import { Socket } from '../reactor/sys/socket.js';
import { captureLogs, fdLeakCheck, inLoop, rejection, thrown } from './helpers.js';

const checkFds = fdLeakCheck();

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => { unhandled.push(reason); });

test('coroutine(fn) returns a gale Future that settles with the async function', () => inLoop(async () => {
  const add = coroutine(async (a: number, b: number) => {
    await sleep(0.001);
    return a + b;
  });
  const future = add(2, 3);
  assert.ok(isFuture(future));
  assert.not.ok(future.done());
  const seen: number[] = [];
  future.addDoneCallback((f) => seen.push(f.result()));
  assert.is(await future, 5);
  assert.equal(seen, [5]);
  assert.is(add.name, '');
  async function named(): Promise<number> { return 1; }
  assert.is(coroutine(named).name, 'named');
}));

test('coroutine: a synchronous throw or a rejection becomes the Future exception, never an unhandled rejection', () => inLoop(async () => {
  const syncThrow = coroutine((): number => { throw new RangeError('sync'); });
  const f1 = syncThrow();
  assert.ok(f1.done());
  assert.instance(f1.exception(), RangeError);
  const asyncThrow = coroutine(async (): Promise<number> => { throw new RangeError('async'); });
  const f2 = asyncThrow();
  assert.instance(await rejection(f2), RangeError);
  assert.instance(f2.exception(), RangeError);
  asyncThrow(); // never awaited
  await sleep(0.001);
  assert.equal(unhandled, []);
}));

test('coroutine: a plain result is done at once, a returned Future is passed through, `this` is kept', () => inLoop(() => {
  const plain = coroutine(() => 7);
  const f = plain();
  assert.ok(f.done());
  assert.is(f.result(), 7);
  const inner = new Future<string>();
  assert.is(coroutine(() => inner)(), inner);
  class Client {
    prefix = 'x:';
    get = coroutine(async function (this: Client, key: string) { return this.prefix + key; });
  }
  return new Client().get('k').then((value) => assert.is(value, 'x:k'));
}));

test('coroutine refuses a non-function with a TypeError naming it', () => {
  const error = thrown(() => coroutine(42 as any));
  assert.instance(error, TypeError);
  assert.match(error.message, /fn/);
});

test('maybeFuture and toFuture: a Future as it is, a Promise followed, a value done at once', async () => {
  const f = new Future<number>();
  assert.is(maybeFuture(f), f);
  assert.is(toFuture(f), f);
  const fromValue = maybeFuture(3);
  assert.ok(fromValue.done());
  assert.is(fromValue.result(), 3);
  const fromPromise = maybeFuture(Promise.resolve('p'));
  assert.not.ok(fromPromise.done());
  assert.is(await fromPromise, 'p');
  assert.ok(fromPromise.done());
  const failed = toFuture(Promise.reject(new RangeError('no')));
  assert.instance(await rejection(failed), RangeError);
});

/** tornadis's ContextManagerFuture: result() hands out a context manager around the wrapped result. */
class ContextManagerFuture<T> extends Future<any> {
  constructor(private readonly wrapped: Future<T>, private readonly exitCallback: () => void) {
    super();
    wrapped.addDoneCallback((w) => {
      if (w.exception()) this.setException(w.exception());
      else this.setResult(w.result());
    });
  }

  override result(): { value: T } & Disposable {
    const error = this.exception();
    if (error) throw error;
    // Otherwise return a context manager that cleans up after the block.
    const { wrapped, exitCallback } = this;
    return { value: wrapped.result(), [Symbol.dispose]: exitCallback };
  }
}

test('await goes through result(): a subclass overriding it is honoured, as yield is in Tornado', () => inLoop(async () => {
  let exits = 0;
  const wrapped = new Future<string>();
  const future = new ContextManagerFuture(wrapped, () => { exits++; });
  setTimeout(() => wrapped.setResult('conn'), 1);
  {
    using cm = await future;
    assert.is(cm.value, 'conn');
    assert.is(exits, 0);
  }
  assert.is(exits, 1);
  // Already done: the same.
  const again = await future;
  assert.is(again.value, 'conn');
  // Failure: result() raises, so await rejects with its error.
  const failing = new Future<string>();
  const failingCm = new ContextManagerFuture(failing, () => { exits++; });
  failing.setException(new RangeError('down'));
  assert.instance(await rejection(failingCm), RangeError);
  assert.is(exits, 1);
}));

test('await of a subclass whose result() throws for a successful Future rejects with that error', async () => {
  class Strict extends Future<number> {
    override result(): number {
      const value = super.result();
      if (value < 0) throw new RangeError(`negative ${value}`);
      return value;
    }
  }
  const f = new Strict();
  f.setResult(-1);
  assert.instance(await rejection(f), RangeError);
  assert.match(String(await f.catch((e) => (e as Error).message)), /negative -1/);
  const ok = new Strict();
  setTimeout(() => ok.setResult(2), 1);
  assert.is(await ok, 2);
  // Future's own result() keeps the direct path: the value itself, identical.
  const value = { big: true };
  const plain = new Future<object>();
  plain.setResult(value);
  assert.is(await plain, value);
});

test('removeHandler of an fd never registered, of null or undefined, logs "Error deleting fd from IOLoop" at debug', async () => {
  const { logs } = await captureLogs(() => inLoop((loop) => {
    const sock = new Socket();
    try {
      loop.removeHandler(null as any);
      loop.removeHandler(undefined as any);
      loop.removeHandler(sock.fileno());
      loop.removeHandler(sock);
      // The loop still works: the socket can be registered and removed.
      loop.addHandler(sock, () => {}, IOLoop.READ);
      loop.removeHandler(sock);
    } finally {
      sock.close();
    }
  }));
  const deleting = logs.filter(([, message]) => message.startsWith('Error deleting fd from IOLoop'));
  assert.is(deleting.length, 4, JSON.stringify(logs));
  assert.ok(deleting.every(([level]) => level === 'debug'));
  assert.is(logs.length, 4);
});

test("errno: Python's errno names, the platform's numbers", () => {
  assert.is(errno.EAGAIN, constants.errno.EAGAIN);
  assert.is(errno.ECONNREFUSED, constants.errno.ECONNREFUSED);
  assert.is(errno.EWOULDBLOCK, constants.errno.EWOULDBLOCK);
  assert.is(gale.errno, errno);
});

test('errnoFromException: OSError, Node system errors, a code alone; null for the rest', () => {
  // A real failure from gale: accept on a nonblocking listening socket with nothing pending.
  const listener = new Socket();
  try {
    listener.setBlocking(false);
    listener.bind(['127.0.0.1', 0]);
    listener.listen(1);
    const error = thrown(() => listener.accept());
    assert.instance(error, OSError);
    assert.ok([errno.EAGAIN, errno.EWOULDBLOCK].includes(errnoFromException(error)!));
  } finally {
    listener.close();
  }
  // Node's own errors carry a negative errno.
  const nodeError = thrown(() => readFileSync('/nonexistent/gale-errno-probe'));
  assert.is(errnoFromException(nodeError), errno.ENOENT);
  assert.is(errnoFromException({ code: 'ECONNRESET' }), errno.ECONNRESET);
  assert.is(errnoFromException(new OSError(errno.EPIPE, 'write')), errno.EPIPE);
  for (const other of [new Error('plain'), null, undefined, 'EAGAIN', 11, { code: 'NOPE' }]) {
    assert.is(errnoFromException(other), null);
  }
});

test('the package root exports the new names', () => {
  for (const name of ['Condition', 'Event', 'Semaphore', 'BoundedSemaphore', 'Lock', 'Queue', 'PriorityQueue',
    'LifoQueue', 'QueueEmpty', 'QueueFull', 'coroutine', 'maybeFuture', 'toFuture', 'errno', 'errnoFromException']) {
    assert.ok(name in gale, name);
  }
});

test('no fds leaked', () => {
  assert.equal(unhandled, []);
  checkFds();
});

test.run();
