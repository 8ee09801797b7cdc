/**
 * Multi-process servers: Tornado's `tornado.process` (`fork_processes`,
 * `task_id`, `cpu_count`).
 *
 * Tornado forks: each child is a copy of the parent at the moment of the
 * fork, holding the listening sockets the parent bound. A Node process
 * cannot fork (it runs several threads; a fork copies only the calling one,
 * with V8's and libuv's locks possibly held by the others). So a gale worker
 * is a fresh process running the same program with the same arguments, and
 * the parent hands it the bound sockets as inherited fds (see
 * `process-supervisor.ts` for why that is sound). The worker re-runs the
 * program from the top; when it reaches the same `bindSockets` /
 * `bindUnixSocket` calls the parent made before `forkProcesses`, those calls
 * adopt the inherited sockets instead of binding again, in call order. When
 * it reaches `forkProcesses`, that returns its task id, as Tornado's child
 * does.
 *
 * In the parent, Tornado's `fork_processes` never returns: it waits for the
 * children and then `sys.exit(0)`. A synchronous JS function cannot wait
 * without blocking the thread (and with it Node's child-exit and signal
 * handling), so in gale the parent's `forkProcesses` starts the workers,
 * supervises them on Node's event loop, and returns null; the process
 * becomes a supervisor: it never accepts on the sockets it handed over (see
 * `isHandedOver`), refuses new binds, and calls `process.exit(0)` once every
 * worker has exited cleanly. An idle gale loop started afterwards in the
 * parent is fine: it watches libuv's backend fd, so child exits and
 * signals wake it.
 */
import { Socket as NetSocket } from 'node:net';
import { availableParallelism } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { close, setCloexec } from '../reactor/sys/libc.js';
import type { Socket } from '../reactor/sys/socket.js';
import { startSupervisor, type InheritedGroup } from './process-supervisor.js';

/** The environment variable that tells a worker its task id and its inherited fds. */
export const WORKER_ENV = 'GALE_WORKER';

/** What the parent writes into `GALE_WORKER` for each worker (JSON). */
export interface WorkerHandoff {
  /** The worker's index, 0 ≤ taskId < numProcesses. */
  taskId: number;
  /** The supervising parent's pid: a grandchild that inherited the variable ignores it. */
  parentPid: number;
  /** One entry per bind call the parent made before forking, in order. */
  binds: InheritedGroup[];
  /** The fd of the lifeline pipe: it reads EOF when the parent is gone. */
  lifeline: number;
}

/** How many CPUs this process may use (Tornado's `cpu_count`). */
export function cpuCount(): number {
  return availableParallelism();
}

// ------------------------------------------------------------ worker side

// Read once at start-up and removed from the environment, so processes this
// worker starts (tests, tools, its own gale programs) are not mistaken for
// workers of its parent.
const handoff: WorkerHandoff | null = readHandoff();
let nextInherited = 0;
let forked = false;
let supervising = false;

function readHandoff(): WorkerHandoff | null {
  const raw = process.env[WORKER_ENV];
  if (raw === undefined || !isMainThread) return null;
  delete process.env[WORKER_ENV];
  let parsed: WorkerHandoff;
  try {
    parsed = JSON.parse(raw) as WorkerHandoff;
  } catch {
    throw new Error(`${WORKER_ENV} is set but is not gale's worker hand-off (${JSON.stringify(raw.slice(0, 40))})`);
  }
  if (parsed.parentPid !== process.ppid) return null;
  watchLifeline(parsed.lifeline);
  return parsed;
}

// The parent keeps the other end of this pipe open and never writes: EOF
// means it is gone (even SIGKILLed), and a worker must not outlive its
// supervisor. SIGTERM rather than exit, so the program's own handlers run.
function watchLifeline(fd: number): void {
  setCloexec(fd); // not for this worker's own children
  const lifeline = new NetSocket({ fd, readable: true, writable: false });
  lifeline.on('data', () => { /* never written */ });
  lifeline.on('error', () => { /* treated like EOF below */ });
  lifeline.on('close', () => process.kill(process.pid, 'SIGTERM'));
  lifeline.unref();
}

/**
 * The task id of this worker process (0 ≤ id < numProcesses), or null in a
 * process that `forkProcesses` did not start (Tornado's `task_id`).
 */
export function taskId(): number | null {
  return handoff ? handoff.taskId : null;
}

/**
 * Called by `bindSockets` / `bindUnixSocket` before binding. In a worker
 * that has not reached `forkProcesses` yet, returns the fds the parent bound
 * for this same call (the n-th call gets the n-th group), made
 * close-on-exec again; otherwise null: bind as usual. `call` describes the
 * call's arguments; a mismatch means the worker's program took another path
 * than its parent's, which would hand a socket to the wrong call.
 */
export function takeInheritedFds(call: string): number[] | null {
  if (supervising) {
    throw new Error(`cannot bind (${call}) in the supervising parent: forkProcesses() / start(n) was called, so only the workers serve. `
      + 'Bind before forkProcesses so the workers inherit the sockets, or bind in each worker (taskId() !== null) with reusePort: true');
  }
  if (!handoff || forked) return null;
  const group = handoff.binds[nextInherited];
  if (!group) return null;
  if (group.call !== call) {
    throw new Error(`worker ${handoff.taskId}: bind call #${nextInherited + 1} is ${call} but the parent's was ${group.call}; `
      + 'a worker must make the same bind calls as its parent, in the same order, before forkProcesses');
  }
  nextInherited++;
  if (group.fds === null) return null; // the parent closed it before forking: bind anew
  // The exec cleared close-on-exec on inherited fds; set it again so this
  // worker's own children do not inherit its listening sockets.
  for (const fd of group.fds) setCloexec(fd);
  return group.fds;
}

// ------------------------------------------------------------ parent side

interface BoundGroup { call: string; sockets: Socket[] }
// Every bind made in this process before forkProcesses, in call order.
const bound: BoundGroup[] = [];
const handedOver = new WeakSet<Socket>();

/** Called by `bindSockets` / `bindUnixSocket` after binding: the group a later `forkProcesses` hands to workers. */
export function noteBound(call: string, sockets: Socket[]): void {
  if (!forked && !handoff) bound.push({ call, sockets });
}

/**
 * Whether `socket` belongs to the workers: true in a supervising parent for
 * every socket handed to them. The accept handler never accepts on those,
 * as Tornado's parent never returns from `fork_processes` to accept.
 */
export function isHandedOver(socket: Socket): boolean {
  return supervising && handedOver.has(socket);
}

/**
 * Checks a process count: null, undefined and 0 mean "one per CPU"
 * (`cpuCount()`), a positive integer is that many. Anything else is a
 * mistake, refused with a clear error (Tornado treats negatives like 0; a
 * negative count is almost always a bug, so gale says so).
 */
export function checkProcessCount(numProcesses: unknown, what = 'numProcesses'): number {
  if (numProcesses === null || numProcesses === undefined) return 0;
  if (typeof numProcesses !== 'number' || !Number.isInteger(numProcesses)) {
    throw new TypeError(`${what} must be an integer or null, got ${typeof numProcesses === 'number' ? numProcesses : typeof numProcesses}`);
  }
  if (numProcesses < 0) throw new RangeError(`${what} must be >= 0 (0 or null: one per CPU), got ${numProcesses}`);
  return numProcesses;
}

/**
 * Starts `numProcesses` worker processes (null or 0: one per CPU) sharing
 * the sockets bound so far, as Tornado's `fork_processes`.
 *
 * In a worker, returns its task id. In the parent, returns null and the
 * process becomes their supervisor (see the file comment): a worker that
 * dies by a signal or exits non-zero is restarted with the same task id, up
 * to `maxRestarts` restarts in all (then the others are stopped and the
 * parent exits 1); one that exits 0 is not; once all have exited cleanly the
 * parent calls `process.exit(0)`. SIGTERM or SIGINT to the parent stops all
 * workers (SIGTERM, then SIGKILL after 10 s) and the parent then dies of the
 * same signal.
 *
 * Can be called once per process, on the main thread only.
 */
export function forkProcesses(numProcesses: number | null, maxRestarts = 100): number | null {
  const count = checkProcessCount(numProcesses) || cpuCount();
  if (typeof maxRestarts !== 'number' || !Number.isInteger(maxRestarts) || maxRestarts < 0) {
    throw new TypeError(`maxRestarts must be an integer >= 0, got ${String(maxRestarts)}`);
  }
  if (!isMainThread) {
    throw new Error('forkProcesses() must be called on the main thread: worker processes re-run the program, '
      + 'which a worker thread cannot stand for; use one IOLoop per worker thread instead (see docs/multicore.md)');
  }
  if (forked) throw new Error('forkProcesses() has already been called in this process');
  forked = true;
  if (handoff) {
    // Inherited sockets the program never asked for would stay open unseen.
    for (const group of handoff.binds.slice(nextInherited)) {
      for (const fd of group.fds ?? []) close(fd);
    }
    nextInherited = handoff.binds.length;
    return handoff.taskId;
  }
  const script = process.argv[1];
  if (!script) {
    forked = false;
    throw new Error('forkProcesses() needs a program file to re-run in each worker (node -e / the REPL have none)');
  }
  const groups: InheritedGroup[] = [];
  const fds: number[] = [];
  for (const { call, sockets } of bound) {
    const open = sockets.filter((s) => s.fileno() >= 0);
    if (open.length !== sockets.length) {
      groups.push({ call, fds: null });
      continue;
    }
    groups.push({ call, fds: open.map((s) => s.fileno()) });
    for (const s of open) {
      handedOver.add(s);
      fds.push(s.fileno());
    }
  }
  supervising = true;
  startSupervisor({ numProcesses: count, maxRestarts, groups, fds });
  return null;
}
