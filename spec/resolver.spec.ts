/**
 * resolvers/: Tornado's netutil resolver tests (localhost, bad hosts, the
 * callback and Future forms) for every implementation, plus what gale adds:
 * literals that never leave the loop's thread, lookups in flight when a
 * resolver or its executor goes away, the loop staying responsive under a
 * burst of lookups, and a loop that never looks at libuv.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { PeriodicCallback } from '../reactor/periodic.js';
import { OSError } from '../reactor/sys/errors.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { dummyExecutor, type Executor, type Task } from '../reactor/executor.js';
import { ThreadPoolExecutor, defaultExecutor } from '../reactor/executor-pool.js';
import { AF_INET, AF_INET6, AF_UNSPEC } from '../reactor/sys/socket.js';
import {
  BlockingResolver, ExecutorResolver, OverrideResolver, Resolver, ResolverClosedError, ThreadedResolver,
  type Resolved,
} from '../resolvers/resolver.js';
import { GaiError, gaiStrerror } from '../reactor/sys/getaddrinfo.js';
import { resolve as resolveTask, unpackLookup } from '../resolvers/resolve-task.js';
import * as publicFace from '../resolvers/index.js';
import { captureLogs, fdLeakCheck, inLoop, rejection, stoppedPool, threadCount } from './helpers.js';

// Taken before any pool exists; every pool must be gone by the last test.
const checkFds = fdLeakCheck();
const threadsAtStart = threadCount();

function hasLocalhostV4(result: Resolved, port = 80): boolean {
  return result.some(([family, address]) => family === AF_INET && JSON.stringify(address) === JSON.stringify(['127.0.0.1', port]));
}

function assertGaiError(error: unknown): GaiError {
  assert.instance(error, GaiError, String(error));
  assert.instance(error, OSError);
  const gai = error as GaiError;
  assert.match(gai.code, /^EAI_/);
  assert.is(gai.name, 'GaiError');
  assert.is(gai.syscall, 'getaddrinfo');
  assert.ok(gai.message.includes(gaiStrerror(gai.errno)), gai.message);
  return gai;
}

/** An executor that runs tasks on this thread and counts what it was given. */
function spyExecutor(): Executor & { tasks: Task[]; shutdowns: number } {
  const spy = {
    tasks: [] as Task[],
    shutdowns: 0,
    submit<T>(task: Task, ...args: any[]): Future<T> {
      spy.tasks.push(task);
      return dummyExecutor.submit<T>(task, ...args);
    },
    shutdown(): void { spy.shutdowns++; },
  };
  return spy;
}

// ------------------------------------------------------------ the shared pool (first: it sets the size)

test('ThreadedResolvers share one pool, sized by the first one created', async () => {
  const first = new ThreadedResolver({ numThreads: 3 });
  const second = new ThreadedResolver({ numThreads: 8 });
  assert.instance(first.executor, ThreadPoolExecutor);
  assert.is(first.executor, second.executor);
  assert.is((first.executor as ThreadPoolExecutor).maxWorkers, 3);
  assert.is(ThreadedResolver.createThreadpool(5), first.executor);
  // Closing a ThreadedResolver leaves the shared pool alone.
  first.close();
  assert.ok(hasLocalhostV4((await inLoop(() => second.resolve('localhost', 80)))!));
  second.close();
});

// ------------------------------------------------------------ Tornado's resolver tests, per implementation

const implementations: Array<[string, () => Resolver]> = [
  ['BlockingResolver', () => new BlockingResolver()],
  ['ThreadedResolver', () => new ThreadedResolver()],
  ['ExecutorResolver on the default executor', () => new ExecutorResolver()],
  ['ExecutorResolver on its own pool', () => new ExecutorResolver({ executor: new ThreadPoolExecutor({ maxWorkers: 2 }) })],
  ['ExecutorResolver on dummyExecutor', () => new ExecutorResolver({ executor: dummyExecutor })],
  ['OverrideResolver with no overrides', () => new OverrideResolver({ resolver: new ThreadedResolver(), mapping: {} })],
];

for (const [label, make] of implementations) {
  test(`${label}: localhost (callback form)`, async () => {
    const resolver = make();
    const result = await inLoop(() => {
      const done = new Future<Resolved>();
      assert.is(resolver.resolve('localhost', 80, AF_UNSPEC, (r) => done.setResult(r)), null);
      return done;
    });
    assert.ok(hasLocalhostV4(result), JSON.stringify(result));
    resolver.close();
  });

  test(`${label}: localhost (Future form)`, async () => {
    const resolver = make();
    const result = await inLoop(() => resolver.resolve('localhost', 80, AF_UNSPEC));
    assert.ok(hasLocalhostV4(result!), JSON.stringify(result));
    const v4only = await inLoop(() => resolver.resolve('localhost', 8080, AF_INET));
    assert.ok(v4only!.every(([family]) => family === AF_INET));
    assert.ok(hasLocalhostV4(v4only!, 8080));
    resolver.close();
  });

  test(`${label}: a bad host rejects with GaiError`, async () => {
    const resolver = make();
    await inLoop(async () => {
      assertGaiError(await rejection(resolver.resolve('an invalid domain', 80)));
      const gai = assertGaiError(await rejection(resolver.resolve('nonexistent.invalid', 80, AF_UNSPEC)));
      assert.ok(['EAI_NONAME', 'EAI_NODATA', 'EAI_AGAIN', 'EAI_FAIL'].includes(gai.code), gai.code);
    });
    resolver.close();
  });
}

test('the callback form sends a failure to the loop\'s exception log', async () => {
  const resolver = new ThreadedResolver();
  const { logs } = await captureLogs(() => inLoop(async () => {
    const loop = IOLoop.current()!;
    const reported = new Future<unknown>();
    const original = loop.handleCallbackException.bind(loop);
    loop.handleCallbackException = (error) => {
      original(error);
      if (!reported.done()) reported.setResult(error);
    };
    let called = false;
    assert.is(resolver.resolve('an invalid domain', 80, AF_UNSPEC, () => { called = true; }), null);
    assertGaiError(await reported);
    assert.not.ok(called);
  }));
  assert.ok(logs.some(([level, text]) => level === 'error' && text.includes('Exception in callback') && text.includes('GaiError')),
    JSON.stringify(logs));
  resolver.close();
});

test('IPv6 literals come back as [host, port, flowinfo, scopeId]; a v4 literal has no v6 answer', async () => {
  const resolver = new ThreadedResolver();
  await inLoop(async () => {
    assert.equal(await resolver.resolve('::1', 443), [[AF_INET6, ['::1', 443, 0, 0]]]);
    const v6 = await rejection(resolver.resolve('127.0.0.1', 80, AF_INET6));
    assertGaiError(v6);
  });
  resolver.close();
});

// ------------------------------------------------------------ literals stay on the loop's thread

test('literal addresses never reach the executor', async () => {
  const spy = spyExecutor();
  const resolver = new ExecutorResolver({ executor: spy, closeExecutor: false });
  await inLoop(async () => {
    const before = ffiCounter.calls;
    const plain = [resolver.resolve('127.0.0.1', 80)!, resolver.resolve('::1', 80, AF_INET6)!, resolver.resolve('0:0:0:0:0:0:0:1', 81)!];
    assert.is(ffiCounter.calls, before, 'plain literals cost no FFI call');
    assert.ok(plain.every((future) => future.done()), 'and are answered at once');
    assert.equal(plain.map((future) => future.result()),
      [[[AF_INET, ['127.0.0.1', 80]]], [[AF_INET6, ['::1', 80, 0, 0]]], [[AF_INET6, ['::1', 81, 0, 0]]]]);
    // A literal of the other family, and a scoped one, go to getaddrinfo here, numerically.
    assertGaiError(await rejection(resolver.resolve('::1', 80, AF_INET)));
    assertGaiError(await rejection(resolver.resolve('10.0.0.1', 80, AF_INET6)));
    const scoped = await resolver.resolve('fe80::1%1', 80);
    assert.equal(scoped, [[AF_INET6, ['fe80::1', 80, 0, 1]]]);
    assert.is(spy.tasks.length, 0);
    // A name does go to the executor.
    assert.ok(hasLocalhostV4((await resolver.resolve('localhost', 80))!));
    assert.is(spy.tasks.length, 1);
  });
  resolver.close();
  assert.is(spy.shutdowns, 0, 'closeExecutor: false');
});

test('bad arguments reject (never throw); a closed resolver rejects with ResolverClosedError', async () => {
  const resolver = new BlockingResolver();
  await inLoop(async () => {
    assert.instance(await rejection(resolver.resolve(42 as unknown as string, 80)), TypeError);
    assert.instance(await rejection(resolver.resolve('localhost', 70000)), RangeError);
    assert.instance(await rejection(resolver.resolve('localhost', 1.5)), RangeError); // a wrong value, not type
    assert.instance(await rejection(resolver.resolve('localhost', '80' as never)), TypeError);
    assert.instance(await rejection(resolver.resolve('localhost', 80, 'inet' as unknown as number)), TypeError);
    resolver.close();
    assert.ok(resolver.closed);
    const closed = await rejection(resolver.resolve('localhost', 80));
    assert.instance(closed, ResolverClosedError);
    assert.is(closed.name, 'ResolverClosedError');
    assert.match(closed.message, /BlockingResolver is closed/);
  });
});

test('BlockingResolver answers on this thread: its Future is already settled', async () => {
  const resolver = new BlockingResolver();
  await inLoop(() => {
    const future = resolver.resolve('localhost', 80)!;
    assert.ok(future.done());
    assert.ok(hasLocalhostV4(future.result()));
  });
});

// ------------------------------------------------------------ OverrideResolver

test('OverrideResolver: host and host:port keys, host and [host, port] values', async () => {
  const spy = spyExecutor();
  const inner = new ExecutorResolver({ executor: spy });
  const resolver = new OverrideResolver({
    resolver: inner,
    mapping: {
      'google.com': '1.2.3.4',
      'google.com:443': ['127.0.0.1', 8443],
      'alias.test': 'localhost',
      '[::1]:80': ['127.0.0.2', 81],
      'db.test:5432': 'localhost',
    },
  });
  await inLoop(async () => {
    assert.equal(await resolver.resolve('google.com', 80), [[AF_INET, ['1.2.3.4', 80]]]);
    assert.equal(await resolver.resolve('google.com', 443), [[AF_INET, ['127.0.0.1', 8443]]]);
    assert.equal(await resolver.resolve('::1', 80), [[AF_INET, ['127.0.0.2', 81]]]);
    assert.equal(await resolver.resolve('::1', 81), [[AF_INET6, ['::1', 81, 0, 0]]]);
    assert.ok(hasLocalhostV4((await resolver.resolve('alias.test', 80))!));
    assert.ok(hasLocalhostV4((await resolver.resolve('db.test', 5432))!, 5432));
    assertGaiError(await rejection(resolver.resolve('db.test', 5433)));
    assert.ok(hasLocalhostV4((await resolver.resolve('localhost', 80))!), 'names not in the mapping pass through');
    // The callback form works through the wrapper too.
    const viaCallback = new Future<Resolved>();
    assert.is(resolver.resolve('google.com', 80, AF_UNSPEC, (r) => viaCallback.setResult(r)), null);
    assert.equal(await viaCallback, [[AF_INET, ['1.2.3.4', 80]]]);
  });
  resolver.close();
  assert.ok(inner.closed, 'closing the wrapper closes the wrapped resolver');
  assert.is(spy.shutdowns, 1, 'and the wrapped resolver\'s executor, which it owns');
  assert.throws(() => new OverrideResolver({ resolver: {} as Resolver, mapping: {} }), TypeError);
  assert.throws(() => new OverrideResolver({ resolver: inner, mapping: null as never }), TypeError);
});

// ------------------------------------------------------------ Resolver.configure / create

test('Resolver.configure / configuredClass / create (Tornado\'s Configurable)', () => {
  try {
    assert.is(Resolver.configuredClass(), ThreadedResolver, 'gale\'s default is non-blocking');
    assert.instance(Resolver.create(), ThreadedResolver);

    Resolver.configure(BlockingResolver);
    assert.is(Resolver.configuredClass(), BlockingResolver);
    assert.instance(Resolver.create(), BlockingResolver);

    // Configured options go to instances made through Resolver, merged under create's own.
    const spy = spyExecutor();
    Resolver.configure(ExecutorResolver, { executor: spy, closeExecutor: false });
    const configured = Resolver.create() as ExecutorResolver;
    assert.instance(configured, ExecutorResolver);
    assert.is(configured.executor, spy);
    configured.close();
    assert.is(spy.shutdowns, 0);
    const overridden = Resolver.create({ closeExecutor: true }) as ExecutorResolver;
    overridden.close();
    assert.is(spy.shutdowns, 1);

    // Called on a subclass, create makes that subclass and ignores the configured options.
    const own = ExecutorResolver.create() as ExecutorResolver;
    assert.instance(own, ExecutorResolver);
    assert.is(own.executor, null);
    assert.instance(BlockingResolver.create(), BlockingResolver);

    assert.throws(() => Resolver.configure(Object as never), /Invalid subclass of Resolver/);
    assert.throws(() => Resolver.configure(Resolver as never), TypeError);
    assert.throws(() => Resolver.configure('ThreadedResolver' as never), TypeError);
  } finally {
    Resolver.configure(null);
  }
  assert.is(Resolver.configuredClass(), ThreadedResolver);
});

test('the folder\'s public face exports the resolver names', () => {
  for (const name of ['Resolver', 'BlockingResolver', 'ExecutorResolver', 'ThreadedResolver', 'OverrideResolver', 'GaiError', 'ResolverClosedError']) {
    assert.ok(name in publicFace, name);
  }
  assert.is(publicFace.Resolver, Resolver);
});

test('the worker-side task returns failures as fields, rebuilt on the loop side', () => {
  const ok = resolveTask('localhost', 80, AF_INET);
  assert.ok(ok.ok);
  assert.ok(hasLocalhostV4(unpackLookup(ok)));
  const failed = resolveTask('an invalid domain', 80, AF_UNSPEC);
  assert.not.ok(failed.ok);
  const clone = structuredClone(failed);
  const rebuilt = (() => { try { unpackLookup(clone); } catch (error) { return error; } return null; })();
  const gai = assertGaiError(rebuilt);
  assert.is(gai.hostname, 'an invalid domain');
  const os = (() => {
    try {
      unpackLookup({ ok: false, failure: { kind: 'os', errno: 24, code: 'EMFILE', message: 'too many', syscall: 'getaddrinfo' } });
    } catch (error) { return error; }
    return null;
  })() as OSError;
  assert.instance(os, OSError);
  assert.not.instance(os, GaiError);
  assert.is(os.code, 'EMFILE');
  assert.throws(() => resolveTask('localhost', -1, AF_UNSPEC), RangeError);
});

// ------------------------------------------------------------ in flight when things go away

test('closing a resolver with lookups in flight rejects them and drops the late answers', async () => {
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 });
  const resolver = new ExecutorResolver({ executor: pool });
  await inLoop(async () => {
    // One lookup goes to the worker at once; the other two wait in the queue.
    const lookups = ['localhost', 'localhost', 'an invalid domain'].map((host) => resolver.resolve(host, 80)!);
    assert.is(resolver.pending, 3);
    resolver.close();
    assert.is(resolver.pending, 0, 'nothing is left pending');
    for (const lookup of lookups) {
      assert.ok(lookup.done());
      const error = await rejection(lookup);
      assert.instance(error, ResolverClosedError);
      assert.match(error.message, /ExecutorResolver was closed while a lookup was in flight/);
    }
    assert.instance(await rejection(resolver.resolve('localhost', 80)), ResolverClosedError);
    // The pool (which the resolver owned) finishes the running task and stops.
    await pool.shutdown();
  });
  assert.is(pool.liveWorkers, 0);
  resolver.close(); // again: harmless
});

test('closing a resolver on the shared default executor leaves the executor running', async () => {
  const resolver = new ExecutorResolver();
  const other = new ExecutorResolver();
  await inLoop(async () => {
    const lookup = resolver.resolve('localhost', 80)!;
    resolver.close();
    assert.instance(await rejection(lookup), ResolverClosedError);
    assert.ok(hasLocalhostV4((await other.resolve('localhost', 80))!));
  });
  other.close();
});

test('an executor shut down (without waiting) under its lookups rejects them', async () => {
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 });
  const resolver = new ExecutorResolver({ executor: pool, closeExecutor: false });
  await inLoop(async () => {
    const lookups = [1, 2, 3].map((port) => resolver.resolve('localhost', port)!);
    pool.shutdown(false);
    for (const lookup of lookups) assert.match((await rejection(lookup)).message, /executor was shut down before resolve-task\.js#resolve finished/);
    assert.is(resolver.pending, 0);
    // A lookup after that fails cleanly too.
    assert.match((await rejection(resolver.resolve('localhost', 80))).message, /cannot schedule new futures after shutdown/);
  });
  await stoppedPool(pool, false);
  resolver.close();
});

test('cancelling a lookup cancels its task', async () => {
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 });
  const resolver = new ExecutorResolver({ executor: pool });
  await inLoop(async () => {
    const first = resolver.resolve('localhost', 1)!;
    const second = resolver.resolve('localhost', 2)!;
    assert.ok(second.cancel());
    assert.is(resolver.pending, 1);
    assert.ok(hasLocalhostV4(await first, 1));
    assert.ok(hasLocalhostV4((await resolver.resolve('localhost', 3))!, 3));
  });
  resolver.close();
  await stoppedPool(pool);
});

test('an executor that cancels a lookup\'s task rejects the lookup', async () => {
  const cancelling: Executor = {
    submit<T>(): Future<T> {
      const future = new Future<T>();
      setImmediate(() => future.cancel());
      return future;
    },
    shutdown() {},
  };
  const resolver = new ExecutorResolver({ executor: cancelling });
  await inLoop(async () => {
    assert.match((await rejection(resolver.resolve('localhost', 80))).message, /the lookup of localhost was cancelled by its executor/);
  });
  resolver.close();
});

// ------------------------------------------------------------ the loop stays free

test('100 lookups in parallel on the threaded resolver: a PeriodicCallback keeps ticking', async () => {
  const resolver = new ThreadedResolver();
  const periodMs = 10;
  const { ticks, elapsed, lookups, failures } = await inLoop(async () => {
    const loop = IOLoop.current()!;
    let ticks = 0;
    const periodic = new PeriodicCallback(() => { ticks++; }, periodMs);
    periodic.start();
    const started = loop.time();
    let lookups = 0;
    let failures = 0;
    // Batches of 100 until a few dozen periods have gone by.
    while (lookups < 100 || loop.time() - started < 0.3) {
      const batch = Array.from({ length: 100 }, (_, i) => resolver.resolve(i % 10 === 9 ? 'an invalid domain' : 'localhost', 1000 + i)!);
      const settled = await Promise.allSettled(batch);
      for (const [i, outcome] of settled.entries()) {
        if (i % 10 === 9) assert.is(outcome.status, 'rejected');
        else assert.ok(outcome.status === 'fulfilled' && hasLocalhostV4(outcome.value, 1000 + i));
        if (outcome.status === 'rejected') failures++;
      }
      lookups += 100;
    }
    periodic.stop();
    return { ticks, elapsed: loop.time() - started, lookups, failures };
  });
  const expected = Math.floor(elapsed / (periodMs / 1000));
  assert.ok(lookups >= 100);
  assert.is(failures, lookups / 10);
  assert.ok(ticks >= Math.floor(expected * 0.4), `${ticks} ticks over ${lookups} lookups, ${expected} periods`);
  resolver.close();
});

test('threaded lookups complete on a loop that never looks at libuv (nodeInterop: false)', async () => {
  const resolver = new ThreadedResolver();
  await inLoop(async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => resolver.resolve('localhost', 2000 + i)!));
    assert.ok(results.every((result, i) => hasLocalhostV4(result, 2000 + i)));
    assertGaiError(await rejection(resolver.resolve('an invalid domain', 80)));
    const viaCallback = new Future<Resolved>();
    resolver.resolve('localhost', 80, AF_UNSPEC, (r) => viaCallback.setResult(r));
    assert.ok(hasLocalhostV4(await viaCallback));
  }, { nodeInterop: false });
  resolver.close();
});

// ------------------------------------------------------------ leaks (last)

test('a shut-down shared pool is replaced for the next ThreadedResolver; no fds or workers leak', async () => {
  const shared = new ThreadedResolver().executor as ThreadPoolExecutor;
  await stoppedPool(shared);
  const next = new ThreadedResolver();
  assert.is.not(next.executor, shared);
  assert.ok(hasLocalhostV4((await inLoop(() => next.resolve('localhost', 80)))!));
  next.close();
  await stoppedPool(next.executor as ThreadPoolExecutor);
  await stoppedPool(defaultExecutor());
  checkFds();
  assert.ok(threadCount() <= threadsAtStart, `${threadCount()} threads now, ${threadsAtStart} at start`);
});

test.run();
