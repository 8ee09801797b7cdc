/**
 * Shared test helpers: fd-leak checks, bounded loops, log capture.
 * Every loop a test runs is bounded in time: pass a timeout to `runSync`, so
 * a test fails rather than hangs when the code under test never finishes.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setLogger, stderrLogger, type Logger } from '../reactor/log.js';
import * as assert from 'uvu/assert';
import { IOLoop, type IOLoopOptions } from '../reactor/ioloop.js';
import { moment } from '../reactor/gen.js';
import type { ThreadPoolExecutor } from '../reactor/executor-pool.js';
import { OSError } from '../reactor/sys/errors.js';
import { AF_INET6, Socket } from '../reactor/sys/socket.js';
import { createPoller, platformPoller } from '../reactor/pollers.js';

/**
 * Whether io_uring is refused here (a container's seccomp profile,
 * `kernel.io_uring_disabled`, qemu-user, or the GALE_URING_REFUSE test hook),
 * found by opening the uring poller once on Linux. Done at import, before
 * any test captures logs: where it is refused, the fallback's one line goes
 * to stderr once per spec process, as it does at a real program's start,
 * and the specs' log checks see only what their own code logs.
 * spec/poller-fallback.spec.ts tests that line itself.
 */
export const ringRefused: boolean = (() => {
  if (platformPoller() !== 'uring') return false;
  const poller = createPoller('uring');
  const refused = poller.name !== 'uring';
  poller.close();
  return refused;
})();

/** What asking for `name` gives here: itself, except uring where the ring is refused (epoll). */
export function pollerGiven(name: string): string {
  return name === 'uring' && ringRefused ? 'epoll' : name;
}

/** The poller a default loop gets here: GALE_POLLER's or the platform's, as `pollerGiven` says. */
export const defaultPollerName: string = pollerGiven(process.env.GALE_POLLER || platformPoller());

/** The fallback's log line ("io_uring: ...; using epoll instead ..."), as a child process prints it. */
export const FALLBACK_NOTICE = /^\[W tornado\.general\] io_uring: .*; using epoll instead .*\n/m;

/**
 * A child process's stderr without the fallback's one line, which a child
 * that opens a default loop prints where the ring is refused (and only there).
 */
export function withoutFallbackNotice(stderr: string): string {
  return ringRefused ? stderr.replace(FALLBACK_NOTICE, '') : stderr;
}

/** The fds open in this process, as `fd -> target`. */
export function openFds(): Map<number, string> {
  const fds = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    try { fds.set(Number(name), readlinkSync(`/proc/self/fd/${name}`)); } catch { /* closed while listing */ }
  }
  return fds;
}

/**
 * Returns a checker that throws if fds other than `allowed` were opened
 * since this call and are still open. Call it at the end of a test.
 */
export function fdLeakCheck(): () => void {
  const before = openFds();
  return () => {
    const leaked: string[] = [];
    for (const [fd, target] of openFds()) {
      if (before.get(fd) !== target && !isNodeInternal(target)) leaked.push(`${fd} -> ${target}`);
    }
    if (leaked.length) throw new Error(`leaked fds: ${leaked.join(', ')}`);
  };
}

// Node opens a few fds of its own lazily (/dev/urandom, /dev/null for child
// stdio); they come and go independently of the code under test.
function isNodeInternal(target: string): boolean {
  return target.startsWith('/dev/');
}

/** Captures log records for the duration of `fn`. */
export async function captureLogs<T>(fn: () => T | Promise<T>): Promise<{ result: T; logs: Array<[string, string]> }> {
  const logs: Array<[string, string]> = [];
  const record = (level: string) => (...args: unknown[]) => {
    logs.push([level, args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}\n${a.stack}` : String(a))).join(' ')]);
  };
  const logger: Logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
  setLogger(logger);
  try {
    const result = await fn();
    return { result, logs };
  } finally {
    setLogger(stderrLogger);
  }
}

/** Resolves after `ms` of Node time (for tests that wait on Node's side). */
let fullGc: (() => void) | null = null;

/**
 * A full garbage collection, for a spec that counts loop iterations or Node
 * turns: it finishes any incremental marking cycle under way, and a counted
 * stretch that allocates little does not start another. While V8 marks the
 * heap incrementally it posts one foreground task at a time, and each, as
 * Node runs it, posts the next (V8's IncrementalMarkingJob, through
 * `uv_async_send`): libuv's fd is ready every turn, and the loop rightly
 * hands Node one turn per task, as Node's own loop runs one libuv
 * iteration per task. That is V8's count, not the loop's (docs/testing.md).
 * (`gc` is exposed at run time: the flag takes effect for a new context.)
 */
export function collectGarbage(): void {
  if (fullGc === null) {
    setFlagsFromString('--expose-gc');
    fullGc = runInNewContext('gc') as () => void;
  }
  fullGc();
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects a child's stdout and stderr as one text; `exited` settles with its exit code. */
export function collect(child: ChildProcess): { text: () => string; exited: Promise<number | null> } {
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  return { text: () => out, exited: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
}

/** Options of `until`. */
export interface UntilOptions {
  /** How many times `check` runs before giving up (default 2000: 10 s of 5 ms pauses). */
  tries?: number;
  /**
   * What to wait between checks (default 5 ms of Node time). Inside a loop
   * that does not yield to Node (`nodeInterop: false`) wait on the loop,
   * `() => sleep(0.001)`; to just turn the loop, `() => moment`.
   */
  pause?: () => PromiseLike<unknown>;
}

/**
 * `until` options that check once per loop iteration (`await moment`),
 * for conditions the loop itself brings about; the test's `runSync`
 * timeout bounds the wait as well.
 */
export const EACH_TURN: UntilOptions = { tries: 100_000, pause: () => moment };

/**
 * Resolves with `check()`'s first truthy result, checking again after each
 * pause, at most `tries` times (a bound on hangs, not a timing assertion);
 * rejects saying it never saw `what` (a string, or a function for text
 * that is only known at the end, such as a child's output).
 */
export async function until<T>(check: () => T, what: string | (() => string), options: UntilOptions = {}): Promise<NonNullable<T>> {
  const { tries = 2000, pause = () => delay(5) } = options;
  for (let i = 0; i < tries; i++) {
    const result = check();
    if (result) return result as NonNullable<T>;
    await pause();
  }
  throw new Error(`never saw ${typeof what === 'function' ? what() : what} (${tries} tries)`);
}

/**
 * Resolves with the first match of `pattern` in what `sources` print from
 * now on; rejects after `timeoutMs` (a bound on hangs), or when `child`
 * (if given) exits first. Only a tail of the text is kept between chunks
 * (the demo prints megabytes), after each whole chunk has been searched.
 */
export function waitFor(
  sources: NodeJS.ReadableStream | NodeJS.ReadableStream[],
  pattern: RegExp,
  options: { timeoutMs?: number; child?: ChildProcess } = {},
): Promise<RegExpExecArray> {
  const { timeoutMs = 10_000, child } = options;
  const streams = Array.isArray(sources) ? sources : [sources];
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => { cleanup(); reject(new Error(`never saw ${pattern} in: ${seen.slice(-500)}`)); }, timeoutMs);
    const onData = (d: Buffer): void => {
      seen += d.toString('latin1');
      const match = pattern.exec(seen);
      if (match) { cleanup(); resolve(match); }
      else if (seen.length > 8192) seen = seen.slice(-8192);
    };
    const onExit = (): void => { cleanup(); reject(new Error(`exited before ${pattern}: ${seen.slice(-500)}`)); };
    function cleanup(): void {
      clearTimeout(timer);
      for (const stream of streams) stream.off('data', onData);
      child?.off('exit', onExit);
    }
    for (const stream of streams) stream.on('data', onData);
    child?.on('exit', onExit);
  });
}

/** The poller the suite runs under (`GALE_POLLER`), for messages. */
export const pollerUnderTest = process.env.GALE_POLLER ?? 'auto';

/**
 * Runs `fn(loop)` on a fresh, non-current loop, bounded by `timeout`
 * seconds (a bound on hangs, not a performance assertion), then closes it.
 */
export async function inLoop<T>(
  fn: (loop: IOLoop) => T | PromiseLike<T>,
  options: Omit<IOLoopOptions, 'makeCurrent'> & { timeout?: number } = {},
): Promise<T> {
  const { timeout = 30, ...loopOptions } = options;
  const loop = new IOLoop({ makeCurrent: false, ...loopOptions });
  try {
    return await loop.runSync(() => fn(loop), timeout);
  } finally {
    loop.close();
  }
}

/** What `fn` throws (fails the test if it returns). */
export function thrown(fn: () => unknown): any {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an exception');
}

/** What `p` rejects with (fails the test if it fulfils). */
export async function rejection(p: PromiseLike<unknown> | null): Promise<any> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Asserts `fn` throws an OSError with this code (and syscall, if given); returns it. */
export function expectOSError(fn: () => unknown, code: string, syscall?: string): OSError {
  const error = thrown(fn);
  assert.instance(error, OSError, `expected OSError ${code}, got ${error}`);
  assert.is(error.code, code, error.message);
  if (syscall) assert.is(error.syscall, syscall);
  return error;
}

/** Whether ::1 can be bound here; the reason when it cannot. */
export function ipv6Loopback(): { ok: true } | { ok: false; error: OSError } {
  try {
    const sock = new Socket(AF_INET6);
    try {
      sock.bind(['::1', 0]);
    } finally {
      sock.close();
    }
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error as OSError };
  }
}

/** Asserts a failed IPv6 probe failed for want of IPv6 on this host, not for a bug of ours. */
export function assertNoIpv6(probe: { ok: false; error: OSError }): void {
  assert.instance(probe.error, OSError);
  assert.ok(['EADDRNOTAVAIL', 'EAFNOSUPPORT'].includes(probe.error.code), probe.error.message);
}

/** How many threads this process has (/proc/self/task): worker leaks show here. */
export function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/** Awaits a pool's full stop outside any loop (its workers' exits come through Node), bounded. */
export async function stoppedPool(executor: ThreadPoolExecutor, wait = true): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('pool did not stop')), 20_000); });
  try {
    await Promise.race([executor.shutdown(wait), guard]);
  } finally {
    clearTimeout(timer);
  }
  assert.is(executor.liveWorkers, 0);
}

/**
 * Runs `fn` with `process.platform` reading `platform`, then restores it:
 * for code that picks per platform, so every branch runs on this host.
 */
export function withPlatform<T>(platform: NodeJS.Platform, fn: () => T): T {
  const saved = Object.getOwnPropertyDescriptor(process, 'platform')!;
  Object.defineProperty(process, 'platform', { value: platform, enumerable: true, configurable: true });
  try {
    return fn();
  } finally {
    Object.defineProperty(process, 'platform', saved);
  }
}
