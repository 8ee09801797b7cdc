/**
 * Tornado 4.4's tornado/test/ioloop_test.py, ported call for call.
 *
 * Left out, with the reason:
 * - TestIOLoop.test_add_callback_wakeup_other_thread,
 *   test_add_callback_from_signal_other_thread, test_add_callback_while_closing:
 *   they call one IOLoop object from another thread. JavaScript threads
 *   share no objects; a worker reaches a loop only through its waker fd
 *   (as ThreadPoolExecutor does, see executor.spec.ts).
 * - TestIOLoopAddCallback (test_pre_wrap, test_pre_wrap_with_args) and
 *   TestIOLoopAddCallbackFromSignal (the same two): stack_context.
 * - TestIOLoopFutures.test_add_future_stack_context: stack_context.
 * - TestPeriodicCallback (test_basic, test_overrun): they need
 *   FakeTimeIOLoop, a PollIOLoop subclass with its own select() and clock
 *   (PollIOLoop(impl=…, time_func=…)); gale's IOLoop takes neither, and
 *   patching its private poller would be mocking internals.
 *   periodic.spec.ts tests the same schedule on the real clock.
 *
 * Ported with a change, each marked where it happens:
 * - test_add_callback_wakeup: the wall-clock assertion (woke within 10 ms)
 *   is dropped (the suite never asserts timing); the wake-up itself is checked.
 * - test_spawn_callback: the first half (an add_callback exception re-raised
 *   by wait() through stack_context) has no gale counterpart; the spawned
 *   half is ported.
 * - TestIOLoopRunSync.test_sync_result: gale's runSync accepts a plain
 *   value (documented difference); Tornado raises BadYieldError.
 */
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { Future, TimeoutError } from '../reactor/future.js';
import { appLog } from '../reactor/log.js';
import { defineTask } from '../reactor/executor.js';
import { ThreadPoolExecutor } from '../reactor/executor-pool.js';
import { Socket, socketpair } from '../reactor/sys/socket.js';
import { AsyncTestCase, ExpectLog, bindUnusedPort, finishSuite, testCase } from './tornado-testing.js';

class ZeroDivisionError extends Error {}
const divideByZero = (): never => { throw new ZeroDivisionError('division by zero'); };

/** Python's time.sleep: blocks the thread. */
function blockingSleep(seconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000);
}

/** Tornado's gen.Task(func, *args): calls func(...args, callback) and returns a Future of what the callback gets. */
function genTask<T = void>(func: (...args: any[]) => unknown, ...args: unknown[]): Future<T> {
  const future = new Future<T>();
  func(...args, (value: T) => future.setResult(value));
  return future;
}

const t = testCase('TestIOLoop', () => new AsyncTestCase());

t('test_add_callback_wakeup', async (self) => {
  // Make sure that add_callback from inside a running IOLoop
  // wakes up the IOLoop immediately instead of waiting for a timeout.
  let called = false;
  const callback = (): void => {
    called = true;
    self.stop();
  };
  const scheduleCallback = (): void => {
    called = false;
    self.ioLoop.addCallback(callback);
  };
  self.ioLoop.addTimeout(self.ioLoop.time(), scheduleCallback);
  await self.wait();
  // (Tornado also asserts the wake-up took < 10 ms; no timing assertions here.)
  assert.ok(called);
});

t('test_add_timeout_timedelta', async (self) => {
  self.ioLoop.addTimeout({ seconds: 1e-6 }, self.stop);
  await self.wait();
});

t('test_multiple_add', (self) => {
  const [sock] = bindUnusedPort();
  try {
    self.ioLoop.addHandler(sock.fileno(), () => {}, IOLoop.READ);
    // Attempting to add the same handler twice fails
    // (with a platform-dependent exception)
    assert.throws(() => self.ioLoop.addHandler(sock.fileno(), () => {}, IOLoop.READ));
  } finally {
    self.ioLoop.removeHandler(sock.fileno());
    sock.close();
  }
});

t('test_remove_without_add', (self) => {
  // remove_handler should not throw an exception if called on an fd
  // was never added.
  const [sock] = bindUnusedPort();
  try {
    self.ioLoop.removeHandler(sock.fileno());
  } finally {
    sock.close();
  }
});

t('test_add_callback_from_signal', async (self) => {
  // cheat a little bit and just run this normally, since we can't
  // easily simulate the races that happen with real signal handlers
  self.ioLoop.addCallbackFromSignal(self.stop);
  await self.wait();
});

t('test_handle_callback_exception', async (self) => {
  // IOLoop.handle_callback_exception can be overridden to catch
  // exceptions in callbacks.
  self.ioLoop.handleCallbackException = (error: unknown): void => {
    assert.instance(error, ZeroDivisionError);
    self.stop();
  };
  self.ioLoop.addCallback(divideByZero);
  await self.wait();
});

t('test_read_while_writeable', async (self) => {
  // Ensure that write events don't come in while we're waiting for
  // a read and haven't asked for writeability. (the reverse is
  // difficult to test for)
  const [client, server] = socketpair();
  try {
    const handler = self.guard((_fd: number, events: number) => {
      assert.is(events, IOLoop.READ);
      self.stop();
    });
    self.ioLoop.addHandler(client.fileno(), handler, IOLoop.READ);
    self.ioLoop.addTimeout(self.ioLoop.time() + 0.01, () => server.send('asdf'));
    await self.wait();
    self.ioLoop.removeHandler(client.fileno());
  } finally {
    client.close();
    server.close();
  }
});

t('test_remove_timeout_after_fire', async (self) => {
  // It is not an error to call remove_timeout after it has run.
  const handle = self.ioLoop.addTimeout(self.ioLoop.time(), self.stop);
  await self.wait();
  self.ioLoop.removeTimeout(handle);
});

t('test_remove_timeout_cleanup', async (self) => {
  // Add and remove enough callbacks to trigger cleanup.
  for (let i = 0; i < 2000; i++) {
    const timeout = self.ioLoop.addTimeout(self.ioLoop.time() + 3600, () => {});
    self.ioLoop.removeTimeout(timeout);
  }
  // HACK: wait two IOLoop iterations for the GC to happen.
  self.ioLoop.addCallback(() => self.ioLoop.addCallback(self.stop));
  await self.wait();
});

t('test_remove_timeout_from_timeout', async (self) => {
  const calls = [false, false];
  // Schedule several callbacks and wait for them all to come due at once.
  // t2 should be cancelled by t1, even though it is already scheduled to
  // be run before the ioloop even looks at it.
  const now = self.ioLoop.time();
  const t1 = (): void => {
    calls[0] = true;
    self.ioLoop.removeTimeout(t2Handle);
  };
  self.ioLoop.addTimeout(now + 0.01, t1);
  const t2 = (): void => {
    calls[1] = true;
  };
  const t2Handle = self.ioLoop.addTimeout(now + 0.02, t2);
  self.ioLoop.addTimeout(now + 0.03, self.stop);
  blockingSleep(0.03);
  await self.wait();
  assert.equal(calls, [true, false]);
});

t('test_timeout_with_arguments', async (self) => {
  // This tests that all the timeout methods pass through *args correctly.
  const results: number[] = [];
  const append = (x: number): void => { results.push(x); };
  self.ioLoop.addTimeout(self.ioLoop.time(), append, 1);
  self.ioLoop.addTimeout({ seconds: 0 }, append, 2);
  self.ioLoop.callAt(self.ioLoop.time(), append, 3);
  self.ioLoop.callLater(0, append, 4);
  self.ioLoop.callLater(0, self.stop);
  await self.wait();
  assert.equal(results, [1, 2, 3, 4]);
});

t('test_add_timeout_return', (self) => {
  // All the timeout methods return non-None handles that can be
  // passed to remove_timeout.
  const handle = self.ioLoop.addTimeout(self.ioLoop.time(), () => {});
  assert.ok(handle != null);
  self.ioLoop.removeTimeout(handle);
});

t('test_call_at_return', (self) => {
  const handle = self.ioLoop.callAt(self.ioLoop.time(), () => {});
  assert.ok(handle != null);
  self.ioLoop.removeTimeout(handle);
});

t('test_call_later_return', (self) => {
  const handle = self.ioLoop.callLater(0, () => {});
  assert.ok(handle != null);
  self.ioLoop.removeTimeout(handle);
});

t('test_close_file_object', () => {
  // When a file object is used instead of a numeric file descriptor,
  // the object should be closed (by IOLoop.close(all_fds=True),
  // not just the fd.
  class SocketWrapper {
    closed = false;
    constructor(readonly sockobj: Socket) {}
    fileno(): number { return this.sockobj.fileno(); }
    close(): void {
      this.closed = true;
      this.sockobj.close();
    }
  }
  const [sockobj] = bindUnusedPort();
  const socketWrapper = new SocketWrapper(sockobj);
  const ioLoop = new IOLoop();
  ioLoop.addHandler(socketWrapper, () => {}, IOLoop.READ);
  ioLoop.close(true);
  assert.ok(socketWrapper.closed);
});

t('test_handler_callback_file_object', async (self) => {
  // The handler callback receives the same fd object it passed in.
  const [serverSock, port] = bindUnusedPort();
  const fds: Array<Socket | number> = [];
  const handleConnection = (fd: Socket | number): void => {
    fds.push(fd);
    const [conn] = serverSock.accept();
    conn.close();
    self.stop();
  };
  self.ioLoop.addHandler(serverSock, handleConnection, IOLoop.READ);
  let clientSock = new Socket();
  try {
    clientSock.connect(['127.0.0.1', port]);
    await self.wait();
  } finally {
    clientSock.close();
  }
  self.ioLoop.removeHandler(serverSock);
  self.ioLoop.addHandler(serverSock.fileno(), handleConnection, IOLoop.READ);
  clientSock = new Socket();
  try {
    clientSock.connect(['127.0.0.1', port]);
    await self.wait();
  } finally {
    clientSock.close();
  }
  assert.is(fds[0], serverSock);
  assert.is(fds[1], serverSock.fileno());
  self.ioLoop.removeHandler(serverSock.fileno());
  serverSock.close();
});

t('test_mixed_fd_fileobj', (self) => {
  const [serverSock] = bindUnusedPort();
  const f = (): void => {};
  self.ioLoop.addHandler(serverSock, f, IOLoop.READ);
  // The exact error is unspecified - some implementations use
  // IOError, others use ValueError.
  assert.throws(() => self.ioLoop.addHandler(serverSock.fileno(), f, IOLoop.READ));
  self.ioLoop.removeHandler(serverSock.fileno());
  serverSock.close();
});

t('test_reentrant', async (self) => {
  // Calling start() twice should raise an error, not deadlock.
  let returnedFromStart = false;
  let gotException = false;
  const callback = (): void => {
    try {
      void self.ioLoop.start();
      returnedFromStart = true;
    } catch {
      gotException = true;
    }
    self.stop();
  };
  self.ioLoop.addCallback(callback);
  await self.wait();
  assert.ok(gotException);
  assert.not.ok(returnedFromStart);
});

t('test_exception_logging', async (self) => {
  // Uncaught exceptions get logged by the IOLoop.
  self.ioLoop.addCallback(divideByZero);
  self.ioLoop.addCallback(self.stop);
  const expectation = new ExpectLog(appLog, 'Exception in callback');
  await self.wait();
  expectation.exit();
});

t('test_exception_logging_future', async (self) => {
  // The IOLoop examines exceptions from Futures and logs them.
  // (@gen.coroutine: an async function in gale)
  const callback = async (): Promise<void> => {
    self.ioLoop.addCallback(self.stop);
    divideByZero();
  };
  self.ioLoop.addCallback(callback);
  const expectation = new ExpectLog(appLog, 'Exception in callback');
  await self.wait();
  expectation.exit();
});

t('test_exception_logging_native_coro', async (self) => {
  // The IOLoop examines exceptions from awaitables and logs them.
  const callback = async (): Promise<void> => {
    await Promise.resolve();
    self.ioLoop.addCallback(self.stop);
    divideByZero();
  };
  self.ioLoop.addCallback(callback);
  const expectation = new ExpectLog(appLog, 'Exception in callback');
  await self.wait();
  expectation.exit();
});

t('test_spawn_callback', async (self) => {
  // (The first half, an add_callback exception re-raised by wait() through
  // stack_context, has no gale counterpart.)
  // A spawned callback is run directly on the IOLoop, so it will be
  // logged without stopping the test.
  self.ioLoop.spawnCallback(divideByZero);
  self.ioLoop.addCallback(self.stop);
  const expectation = new ExpectLog(appLog, 'Exception in callback');
  await self.wait();
  expectation.exit();
});

t('test_remove_handler_from_handler', async (self) => {
  // Create two sockets with simultaneous read events.
  const [client, server] = socketpair();
  try {
    client.send('abc');
    server.send('abc');
    // After reading from one fd, remove the other from the IOLoop.
    const chunks: Buffer[] = [];
    const handleRead = (fd: Socket): void => {
      chunks.push(fd.recv(1024));
      if (fd === client) self.ioLoop.removeHandler(server);
      else self.ioLoop.removeHandler(client);
    };
    self.ioLoop.addHandler(client, handleRead, self.ioLoop.READ);
    self.ioLoop.addHandler(server, handleRead, self.ioLoop.READ);
    self.ioLoop.callLater(0.1, self.stop);
    await self.wait();
    // Only one fd was read; the other was cleanly removed.
    assert.equal(chunks, [Buffer.from('abc')]);
  } finally {
    client.close();
    server.close();
  }
});

// Deliberately not an AsyncTestCase so the IOLoop isn't automatically set as current.
class TestIOLoopCurrent extends AsyncTestCase {
  currentIoLoop: IOLoop | null = null;
  loop: IOLoop | null = null;
  override setUp(): void {
    this.loop = null;
    IOLoop.clearCurrent();
  }
  override tearDown(): void {
    if (this.loop !== null) this.loop.close();
  }
}
const cur = testCase('TestIOLoopCurrent', () => new TestIOLoopCurrent());

cur('test_default_current', (self) => {
  self.loop = new IOLoop();
  // The first IOLoop with default arguments is made current.
  assert.is(self.loop, IOLoop.current());
  // A second IOLoop can be created but is not made current.
  const ioLoop2 = new IOLoop();
  assert.is(self.loop, IOLoop.current());
  ioLoop2.close();
});

cur('test_non_current', async (self) => {
  const loop = self.loop = new IOLoop({ makeCurrent: false });
  // The new IOLoop is not initially made current.
  assert.is(IOLoop.current(false), null);
  // Starting the IOLoop makes it current, and stopping the loop
  // makes it non-current. This process is repeatable.
  for (let i = 0; i < 3; i++) {
    const f = (): void => {
      self.currentIoLoop = IOLoop.current();
      loop.stop();
    };
    loop.addCallback(f);
    await loop.start();
    assert.is(self.currentIoLoop, loop);
    // Now that the loop is stopped, it is no longer current.
    assert.is(IOLoop.current(false), null);
  }
});

cur('test_force_current', (self) => {
  self.loop = new IOLoop({ makeCurrent: true });
  assert.is(self.loop, IOLoop.current());
  // A second make_current=True construction cannot succeed.
  assert.throws(() => new IOLoop({ makeCurrent: true }));
  // current() was not affected by the failed construction.
  assert.is(self.loop, IOLoop.current());
});

const futures = testCase('TestIOLoopFutures', () => new AsyncTestCase());
const tasksUrl = new URL('./fixtures/tasks.js', import.meta.url);

futures('test_add_future_threads', async (self) => {
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 });
  try {
    // pool.submit(lambda: None): a task must be a module's export in gale.
    self.ioLoop.addFuture(pool.submit(defineTask(tasksUrl, 'echo'), null), (future) => self.stop(future));
    const future = (await self.waitRaw()).value as Future<null>;
    assert.ok(future.done());
    assert.is(future.result(), null);
  } finally {
    // `with ThreadPoolExecutor(1) as pool` shuts it down (wait=True).
    await pool.shutdown();
  }
});

class RunSyncCase extends AsyncTestCase {
  loop!: IOLoop;
  override setUp(): void {
    this.loop = new IOLoop();
  }
  override tearDown(): void {
    this.loop.close();
  }
}
const rs = testCase('TestIOLoopRunSync', () => new RunSyncCase());

rs('test_sync_result', async (self) => {
  // gale difference: a plain value is accepted (Tornado raises BadYieldError).
  assert.is(await self.loop.runSync(() => 42), 42);
});

rs('test_sync_exception', async (self) => {
  let raised: unknown = null;
  try {
    await self.loop.runSync(divideByZero);
  } catch (error) {
    raised = error;
  }
  assert.instance(raised, ZeroDivisionError);
});

rs('test_async_result', async (self) => {
  const f = async (): Promise<number> => {
    await genTask((cb: () => void) => self.loop.addCallback(cb));
    return 42;
  };
  assert.is(await self.loop.runSync(f), 42);
});

rs('test_async_exception', async (self) => {
  const f = async (): Promise<void> => {
    await genTask((cb: () => void) => self.loop.addCallback(cb));
    divideByZero();
  };
  let raised: unknown = null;
  try {
    await self.loop.runSync(f);
  } catch (error) {
    raised = error;
  }
  assert.instance(raised, ZeroDivisionError);
});

rs('test_current', async (self) => {
  const f = (): void => {
    assert.is(IOLoop.current(), self.loop);
  };
  await self.loop.runSync(f);
});

rs('test_timeout', async (self) => {
  const f = async (): Promise<void> => {
    await genTask((cb: () => void) => self.loop.addTimeout(self.loop.time() + 1, cb));
  };
  let raised: unknown = null;
  try {
    await self.loop.runSync(f, 0.01);
  } catch (error) {
    raised = error;
  }
  assert.instance(raised, TimeoutError);
});

rs('test_native_coroutine', async (self) => {
  const f = async (): Promise<void> => {
    await genTask((cb: () => void) => self.loop.addCallback(cb));
  };
  await self.loop.runSync(f);
});

finishSuite();
