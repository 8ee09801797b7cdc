/**
 * The parent's side of `forkProcesses` (Tornado's `fork_processes` loop
 * after the forks): start the worker processes, restart those that die
 * abnormally, stop them all on SIGTERM/SIGINT, and exit when they are done.
 *
 * How a worker gets the listening sockets, and why that is sound:
 * - Each worker is `child_process.spawn(process.execPath, [...execArgv,
 *   ...argv.slice(1)])`: a fresh Node running the same program. Nothing is
 *   forked that would run JS: libuv's spawn forks only to exec at once
 *   (async-signal-safe calls in between, like posix_spawn), so the parent's
 *   threads, V8 heap and locks are never copied into a process that uses them.
 * - The sockets go in the `stdio` array at indexes 3..N. libuv dup2()s each
 *   one onto that fd number in the child before the exec, which clears
 *   close-on-exec on exactly those; every other fd gale opens is
 *   close-on-exec, so nothing else crosses. The worker learns which fd
 *   belongs to which bind call from the `GALE_WORKER` variable.
 * - An inherited fd refers to the same open file description, so the same
 *   kernel socket: every worker accepts from the one listen queue, and the
 *   kernel gives each connection to exactly one accept() (the others get
 *   EAGAIN on their nonblocking sockets). This is what Tornado's forked
 *   children share too. O_NONBLOCK lives on that description: all want it.
 * - One more stdio entry is a pipe, the lifeline: the parent never writes to
 *   it, so the worker reads EOF exactly when the parent is gone (even by
 *   SIGKILL) and then stops itself with SIGTERM, so no worker outlives it.
 *
 * Child exits arrive as Node 'exit' events: libuv reaps each child on
 * SIGCHLD (no zombies), and an IOLoop blocked in its poller wakes for them
 * because it watches libuv's backend fd.
 */
import type { ChildProcess, spawn as Spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { genLog } from '../reactor/log.js';

// node:child_process is loaded by the first forkProcesses, not at import:
// every gale program imports this module (through netutil), few fork, and
// the built-in costs an idle process resident memory (docs/using.md).
const require = createRequire(import.meta.url);
let spawnChild: typeof Spawn | null = null;
function spawn(...args: Parameters<typeof Spawn>): ChildProcess {
  spawnChild ??= (require('node:child_process') as typeof import('node:child_process')).spawn;
  return spawnChild(...args);
}

/** One bind call of the parent, as a worker sees it: its description and fds (null: bind anew). */
export interface InheritedGroup { call: string; fds: number[] | null }

/** What `forkProcesses` hands the supervisor. */
export interface SupervisorPlan {
  numProcesses: number;
  maxRestarts: number;
  /** The bind calls with the parent's fds. */
  groups: InheritedGroup[];
  /** The parent's fds, in the order they go to the child's fds 3, 4, … */
  fds: number[];
}

// After SIGTERM, how long workers get to finish before SIGKILL.
const STOP_GRACE_MS = 10_000;
const FIRST_INHERITED_FD = 3;

/** Starts the workers and supervises them until they are all gone. */
export function startSupervisor(plan: SupervisorPlan): void {
  const children = new Map<ChildProcess, number>();
  const handoffBinds = childSideGroups(plan);
  const lifelineFd = FIRST_INHERITED_FD + plan.fds.length;
  let restarts = 0;
  let stopping: NodeJS.Signals | null = null;
  let exitCode = 0;

  const startChild = (id: number): void => {
    const env = {
      ...process.env,
      GALE_WORKER: JSON.stringify({ taskId: id, parentPid: process.pid, binds: handoffBinds, lifeline: lifelineFd }),
    };
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      env,
      stdio: ['inherit', 'inherit', 'inherit', ...plan.fds, 'pipe'],
    });
    children.set(child, id);
    // The parent's end of the lifeline: never written, never read, and it
    // must not keep the parent alive on its own.
    const lifeline = child.stdio[lifelineFd] as (NodeJS.ReadableStream & { unref?(): void; destroy?(): void }) | null;
    lifeline?.unref?.();
    lifeline?.on('error', () => { /* the worker went away first */ });
    child.on('error', (error) => {
      // spawn failed (no such executable, out of fds): there is no process.
      genLog.error(`child ${id} could not be started: ${error.message}`);
      exitCode = 1;
      if (children.delete(child)) finishIfDone();
    });
    child.on('exit', (code, signal) => {
      lifeline?.destroy?.();
      if (!children.delete(child)) return;
      childExited(id, child.pid ?? -1, code, signal);
    });
  };

  const childExited = (id: number, pid: number, code: number | null, signal: NodeJS.Signals | null): void => {
    if (stopping) return finishIfDone();
    if (signal) {
      genLog.warn(`child ${id} (pid ${pid}) killed by signal ${osConstants.signals[signal] ?? signal}, restarting`);
    } else if (code !== 0) {
      genLog.warn(`child ${id} (pid ${pid}) exited with status ${code}, restarting`);
    } else {
      genLog.info(`child ${id} (pid ${pid}) exited normally`);
      return finishIfDone();
    }
    restarts++;
    if (restarts > plan.maxRestarts) {
      genLog.error('Too many child restarts, giving up');
      exitCode = 1;
      return stopAll('SIGTERM', null);
    }
    // Let a SIGINT/SIGTERM that reached this process with the child's death
    // (Ctrl-C signals the whole process group) run its handler first, so a
    // worker is not restarted only to be stopped again.
    setImmediate(() => {
      if (stopping) finishIfDone();
      else startChild(id);
    });
  };

  const finishIfDone = (): void => {
    if (children.size > 0) return;
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    if (stopping && exitCode === 0 && process.listenerCount(stopping) === 0) {
      // Die of the signal we were sent, so our own parent sees why.
      process.kill(process.pid, stopping);
      process.exit(128 + (osConstants.signals[stopping] ?? 0));
    }
    process.exit(exitCode || (stopping ? 128 + (osConstants.signals[stopping] ?? 0) : 0));
  };

  let killTimer: NodeJS.Timeout | null = null;
  const stopAll = (signal: NodeJS.Signals, received: NodeJS.Signals | null): void => {
    if (stopping) {
      // Asked twice (Ctrl-C again): do not wait any longer.
      for (const child of children.keys()) child.kill('SIGKILL');
      return;
    }
    stopping = received ?? signal;
    if (received) genLog.info(`received ${received}, stopping ${children.size} child processes`);
    for (const child of children.keys()) child.kill(signal);
    killTimer = setTimeout(() => {
      for (const child of children.keys()) child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    killTimer.unref();
    finishIfDone();
  };

  const onSignal = (signal: NodeJS.Signals): void => stopAll('SIGTERM', signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  genLog.info(`Starting ${plan.numProcesses} processes`);
  for (let id = 0; id < plan.numProcesses; id++) startChild(id);
}

/** The bind groups renumbered to the fds each worker receives (3, 4, …). */
function childSideGroups(plan: SupervisorPlan): InheritedGroup[] {
  let next = FIRST_INHERITED_FD;
  return plan.groups.map(({ call, fds }) => ({ call, fds: fds === null ? null : fds.map(() => next++) }));
}
