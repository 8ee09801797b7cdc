/**
 * `Subprocess`: Tornado 4.4's `tornado.process.Subprocess` — a child process
 * whose stdin/stdout/stderr can be `PipeIOStream`s on the loop, and whose
 * exit the loop reports (`setExitCallback`, `waitForExit`).
 *
 * Tornado wraps `subprocess.Popen` and learns of exits from a SIGCHLD
 * handler. gale has neither: the child is started with posix_spawn
 * (reactor/sys/spawn.ts says why not Node's child_process), its pipes are
 * gale's own close-on-exec pipes, and its exit is noticed by the loop itself
 * through a pidfd registered like any fd (./child-watch.ts). libuv never
 * knows the child; gale alone reaps it. Python's Popen behaviour is kept
 * where Tornado relies on it: the program is looked up on the `PATH` of
 * `env` (or of this process), a program that cannot be executed fails the
 * constructor (`OSError` ENOENT, EACCES), every fd other than 0/1/2 is
 * closed in the child, and signals start at their defaults.
 *
 * Differences from Tornado, each because the platform gives the choice:
 * - exits are watched per child on its own loop, so `initialize()` and
 *   `uninitialize()` have nothing to install (they exist so ported code
 *   runs), and a loop in a worker thread, or one with `nodeInterop: false`,
 *   sees its children's exits too;
 * - the child is reaped (and `returncode` set) when it exits, whether or not
 *   an exit callback was set; `setExitCallback` after the exit still runs
 *   the callback, on the next iteration;
 * - `CalledProcessError.cmd` is the argument list (Tornado passes None);
 * - `close()` (not in Tornado) closes the streams and, if the child still
 *   runs, kills it (SIGKILL) and reaps it; `loop.close(true)` calls it.
 */
import { statSync, accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, resolve as resolvePath } from 'node:path';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { checkFunction, describeValue } from '../reactor/sys/validate.js';
import { close as closeFd, kill, pipeCloexec, waitpidChild } from '../reactor/sys/libc.js';
import { spawn } from '../reactor/sys/spawn.js';
import { OSError, errnoMessage, errno as E } from '../reactor/sys/errors.js';
import { PipeIOStream } from '../streams/pipe-iostream.js';
import { ChildWatch } from './child-watch.js';

const STREAM: unique symbol = Symbol('Subprocess.STREAM');
const STDOUT: unique symbol = Symbol('Subprocess.STDOUT');

/**
 * Where one of the child's standard fds goes: `Subprocess.STREAM` (a pipe,
 * seen as a `PipeIOStream` attribute), an fd number of this process (the
 * child gets a copy), or null/undefined (the child inherits this process's).
 * stderr may also be `Subprocess.STDOUT` (wherever stdout goes).
 */
export type StdioOption = typeof STREAM | number | null | undefined;

/** Options of `new Subprocess(args, options)`: Popen's keywords that Tornado code passes. */
export interface SubprocessOptions {
  /** The child's stdin. */
  stdin?: StdioOption;
  /** The child's stdout. */
  stdout?: StdioOption;
  /** The child's stderr; `Subprocess.STDOUT` sends it wherever stdout goes. */
  stderr?: StdioOption | typeof STDOUT;
  /** The child's working directory (default: this process's). */
  cwd?: string | null;
  /** The child's whole environment (default: `process.env`). Its `PATH` finds the program. */
  env?: Record<string, string> | null;
  /** The loop that watches the child and runs its streams (default: `IOLoop.current()`). */
  ioLoop?: IOLoop;
}

const OPTION_NAMES = new Set(['stdin', 'stdout', 'stderr', 'cwd', 'env', 'ioLoop']);

/**
 * A child exited with a non-zero returncode (Python's
 * `subprocess.CalledProcessError`): `waitForExit()` rejects with it.
 */
export class CalledProcessError extends Error {
  /** The exit status, or -signal for a child killed by a signal. */
  readonly returncode: number;
  /** The arguments the child was started with. */
  readonly cmd: string[];

  constructor(returncode: number, cmd: string[]) {
    const what = returncode < 0 ? `died with signal ${-returncode}` : `returned non-zero exit status ${returncode}`;
    super(`Command '${JSON.stringify(cmd)}' ${what}.`);
    this.returncode = returncode;
    this.cmd = cmd;
  }
}
Object.defineProperty(CalledProcessError.prototype, 'name', { value: 'CalledProcessError', writable: true, configurable: true });

/** A child process on the loop (Tornado's `tornado.process.Subprocess`). */
export class Subprocess {
  /** As `stdin`/`stdout`/`stderr`: a pipe, read or written as a `PipeIOStream`. */
  static readonly STREAM: typeof STREAM = STREAM;
  /** As `stderr`: the same place as stdout (Python's `subprocess.STDOUT`). */
  static readonly STDOUT: typeof STDOUT = STDOUT;

  /** The loop that watches the child. */
  readonly ioLoop: IOLoop;
  /** The child's process id. */
  readonly pid: number;
  /** The arguments the child was started with. */
  readonly args: string[];
  /** The exit status, -signal if a signal killed the child, null while it runs (Popen's `returncode`). */
  returncode: number | null = null;
  /** The child's stdin, if it was `STREAM`: write to it. */
  stdin: PipeIOStream | null = null;
  /** The child's stdout, if it was `STREAM`: read from it. */
  stdout: PipeIOStream | null = null;
  /** The child's stderr, if it was `STREAM`: read from it. */
  stderr: PipeIOStream | null = null;

  private exitCallback: ((returncode: number) => void) | null = null;
  private readonly watch: ChildWatch;
  private closed = false;

  /**
   * Starts `args[0]` with the arguments `args`.
   *
   * @throws {TypeError|RangeError} for malformed arguments or options (nothing is started).
   * @throws {OSError} if the program cannot be run (ENOENT when it is not
   *   found, EACCES when it is not executable, ENOENT/ENOTDIR for a bad
   *   `cwd`); no fd is left open.
   */
  constructor(args: readonly string[], options: SubprocessOptions = {}) {
    this.args = checkArgs(args);
    const { stdin, stdout, stderr, cwd, env, ioLoop } = checkOptions(options);
    this.ioLoop = ioLoop ?? IOLoop.current()!;
    const environment = env ?? process.env;
    const program = findProgram(this.args[0]!, environment.PATH, cwd);
    // All fds created here are closed on failure; the child's ends are
    // closed in this process on success (Tornado's pipe_fds / to_close).
    const created: number[] = [];
    const childEnds: number[] = [];
    const parentEnds: Array<[name: 'stdin' | 'stdout' | 'stderr', fd: number]> = [];
    const dup2: Array<[number, number]> = [];
    let pid: number;
    try {
      for (const [name, target, value] of [['stdin', 0, stdin], ['stdout', 1, stdout], ['stderr', 2, stderr]] as const) {
        if (value === STREAM) {
          const [r, w] = pipeCloexec();
          created.push(r, w);
          const [child, parent] = target === 0 ? [r, w] : [w, r];
          childEnds.push(child);
          parentEnds.push([name, parent]);
          dup2.push([child, target]);
        } else if (value === STDOUT) {
          dup2.push([1, 2]); // after stdout's own dup2: stderr follows it wherever it went
        } else if (typeof value === 'number') {
          dup2.push([value, target]);
        } else {
          // Inherit. Node opens its own 0/1/2 close-on-exec; a dup2 onto
          // itself clears the flag in the child (glibc >= 2.29; libuv's
          // uv_spawn does the same with fcntl).
          dup2.push([target, target]);
        }
      }
      const envp = Object.entries(environment).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
      pid = spawn({ path: program, argv: this.args, envp, dup2, cwd: cwd ?? null });
    } catch (error) {
      for (const fd of created) closeFd(fd);
      throw describeSpawnError(error, this.args[0]!);
    }
    this.pid = pid;
    for (const fd of childEnds) closeFd(fd);
    for (const [name, fd] of parentEnds) this[name] = new PipeIOStream(fd, { ioLoop: this.ioLoop });
    // The pidfd is registered before any of the streams can be (they
    // register on first use), so loop.close(true), which goes in
    // registration order, closes this Subprocess, streams included, before
    // it would close their fds by number.
    try {
      this.watch = new ChildWatch(this.ioLoop, pid, (returncode) => this.exited(returncode), () => this.close());
    } catch (error) {
      // Nothing could watch the child: do not leave it running unreaped.
      kill(pid, 9);
      waitpidChild(pid, true);
      for (const stream of [this.stdin, this.stdout, this.stderr]) stream?.close();
      throw error;
    }
  }

  /**
   * Runs `callback(returncode)` on the loop when the child exits (at once,
   * on the next iteration, if it already has). One callback at a time: a
   * second call replaces the first.
   */
  setExitCallback(callback: (returncode: number) => void): void {
    this.exitCallback = checkFunction('callback', callback);
    if (this.returncode !== null) this.ioLoop.addCallback(() => this.runExitCallback());
  }

  /**
   * A Future of the returncode, done when the child exits. With
   * `raiseError` (the default) a non-zero returncode rejects it with
   * `CalledProcessError` instead. Uses the exit callback, as Tornado's does.
   */
  waitForExit(raiseError = true): Future<number> {
    const future = new Future<number>();
    this.setExitCallback((returncode) => {
      if (returncode !== 0 && raiseError) future.setException(new CalledProcessError(returncode, this.args));
      else future.setResult(returncode);
    });
    return future;
  }

  /**
   * Tornado installs its SIGCHLD handler here. gale installs none — each
   * Subprocess's loop watches its own child (a pidfd on Linux) — so this
   * does nothing; it exists so ported code runs. `ioLoop` is ignored.
   */
  static initialize(ioLoop?: IOLoop): void {
    void ioLoop;
  }

  /** Tornado removes its SIGCHLD handler here; gale has none, so this does nothing. */
  static uninitialize(): void {}

  /**
   * Releases everything (not in Tornado; asyncio's transport `close()`):
   * closes the streams and, if the child is still running, kills it
   * (SIGKILL) and reaps it, so no fd and no zombie remain. The exit callback
   * (and so `waitForExit`'s Future) runs now with the returncode, -9 for a
   * child this killed. `loop.close(true)` calls it. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of [this.stdin, this.stdout, this.stderr]) stream?.close();
    const returncode = this.watch.finish();
    if (this.returncode === null) {
      this.returncode = returncode;
      try {
        this.runExitCallback();
      } catch (error) {
        this.ioLoop.handleCallbackException(error);
      }
    }
  }

  // The watch reaped the child (Tornado's _set_returncode).
  private exited(returncode: number): void {
    this.returncode = returncode;
    this.runExitCallback();
  }

  private runExitCallback(): void {
    const callback = this.exitCallback;
    this.exitCallback = null;
    callback?.(this.returncode!);
  }
}

function checkArgs(args: unknown): string[] {
  if (!Array.isArray(args) || args.length === 0) {
    throw new TypeError(`args must be a non-empty array of strings (the program, then its arguments), got ${describeValue(args)}`);
  }
  return args.map((arg, i) => checkCString(`args[${i}]`, arg));
}

function checkCString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${describeValue(value)}`);
  if (value.includes('\0')) throw new RangeError(`${name} must not contain a NUL character`);
  return value;
}

function checkStdio(name: string, value: unknown, mayBeStdout: boolean): void {
  if (value === undefined || value === null || value === STREAM || (mayBeStdout && value === STDOUT)) return;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return;
  const allowed = mayBeStdout ? 'Subprocess.STREAM, Subprocess.STDOUT' : 'Subprocess.STREAM';
  throw new TypeError(`${name} must be ${allowed}, an fd number or null, got ${describeValue(value)}`);
}

function checkOptions(options: unknown): SubprocessOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw new TypeError(`options must be an object, got ${describeValue(options)}`);
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) throw new TypeError(`unknown Subprocess option ${JSON.stringify(key)} (known: ${[...OPTION_NAMES].join(', ')})`);
  }
  const o = options as SubprocessOptions;
  checkStdio('stdin', o.stdin, false);
  checkStdio('stdout', o.stdout, false);
  checkStdio('stderr', o.stderr, true);
  if (o.cwd !== undefined && o.cwd !== null) checkCString('cwd', o.cwd);
  if (o.env !== undefined && o.env !== null) {
    if (typeof o.env !== 'object') throw new TypeError(`env must be an object of strings, got ${describeValue(o.env)}`);
    for (const [key, value] of Object.entries(o.env)) {
      checkCString(`env[${JSON.stringify(key)}]`, value);
      if (key === '' || key.includes('=') || key.includes('\0')) throw new RangeError(`env has an invalid variable name ${JSON.stringify(key)}`);
    }
  }
  if (o.ioLoop !== undefined && !(o.ioLoop instanceof IOLoop)) throw new TypeError(`ioLoop must be an IOLoop, got ${describeValue(o.ioLoop)}`);
  return o;
}

/**
 * The file to execute for `program`, as Python's Popen finds it: a name
 * with a slash is used as it is (relative to `cwd`); a bare name is looked
 * up on `path` (the child's PATH; Python's `os.defpath` when unset), first
 * executable file wins. Throws Python's errors: ENOENT when nothing is
 * found, EACCES when only non-executable files are; and for a `cwd` that is
 * not a directory, as Popen does.
 */
function findProgram(program: string, path: string | undefined, cwd: string | null | undefined): string {
  if (cwd !== undefined && cwd !== null) {
    let errno = 0;
    try {
      if (!statSync(cwd).isDirectory()) errno = E.ENOTDIR;
    } catch {
      errno = E.ENOENT;
    }
    if (errno) throw new OSError(errno, 'chdir', `[Errno ${errno}] ${errnoMessage(errno)}: ${JSON.stringify(cwd)}`);
  }
  if (program.includes('/')) return program;
  let denied = false;
  for (const dir of (path ?? '/bin:/usr/bin').split(delimiter)) {
    const candidate = resolvePath(cwd ?? process.cwd(), dir, program);
    try {
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue;
    }
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      denied = true;
    }
  }
  const errno = denied ? E.EACCES : E.ENOENT;
  throw new OSError(errno, 'posix_spawn', `[Errno ${errno}] ${errnoMessage(errno)}: ${JSON.stringify(program)}`);
}

// The exec's own failures name the program, as Python's do; posix_spawn's errno alone names nothing.
const EXEC_ERRORS = new Set([E.ENOENT, E.EACCES, E.ENOEXEC, E.ENOTDIR, E.EISDIR, E.ETXTBSY, E.ELOOP, E.ENAMETOOLONG]);

function describeSpawnError(error: unknown, program: string): unknown {
  if (!(error instanceof OSError) || error.syscall !== 'posix_spawn' || !EXEC_ERRORS.has(error.errno)) return error;
  return new OSError(error.errno, 'posix_spawn', `[Errno ${error.errno}] ${errnoMessage(error.errno)}: ${JSON.stringify(program)}`);
}
