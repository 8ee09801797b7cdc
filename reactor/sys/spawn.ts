/**
 * Starting a child process with posix_spawn(3): the part of CPython's
 * `_posixsubprocess.fork_exec` that gale needs under `Subprocess`.
 *
 * Why posix_spawn, and not Node's `child_process.spawn`: with Node's, libuv
 * owns the child. Its SIGCHLD handler waitpid()s every pid it started, so it
 * would race gale's own waitid for the exit status (whichever reaps first
 * wins; the other sees ECHILD), and the child's pipes would be libuv's. A
 * child started here is unknown to libuv: gale alone reaps it (through a
 * pidfd on the loop, net/child-watch.ts), and its stdio is whatever fds gale
 * maps in. Why not fork(2) from JS: a fork copies only the calling thread of
 * a process that runs several (V8's, libuv's), whose locks may be held;
 * glibc's posix_spawn clones with CLONE_VM|CLONE_VFORK onto its own stack and
 * only execs, which is safe in a threaded process, and since glibc 2.24 it
 * returns the exec's errno (ENOENT for a missing program), so a failure is
 * reported by the call itself, as Python's Popen raises it.
 *
 * The child starts as Python's Popen starts it (close_fds=True,
 * restore_signals=True): the requested dup2s onto 0/1/2, then every other fd
 * closed (addclosefrom_np, glibc ≥ 2.34; with an older libc, the mapped
 * fds are closed and the rest relies on every fd gale and Node open being
 * close-on-exec), an empty signal mask (a worker
 * thread's mask would otherwise be inherited) and every standard signal at
 * its default action (Node ignores SIGPIPE; ignored signals survive exec).
 *
 * Everything C reads — argv, envp, the strings, the file actions, the
 * attributes, the pid out-param — lives in one native region allocated for
 * the call and freed after it.
 */
import { allocRegion, freeRegion, type Region } from './arena.js';
import { c, hasSymbol } from './libc.js';
import { OSError, errno as E } from './errors.js';

/** What to start. */
export interface SpawnRequest {
  /** The program to execute: a path (relative paths resolve against `cwd`). */
  path: string;
  /** The argument vector (argv[0] included). */
  argv: readonly string[];
  /** The environment, as `NAME=value` strings. */
  envp: readonly string[];
  /** `[from, to]` pairs applied with dup2 in the child, in order. */
  dup2: ReadonlyArray<readonly [from: number, to: number]>;
  /** The child's working directory, or null for the parent's. */
  cwd: string | null;
}

// Room for each opaque C object (glibc x86_64: file actions 80 B, attributes
// 336 B, sigset_t 128 B; macOS/BSD: a pointer, a pointer, 4 B).
const FILE_ACTIONS_SIZE = 256;
const ATTR_SIZE = 512;
const SIGSET_SIZE = 128;
const FILE_ACTIONS = 0;
const ATTR = FILE_ACTIONS + FILE_ACTIONS_SIZE;
const SIGMASK = ATTR + ATTR_SIZE;
const SIGDEFAULT = SIGMASK + SIGSET_SIZE;
const PID = SIGDEFAULT + SIGSET_SIZE;
const POINTERS = PID + 8;

// <spawn.h>: the same values on glibc, macOS and the BSDs.
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
/** The standard signals (1–31 on Linux, macOS, BSD); the real-time ones are glibc's or unused. */
const LAST_STANDARD_SIGNAL = 31;

let closefromAvailable: boolean | undefined;
let chdirAvailable: boolean | undefined;

/** Throws the OSError for a posix_spawn family return value (they return the errno, not -1). */
function checkReturn(result: number, call: string): void {
  if (result !== 0) throw new OSError(result, call);
}

/** Lays out argv, envp and the strings after POINTERS; returns the addresses of argv, envp, path and cwd (0: none). */
function writeStrings(region: Region, request: SpawnRequest): [number, number, number, number] {
  const { view, addr } = region;
  const argvAt = POINTERS;
  const envpAt = argvAt + 8 * (request.argv.length + 1);
  let text = envpAt + 8 * (request.envp.length + 1);
  const putString = (s: string): number => {
    const at = text;
    text += view.write(s, at, 'utf8');
    view[text++] = 0;
    return addr + at;
  };
  const putVector = (at: number, strings: readonly string[]): void => {
    strings.forEach((s, i) => view.writeBigUInt64LE(BigInt(putString(s)), at + 8 * i));
    view.writeBigUInt64LE(0n, at + 8 * strings.length);
  };
  putVector(argvAt, request.argv);
  putVector(envpAt, request.envp);
  return [addr + argvAt, addr + envpAt, putString(request.path), request.cwd === null ? 0 : putString(request.cwd)];
}

/** The region's size: the fixed part, the pointer arrays, every string with its NUL. */
function regionSize(request: SpawnRequest): number {
  const strings = [request.path, request.cwd ?? '', ...request.argv, ...request.envp];
  const text = strings.reduce((n, s) => n + Buffer.byteLength(s, 'utf8') + 1, 0);
  return POINTERS + 8 * (request.argv.length + request.envp.length + 2) + text;
}

/**
 * Starts the child; returns its pid. Throws `OSError` (syscall
 * `posix_spawn`) when the child could not be started, including when the
 * exec failed (ENOENT, EACCES, ENOEXEC) or a file action did (a dup2 of a
 * closed fd: EBADF).
 */
export function spawn(request: SpawnRequest): number {
  if (request.cwd !== null && !(chdirAvailable ??= hasSymbol('posix_spawn_file_actions_addchdir_np'))) {
    throw new OSError(E.ENOSYS, 'posix_spawn_file_actions_addchdir_np',
      'cwd needs posix_spawn_file_actions_addchdir_np (glibc >= 2.29), which this libc lacks');
  }
  const region = allocRegion(regionSize(request));
  const { addr, view } = region;
  let actionsReady = false;
  let attrReady = false;
  try {
    const [argv, envp, path, cwd] = writeStrings(region, request);
    checkReturn(c.spawnFileActionsInit(addr + FILE_ACTIONS) as number, 'posix_spawn_file_actions_init');
    actionsReady = true;
    for (const [from, to] of request.dup2) {
      checkReturn(c.spawnFileActionsAdddup2(addr + FILE_ACTIONS, from, to) as number, 'posix_spawn_file_actions_adddup2');
    }
    if (cwd !== 0) {
      checkReturn(c.spawnFileActionsAddchdir(addr + FILE_ACTIONS, cwd) as number, 'posix_spawn_file_actions_addchdir_np');
    }
    if (closefromAvailable ??= hasSymbol('posix_spawn_file_actions_addclosefrom_np')) {
      checkReturn(c.spawnFileActionsAddclosefrom(addr + FILE_ACTIONS, 3) as number, 'posix_spawn_file_actions_addclosefrom_np');
    } else {
      // At least the fds just mapped: a caller's fd need not be close-on-exec.
      for (const from of new Set(request.dup2.map(([from]) => from).filter((fd) => fd > 2))) {
        checkReturn(c.spawnFileActionsAddclose(addr + FILE_ACTIONS, from) as number, 'posix_spawn_file_actions_addclose');
      }
    }
    checkReturn(c.spawnattrInit(addr + ATTR) as number, 'posix_spawnattr_init');
    attrReady = true;
    c.sigemptyset(addr + SIGMASK);
    c.sigemptyset(addr + SIGDEFAULT);
    for (let signal = 1; signal <= LAST_STANDARD_SIGNAL; signal++) c.sigaddset(addr + SIGDEFAULT, signal);
    checkReturn(c.spawnattrSetsigmask(addr + ATTR, addr + SIGMASK) as number, 'posix_spawnattr_setsigmask');
    checkReturn(c.spawnattrSetsigdefault(addr + ATTR, addr + SIGDEFAULT) as number, 'posix_spawnattr_setsigdefault');
    checkReturn(c.spawnattrSetflags(addr + ATTR, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) as number, 'posix_spawnattr_setflags');
    view.writeInt32LE(0, PID);
    checkReturn(c.posixSpawn(addr + PID, path, addr + FILE_ACTIONS, addr + ATTR, argv, envp) as number, 'posix_spawn');
    return view.readInt32LE(PID);
  } finally {
    if (attrReady) c.spawnattrDestroy(addr + ATTR);
    if (actionsReady) c.spawnFileActionsDestroy(addr + FILE_ACTIONS);
    freeRegion(region);
  }
}
