/**
 * A small port of the parts of Tornado 4.4's `tornado/testing.py` that its
 * own tests use, so those tests port call for call:
 *
 * - `AsyncTestCase`: a fresh current `IOLoop` per test (`this.ioLoop`),
 *   `stop(value)` / `await wait()` (Python's `self.wait()` runs the loop
 *   until `stop` is called or the timeout passes), `setUp` / `tearDown`;
 * - `genTest`: Tornado's `@gen_test` (the body runs with `runSync`);
 * - `ExpectLog(channel, regex, required)`: swallows matching records of one
 *   channel (`appLog`, `genLog`) and, if `required`, fails when none came;
 * - `bindUnusedPort()`.
 *
 * Differences forced by the platform, each kept as small as it can be:
 * - Python's `with ExpectLog(...)` becomes `expectLog(channel, regex, body)`
 *   (or `const e = new ExpectLog(...); …; e.exit()`).
 * - Tornado's AsyncTestCase routes a callback's exception into the test
 *   through stack_context. gale has no stack_context, so instead every
 *   warning or error record that no `ExpectLog` matched fails the test at
 *   `tearDown`: an exception that a callback raised (logged by the loop as
 *   "Exception in callback …") fails the test as it would in Tornado.
 * - `skipTest(reason)` ends a test early as Tornado's does; the ported
 *   suites call it only where Tornado's own test skips (no IPv6 on the host).
 */
import { test as uvuTest } from 'uvu';
import { IOLoop } from '../reactor/ioloop.js';
import { setLogger, stderrLogger, type Channel, type LogRecord, type LoggerName } from '../reactor/log.js';
import { bindSockets } from '../net/netutil.js';
import { AF_INET, Socket } from '../reactor/sys/socket.js';
import { fdLeakCheck } from './helpers.js';
import { defaultExecutor, type ThreadPoolExecutor } from '../reactor/executor-pool.js';
import { ThreadedResolver } from '../resolvers/threaded.js';

// Taken when the spec file loads, before any test ran.
const fileLeakCheck = fdLeakCheck();

/** Routes gale's log records through the ExpectLog filters (a test case does this for its run). */
export function installTestLogger(): void {
  unexpected = [];
  activeExpectations.length = 0;
  setLogger(testLogger);
}

/** Puts the default logger back and forgets the filters. */
export function removeTestLogger(): void {
  setLogger(stderrLogger);
  activeExpectations.length = 0;
}

/** Tornado's `get_async_test_timeout()` default is 5 s; the suite shares two cores with others, so 10. */
export const ASYNC_TEST_TIMEOUT = Number(process.env.ASYNC_TEST_TIMEOUT ?? 10);

/** Python's `record.getMessage()`: the text of the arguments, without stack traces. */
export function recordMessage(record: LogRecord): string {
  return record.args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : typeof a === 'string' ? a : String(a))).join(' ');
}

const activeExpectations: ExpectLog[] = [];
let unexpected: LogRecord[] = [];

/** The logger a test case installs: ExpectLog filters first, then capture. */
const testLogger = {
  debug() {}, info() {}, warn() {}, error() {},
  handle(record: LogRecord): void {
    for (let i = activeExpectations.length - 1; i >= 0; i--) {
      if (activeExpectations[i]!.filter(record)) return; // swallowed, as Tornado's filter returning False
    }
    if (record.level === 'warn' || record.level === 'error') unexpected.push(record);
    if (process.env.GALE_TEST_LOGS) process.stderr.write(`[${record.level} ${record.name}] ${recordMessage(record)}\n`);
  },
};

/**
 * Tornado's `ExpectLog`: while active, records on `channel` whose message
 * matches `regex` at its start (Python's `re.match`) are swallowed.
 */
export class ExpectLog {
  matched = false;
  /** Whether any swallowed record carried an exception (Tornado 4.3's `logged_stack`). */
  loggedStack = false;
  private readonly name: LoggerName;
  private readonly regex: RegExp;

  constructor(channel: Channel | LoggerName, regex: string | RegExp, readonly required = true) {
    this.name = typeof channel === 'string' ? channel : channel.name;
    this.regex = typeof regex === 'string' ? new RegExp(`^(?:${regex})`) : regex;
    activeExpectations.push(this);
  }

  /** Whether `record` is matched (and so swallowed). */
  filter(record: LogRecord): boolean {
    if (record.name !== this.name) return false;
    if (record.args.some((a) => a instanceof Error)) this.loggedStack = true;
    if (!this.regex.test(recordMessage(record))) return false;
    this.matched = true;
    return true;
  }

  /** Python's `__exit__` without an exception. */
  exit(): void {
    const at = activeExpectations.indexOf(this);
    if (at >= 0) activeExpectations.splice(at, 1);
    if (this.required && !this.matched) throw new Error(`did not get expected log message ${this.regex} on ${this.name}`);
  }

  /** Python's `__exit__` with an exception: just stop filtering. */
  abandon(): void {
    const at = activeExpectations.indexOf(this);
    if (at >= 0) activeExpectations.splice(at, 1);
  }
}

/** `with ExpectLog(channel, regex, required): body`. */
export async function expectLog<T>(channel: Channel | LoggerName, regex: string | RegExp,
  body: () => T | PromiseLike<T>, required = true): Promise<T> {
  const expectation = new ExpectLog(channel, regex, required);
  let result: T;
  try {
    result = await body();
  } catch (error) {
    expectation.abandon();
    throw error;
  }
  expectation.exit();
  return result;
}

/**
 * unittest's `with self.assertRaises(cls):` around a coroutine body: what
 * `body` throws or rejects with must be a `cls`; returns it.
 */
export async function assertRaises(cls: new (...a: any[]) => Error, body: () => unknown): Promise<Error> {
  try {
    await body();
  } catch (error) {
    if (!(error instanceof cls)) throw error;
    return error;
  }
  throw new Error(`expected ${cls.name}`);
}

/** Thrown by `skipTest`; the runner reports it and passes the test. */
export class SkipTest extends Error {}

/** Tornado's `bind_unused_port()`: a listening socket on 127.0.0.1 and its port. */
export function bindUnusedPort(reusePort = false): [Socket, number] {
  const sock = bindSockets(0, '127.0.0.1', { family: AF_INET, reusePort })[0]!;
  return [sock, (sock.getsockname() as [string, number])[1]];
}

/** Tornado's `AsyncTestCase`. */
export class AsyncTestCase {
  ioLoop!: IOLoop;
  private stopped = false;
  private running = false;
  private stopArgs: unknown = undefined;
  private failure: unknown = null;
  private readonly cleanups: Array<() => void> = [];

  /** Tornado's `get_new_ioloop`: override to use another loop. */
  getNewIoloop(): IOLoop {
    return new IOLoop({ makeCurrent: false });
  }

  setUp(): void {
    this.ioLoop = this.getNewIoloop();
    this.ioLoop.makeCurrent();
  }

  tearDown(): void {
    for (const cleanup of this.cleanups.splice(0).reverse()) cleanup();
    IOLoop.clearCurrent();
    // Tornado closes the test's loop with all_fds=True.
    this.ioLoop.close(true);
  }

  /** Python's `addCleanup`. */
  addCleanup(fn: () => void): void {
    this.cleanups.push(fn);
  }

  /** Python's `skipTest`. */
  skipTest(reason: string): never {
    throw new SkipTest(reason);
  }

  /** Stops the loop that `wait()` runs; `value` is what `wait()` returns. */
  stop = (value?: unknown): void => {
    this.stopArgs = value;
    // Only a loop that wait() is running is stopped (Tornado's __running):
    // a stop() before wait() must not leave the loop's own stop pending.
    if (this.running) {
      this.ioLoop.stop();
      this.running = false;
    }
    this.stopped = true;
  };

  /** Records a failure (a failing assertion in a callback) and stops the loop. */
  fail(error: unknown): void {
    this.failure ??= error;
    this.stop();
  }

  /** Wraps a callback so an assertion failing in it fails the test (Tornado's stack_context does this). */
  guard<A extends unknown[]>(fn: (...args: A) => unknown): (...args: A) => unknown {
    return (...args: A) => {
      try {
        return fn(...args);
      } catch (error) {
        this.fail(error);
        return undefined;
      }
    };
  }

  /**
   * Runs the loop until `stop()` is called (or was already) and returns its
   * value; fails after `timeout` seconds, as Tornado's `wait` does.
   * `condition`, if given, must hold when stopped, or the loop runs on.
   */
  async wait(condition?: (() => boolean) | null, timeout = ASYNC_TEST_TIMEOUT): Promise<any> {
    return (await this.waitRaw(condition, timeout)).value;
  }

  /**
   * `wait()` with the stop value boxed: `await` adopts a thenable, so when
   * `stop` got a Future (`ioLoop.addFuture(future, self.stop)`) and the test
   * needs that Future itself, not its outcome, it reads `(await waitRaw()).value`.
   */
  async waitRaw(condition?: (() => boolean) | null, timeout = ASYNC_TEST_TIMEOUT): Promise<{ value: any }> {
    if (!this.stopped) {
      let timedOut = false;
      const timer = this.ioLoop.addTimeout(this.ioLoop.time() + timeout, () => {
        timedOut = true;
        this.failure ??= new Error(`Async operation timed out after ${timeout} seconds`);
        this.stop();
      });
      try {
        for (;;) {
          this.running = true;
          await this.ioLoop.start();
          if (this.failure || timedOut || !condition || condition()) break;
          this.stopped = false;
        }
      } finally {
        this.running = false;
        this.ioLoop.removeTimeout(timer);
      }
    }
    this.stopped = false;
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
    const result = this.stopArgs;
    this.stopArgs = undefined;
    return { value: result };
  }

  /** Tornado's `@gen_test`: runs `body` as a coroutine on this loop, bounded by `timeout`. */
  async genTest<T>(body: () => T | PromiseLike<T>, timeout = ASYNC_TEST_TIMEOUT): Promise<T> {
    const result = await this.ioLoop.runSync(body, timeout);
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
    return result;
  }

  /** Fails if a warning or error was logged that no ExpectLog matched. */
  checkLogs(): void {
    const records = unexpected;
    unexpected = [];
    if (records.length) {
      throw new Error(`unexpected log records:\n${records.map((r) => `  [${r.level} ${r.name}] ${recordMessage(r)}`).join('\n')}`);
    }
  }
}

/** The cases skipped at run time (Tornado's skips), for the report. */
export const skipped: string[] = [];

/**
 * Registers Tornado test cases of one class with uvu: each runs on a fresh
 * instance (`setUp`, body, `tearDown`). `finishSuite()` checks for fd leaks
 * over the whole file (the shared resolver pool outlives single tests).
 *
 * ```ts
 * const t = testCase('IOLoopTest', () => new AsyncTestCase());
 * t('test_add_callback_wakeup', async (self) => { … });
 * ```
 */
export function testCase<C extends AsyncTestCase>(className: string, make: () => C) {
  return (name: string, body: (self: C) => unknown): void => {
    uvuTest(`${className}.${name}`, async () => {
      const self = make();
      installTestLogger();
      let failure: unknown = null;
      try {
        self.setUp();
        await body(self);
      } catch (error) {
        failure = error;
      }
      try {
        self.tearDown();
      } catch (error) {
        failure ??= error;
      }
      removeTestLogger();
      if (failure instanceof SkipTest) {
        skipped.push(`${className}.${name}: ${failure.message}`);
        process.stdout.write(`  (skipped ${className}.${name}: ${failure.message})\n`);
        unexpected = [];
        return;
      }
      if (failure) throw failure;
      self.checkLogs();
    });
  };
}

/**
 * tornado/test/util.py's `refusing_port()`: a port that refuses connections
 * (the client end of a closed connection keeps it from being reused).
 * Returns the cleanup function and the port.
 */
export function refusingPort(): [() => void, number] {
  const [serverSocket, port] = bindUnusedPort();
  serverSocket.setBlocking(true);
  const clientSocket = new Socket();
  clientSocket.connect(['127.0.0.1', port]);
  const [conn, clientAddr] = serverSocket.accept();
  conn.close();
  serverSocket.close();
  return [() => clientSocket.close(), (clientAddr as [string, number])[1]];
}

/**
 * Registers the file's last test: stops the shared pools (ThreadedResolver's,
 * the default executor), then no fd opened by the file may be left open.
 * Then runs the suite.
 */
export function finishSuite(): void {
  uvuTest('no fds leaked (shared pools stopped)', async () => {
    await (ThreadedResolver.createThreadpool(1) as ThreadPoolExecutor).shutdown();
    await defaultExecutor().shutdown();
    fileLeakCheck();
  });
  uvuTest.run();
}
