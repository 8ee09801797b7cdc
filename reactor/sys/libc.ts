/**
 * libc through FFI: one declarative table of C signatures, bound once per
 * thread, and typed wrappers on top that return results or throw `OSError`.
 * It plays the part of CPython's C modules under Tornado (`os`, `socket`,
 * `select`, `fcntl`): everything outside `reactor/sys` calls these wrappers,
 * never the raw table `c`.
 *
 * One checked-call idiom, as asyncio's selectors.py has one: a wrapper hands
 * the raw result to `check()` (a negative result becomes the `OSError` for
 * errno) or, for a wait that a signal may cut short, to `checkWait()`
 * (EINTR means "nothing ready"). Wrappers that expect EAGAIN or retry EINTR
 * read `lastErrno()` themselves and say so.
 *
 * Conventions of the wrappers:
 * - a payload's size is its `length` (a Uint8Array's bytes): Node 20's
 *   optimising compiler inlines that, not `byteLength` (a generic load);
 * - out-params, sockaddrs and C strings travel as numbers into the thread's
 *   arena (./arena.ts); payloads (`readInto`, `writeBytes`) pass the JS
 *   Buffer itself, which through koffi costs what an address does;
 * - errno is read through a view of `__errno_location()` only after a -1;
 * - EAGAIN/EWOULDBLOCK is a normal outcome for nonblocking fds and comes back
 *   as `-1` (documented per wrapper), never as an exception;
 * - EINTR is retried where the call is cheap to retry, or reported as "no
 *   result" where the caller must go back to Node (the poll).
 */
import { bind, type CType, type NativeFunction } from './ffi.js';
import { CHUNK_SIZE, SCRATCH, SCRATCH_SIZE, chunk, outbox, scratch, viewAt } from './arena.js';
import { OSError, errno as E } from './errors.js';
import { SIGINFO_SIZE, WEXITED, WNOHANG, returncodeFromSiginfo, returncodeFromWaitStatus } from './siginfo.js';
import { FD_CLOEXEC, F_GETFL, F_SETFD, F_SETFL, O_CLOEXEC, O_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK } from './constants.js';

const linux = process.platform === 'linux';
const [VALUE, VALUE_SIZE] = SCRATCH.VALUE;
const OPTLEN = SCRATCH.OPTLEN[0];
const WAKE = SCRATCH.WAKE[0];
// `scratch` as native 32-bit words, for the ints staged on every connection
// (accept's socklen, setsockopt's and getsockopt's int): typed-array reads
// and stores are compiled inline, where Buffer's readUInt32LE/writeInt32LE
// are a generic property load and a call each. Every slot is 4-aligned.
const scratchWords = new Int32Array(scratch.view.buffer, scratch.view.byteOffset, SCRATCH_SIZE / 4);
const VALUE_WORD = VALUE / 4;
const OPTLEN_WORD = OPTLEN / 4;
const EPOLL_CTL_DEL = 2;
const bsd = !linux && process.platform !== 'win32';

type Signature = readonly [ret: CType, params: readonly CType[], symbol?: string, available?: boolean];

/**
 * Every C function gale calls, with its signature. `symbol` is set where the
 * JS name differs from the C one (two views of `write`, say); `available`
 * false keeps a platform's missing symbol unbound.
 */
const signatures = {
  // memory and errno
  errnoLocation: ['ptr', [], linux ? '__errno_location' : '__error'],
  memcpy: ['ptr', ['ptr', 'ptr', 'u64']],
  strlen: ['u64', ['ptr']],
  // file descriptors
  read: ['i64', ['i32', 'ptr', 'u64']],
  write: ['i64', ['i32', 'ptr', 'u64']],
  writeBuf: ['i64', ['i32', 'buf', 'u64'], 'write'],
  readBuf: ['i64', ['i32', 'buf', 'u64'], 'read'],
  close: ['i32', ['i32']],
  fcntl: ['i32', ['i32', 'i32', 'i32']],
  pipe: ['i32', ['ptr']],
  pipe2: ['i32', ['ptr', 'i32'], undefined, linux],
  eventfd: ['i32', ['u32', 'i32'], undefined, linux],
  // pollers
  epollCreate1: ['i32', ['i32'], 'epoll_create1', linux],
  epollCtl: ['i32', ['i32', 'i32', 'i32', 'ptr'], 'epoll_ctl', linux],
  epollWait: ['i32', ['i32', 'ptr', 'i32', 'i32'], 'epoll_wait', linux],
  poll: ['i32', ['ptr', 'u64', 'i32']],
  kqueue: ['i32', [], undefined, bsd],
  kevent: ['i32', ['i32', 'ptr', 'i32', 'ptr', 'i32', 'ptr'], undefined, bsd],
  // sockets
  socket: ['i32', ['i32', 'i32', 'i32']],
  socketpair: ['i32', ['i32', 'i32', 'i32', 'ptr']],
  bind: ['i32', ['i32', 'ptr', 'u32']],
  listen: ['i32', ['i32', 'i32']],
  accept: ['i32', ['i32', 'ptr', 'ptr']],
  accept4: ['i32', ['i32', 'ptr', 'ptr', 'i32'], undefined, linux],
  connect: ['i32', ['i32', 'ptr', 'u32']],
  shutdown: ['i32', ['i32', 'i32']],
  getsockopt: ['i32', ['i32', 'i32', 'i32', 'ptr', 'ptr']],
  setsockopt: ['i32', ['i32', 'i32', 'i32', 'ptr', 'u32']],
  getsockname: ['i32', ['i32', 'ptr', 'ptr']],
  getpeername: ['i32', ['i32', 'ptr', 'ptr']],
  send: ['i64', ['i32', 'ptr', 'u64', 'i32']],
  recv: ['i64', ['i32', 'ptr', 'u64', 'i32']],
  ifNametoindex: ['u32', ['ptr'], 'if_nametoindex'],
  // name resolution
  getaddrinfo: ['i32', ['ptr', 'ptr', 'ptr', 'ptr']],
  freeaddrinfo: ['void', ['ptr']],
  gaiStrerror: ['ptr', ['i32'], 'gai_strerror'],
  // libuv, exported by the node binary (Node coexistence)
  uvDefaultLoop: ['ptr', [], 'uv_default_loop'],
  uvBackendFd: ['i32', ['ptr'], 'uv_backend_fd'],
  uvBackendTimeout: ['i32', ['ptr'], 'uv_backend_timeout'],
  // socket.ts: send/recv straight from/into a caller's buffer when it is larger than the arena chunk
  sendBuf: ['i64', ['i32', 'buf', 'u64', 'i32'], 'send'],
  recvBuf: ['i64', ['i32', 'buf', 'u64', 'i32'], 'recv'],
  // child processes (net/subprocess.ts): spawning in ./spawn.ts, the wrappers
  // in the "child processes" block below, the siginfo_t layout in ./siginfo.ts
  dlsym: ['ptr', ['ptr', 'ptr']],
  posixSpawn: ['i32', ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr'], 'posix_spawn'],
  spawnFileActionsInit: ['i32', ['ptr'], 'posix_spawn_file_actions_init'],
  spawnFileActionsDestroy: ['i32', ['ptr'], 'posix_spawn_file_actions_destroy'],
  spawnFileActionsAdddup2: ['i32', ['ptr', 'i32', 'i32'], 'posix_spawn_file_actions_adddup2'],
  spawnFileActionsAddclose: ['i32', ['ptr', 'i32'], 'posix_spawn_file_actions_addclose'],
  spawnFileActionsAddchdir: ['i32', ['ptr', 'ptr'], 'posix_spawn_file_actions_addchdir_np'],
  spawnFileActionsAddclosefrom: ['i32', ['ptr', 'i32'], 'posix_spawn_file_actions_addclosefrom_np', linux],
  spawnattrInit: ['i32', ['ptr'], 'posix_spawnattr_init'],
  spawnattrDestroy: ['i32', ['ptr'], 'posix_spawnattr_destroy'],
  spawnattrSetflags: ['i32', ['ptr', 'i16'], 'posix_spawnattr_setflags'],
  spawnattrSetsigmask: ['i32', ['ptr', 'ptr'], 'posix_spawnattr_setsigmask'],
  spawnattrSetsigdefault: ['i32', ['ptr', 'ptr'], 'posix_spawnattr_setsigdefault'],
  sigemptyset: ['i32', ['ptr']],
  sigaddset: ['i32', ['ptr', 'i32']],
  // syscall(2) for pidfd_open and pidfd_send_signal, which glibc wraps only
  // from 2.36; variadic, so bound with five integer arguments (the kernel
  // ignores the extra ones; integer varargs pass like fixed ones on Linux:
  // ./uring-sys.ts says why that is correct and cheaper than koffi's variadic call).
  syscall: ['i64', ['i64', 'i64', 'i64', 'i64', 'i64'], undefined, linux],
  waitid: ['i32', ['i32', 'i32', 'ptr', 'i32']],
  waitpid: ['i32', ['i32', 'ptr', 'i32']],
  kill: ['i32', ['i32', 'i32']],
  // spec/netutil.spec.ts: lowers RLIMIT_NOFILE to provoke EMFILE (struct rlimit: two u64)
  getrlimit: ['i32', ['i32', 'ptr']],
  setrlimit: ['i32', ['i32', 'ptr']],
} as const satisfies Record<string, Signature>;

type Libc = { [K in keyof typeof signatures]: NativeFunction };

/**
 * The table, each function bound at its first call. koffi's binding of one
 * function costs ~4 KiB of memory (its native description, the JS function
 * and gale's counting wrapper), and a TCP server calls about a third of the
 * table: spawning, name resolution or kqueue are bound only by a program
 * that uses them. Until then a slot holds a stub that binds, puts the bound
 * function in its place and calls it; every caller reads the slot (`c.read`),
 * so the stub runs once per function. A symbol the library lacks still
 * throws at the call, as `bind` arranges.
 *
 * `read`, `write` and `close` are bound at once: a loop's teardown makes
 * them (draining and closing its waker) when the thread may be exiting, and
 * koffi cannot bind then — a worker that called `process.exit` before its
 * first read aborted with "FATAL ERROR: napi_throw" from the stub. For the
 * same reason a poller binds its wait when it is made (`bindEarly`), not at
 * its first wait: a worker whose loop starts as the process exits would
 * otherwise bind `poll` or `epoll_wait` while the thread is terminating.
 */
const BOUND_AT_ONCE: ReadonlySet<string> = new Set(['read', 'write', 'close']);

/** The binders of the functions not yet bound, by name (see `bindEarly`). */
const unbound = new Map<string, () => NativeFunction>();

function bindOnFirstCall(): Libc {
  // Made in one go by Object.fromEntries, which gives the object fast
  // properties; ~60 keyed stores one by one would put it in dictionary
  // mode, where the optimising compiler leaves every `c.readBuf` a generic
  // lookup (a LoadIC call per read, write and wait). Replacing a slot's
  // value later keeps it fast.
  let table: Record<string, NativeFunction> = {};
  const slots: Array<[string, NativeFunction]> = [];
  const bindAtOnce: Array<() => NativeFunction> = [];
  for (const [name, [ret, params, symbol, available]] of Object.entries(signatures) as Array<[string, Signature]>) {
    if (available === false) {
      slots.push([name, () => { throw new OSError(E.ENOSYS, symbol ?? name, `${symbol ?? name} is not available on ${process.platform}`); }]);
      continue;
    }
    const bindNow = (): NativeFunction => {
      const bound = bind('libc', symbol ?? name, ret, [...params]);
      table[name] = bound;
      boundNames.push(name);
      unbound.delete(name);
      return bound;
    };
    slots.push([name, (...args) => bindNow()(...args)]);
    unbound.set(name, bindNow);
    if (BOUND_AT_ONCE.has(name)) bindAtOnce.push(bindNow);
  }
  table = Object.fromEntries(slots);
  for (const bindNow of bindAtOnce) bindNow();
  return table as Libc;
}

const boundNames: string[] = [];

/**
 * Binds `names` now if they are still stubs: for a function that will be
 * first called at a moment koffi may not be able to bind (see
 * `BOUND_AT_ONCE`), such as a poller's wait.
 */
export function bindEarly(...names: Array<keyof Libc>): void {
  for (const name of names) unbound.get(name)?.();
}

/** The names of the table's functions this thread has bound so far (the rest cost nothing yet): for the specs. */
export function boundLibcFunctions(): readonly string[] {
  return boundNames;
}

/** The raw bound functions: for `reactor/sys` and the specs only; everything else calls the wrappers below. */
export const c: Libc = bindOnFirstCall();

// errno lives in thread-local storage; one view per thread reads it for ~5 ns.
const errnoView = new Int32Array(viewAt(c.errnoLocation() as number, 4).buffer, 0, 1);

/** The calling thread's errno, valid right after a call returned -1. */
export function lastErrno(): number {
  return errnoView[0]!;
}

/**
 * The checked call: returns `result`, or throws the OSError for errno when
 * it is negative (C's "-1 and errno"). Every wrapper below that has no
 * expected failure goes through it.
 */
export function check(result: number, syscall: string): number {
  if (result < 0) throw new OSError(lastErrno(), syscall);
  return result;
}

/**
 * The checked call for a wait (epoll_wait, poll, kevent): EINTR means a
 * signal cut the wait short, so it returns 0 ("nothing ready") and the loop
 * goes round again; any other failure throws.
 */
export function checkWait(result: number, syscall: string): number {
  if (result >= 0) return result;
  const err = lastErrno();
  if (err === E.EINTR) return 0;
  throw new OSError(err, syscall);
}

function isWouldBlock(err: number): boolean {
  return err === E.EAGAIN || err === E.EWOULDBLOCK;
}

// ---------------------------------------------------------------- fds

/**
 * Reads up to `max` bytes from `fd` into the shared chunk region
 * (`chunk.view`). Returns the count (0 at EOF), or -1 if the fd would block.
 * Copy the bytes out before the next read on this thread.
 */
export function readToChunk(fd: number, max: number = CHUNK_SIZE): number {
  for (;;) {
    const n = c.read(fd, chunk.addr, Math.min(max, CHUNK_SIZE)) as number;
    if (n >= 0) return n;
    const err = lastErrno();
    if (isWouldBlock(err)) return -1;
    if (err !== E.EINTR) throw new OSError(err, 'read');
  }
}

/**
 * Reads up to `length` bytes (default: all of it) straight into `target`
 * (zero-copy). Returns the count, 0 at EOF, or -1 if it would block.
 */
export function readInto(fd: number, target: Uint8Array, length: number = target.length): number {
  for (;;) {
    const n = c.readBuf(fd, target, length) as number;
    if (n >= 0) return n;
    const err = lastErrno();
    if (isWouldBlock(err)) return -1;
    if (err !== E.EINTR) throw new OSError(err, 'read');
  }
}

/**
 * Reads up to `length` bytes into the memory at `addr`: a JS Buffer's own,
 * off the V8 heap (ffi.ts `addressOf`), which the caller keeps referenced.
 * The same read as `readInto`, but an address is koffi's cheap argument:
 * ~280 fewer instructions per call than a Buffer (callgrind; docs/ffi.md,
 * "Epoll per round trip"). Returns as `readInto`.
 */
export function readAt(fd: number, addr: number, length: number): number {
  for (;;) {
    const n = c.read(fd, addr, length) as number;
    if (n >= 0) return n;
    const err = lastErrno();
    if (isWouldBlock(err)) return -1;
    if (err !== E.EINTR) throw new OSError(err, 'read');
  }
}

/**
 * Writes `data` to `fd`, passed zero-copy whatever its size: through koffi
 * a Buffer argument costs no more than an address (docs/ffi.md), so staging
 * it in the outbox would only add a copy. Returns the bytes written, or -1
 * if it would block.
 */
export function writeBytes(fd: number, data: Uint8Array): number {
  for (;;) {
    const n = c.writeBuf(fd, data, data.length) as number;
    if (n >= 0) return n;
    const err = lastErrno();
    if (isWouldBlock(err)) return -1;
    if (err !== E.EINTR) throw new OSError(err, 'write');
  }
}

/**
 * Writes several buffers with one syscall by coalescing them into the outbox
 * (up to its size); a single part is written from where it is, as
 * `writeBytes` does. Returns the bytes written, or -1 if it would block.
 */
export function writeGather(fd: number, parts: readonly Uint8Array[], first = 0, firstOffset = 0): number {
  if (first === parts.length - 1) {
    const only = parts[first]!;
    return writeBytes(fd, firstOffset ? only.subarray(firstOffset) : only);
  }
  let length = 0;
  const view = outbox.view;
  for (let i = first; i < parts.length && length < CHUNK_SIZE; i++) {
    const part = i === first && firstOffset ? parts[i]!.subarray(firstOffset) : parts[i]!;
    const take = Math.min(part.length, CHUNK_SIZE - length);
    view.set(take === part.length ? part : part.subarray(0, take), length);
    length += take;
  }
  for (;;) {
    const n = c.write(fd, outbox.addr, length) as number;
    if (n >= 0) return n;
    const err = lastErrno();
    if (isWouldBlock(err)) return -1;
    if (err !== E.EINTR) throw new OSError(err, 'write');
  }
}

/** Closes `fd`. EINTR is not retried: on Linux the fd is gone either way. */
export function close(fd: number): void {
  if ((c.close(fd) as number) < 0) {
    const err = lastErrno();
    if (err !== E.EINTR) throw new OSError(err, 'close');
  }
}

/** Sets or clears O_NONBLOCK. */
export function setNonblocking(fd: number, on: boolean): void {
  const flags = check(c.fcntl(fd, F_GETFL, 0) as number, 'fcntl');
  const next = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
  if (next !== flags) check(c.fcntl(fd, F_SETFL, next) as number, 'fcntl');
}

/** Whether O_NONBLOCK is set. */
export function isNonblocking(fd: number): boolean {
  return (check(c.fcntl(fd, F_GETFL, 0) as number, 'fcntl') & O_NONBLOCK) !== 0;
}

/** Whether `fd` was opened read-only (O_ACCMODE is O_RDONLY): a pipe's read end, not a socket or tty. */
export function isReadOnly(fd: number): boolean {
  return (check(c.fcntl(fd, F_GETFL, 0) as number, 'fcntl') & 3) === 0; // O_ACCMODE, O_RDONLY
}

/** Marks `fd` close-on-exec (platforms without the atomic flags). */
export function setCloexec(fd: number): void {
  check(c.fcntl(fd, F_SETFD, FD_CLOEXEC) as number, 'fcntl');
}

/** A nonblocking, close-on-exec pipe: `[readFd, writeFd]`. */
export function pipe(): [number, number] {
  if (linux) {
    check(c.pipe2(scratch.addr + VALUE, O_NONBLOCK | O_CLOEXEC) as number, 'pipe2');
  } else {
    check(c.pipe(scratch.addr + VALUE) as number, 'pipe');
  }
  const fds: [number, number] = [scratch.view.readInt32LE(VALUE), scratch.view.readInt32LE(VALUE + 4)];
  if (!linux) for (const fd of fds) { setNonblocking(fd, true); setCloexec(fd); }
  return fds;
}

/** A nonblocking, close-on-exec eventfd (Linux). */
export function eventfd(): number {
  return check(c.eventfd(0, O_NONBLOCK | O_CLOEXEC) as number, 'eventfd');
}

// ---------------------------------------------------------------- sockets

/** socket(2), close-on-exec. Nonblocking only when `nonblocking` is set. */
export function socket(family: number, type: number, proto: number, nonblocking: boolean): number {
  const flags = linux ? SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0) : 0;
  const fd = check(c.socket(family, type | flags, proto) as number, 'socket');
  if (!linux) { setCloexec(fd); if (nonblocking) setNonblocking(fd, true); }
  return fd;
}

/** socketpair(2): two connected, close-on-exec sockets. */
export function socketpair(family: number, type: number, nonblocking: boolean): [number, number] {
  const flags = linux ? SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0) : 0;
  check(c.socketpair(family, type | flags, 0, scratch.addr + VALUE) as number, 'socketpair');
  const fds: [number, number] = [scratch.view.readInt32LE(VALUE), scratch.view.readInt32LE(VALUE + 4)];
  if (!linux) for (const fd of fds) { setCloexec(fd); if (nonblocking) setNonblocking(fd, true); }
  return fds;
}

/** setsockopt with an int value. */
export function setsockoptInt(fd: number, level: number, option: number, value: number): void {
  scratchWords[VALUE_WORD] = value;
  check(c.setsockopt(fd, level, option, scratch.addr + VALUE, 4) as number, 'setsockopt');
}

/** setsockopt with raw bytes. */
export function setsockoptBytes(fd: number, level: number, option: number, value: Uint8Array): void {
  if (value.byteLength > VALUE_SIZE) throw new OSError(E.EINVAL, 'setsockopt');
  scratch.view.set(value, VALUE);
  check(c.setsockopt(fd, level, option, scratch.addr + VALUE, value.byteLength) as number, 'setsockopt');
}

/** getsockopt returning an int. */
export function getsockoptInt(fd: number, level: number, option: number): number {
  scratchWords[VALUE_WORD] = 0;
  scratchWords[OPTLEN_WORD] = 4;
  check(c.getsockopt(fd, level, option, scratch.addr + VALUE, scratch.addr + OPTLEN) as number, 'getsockopt');
  return scratchWords[VALUE_WORD]!;
}

/** getsockopt returning up to `buflen` raw bytes. */
export function getsockoptBytes(fd: number, level: number, option: number, buflen: number): Buffer {
  if (buflen > VALUE_SIZE) throw new OSError(E.EINVAL, 'getsockopt');
  scratch.view.writeUInt32LE(buflen, OPTLEN);
  check(c.getsockopt(fd, level, option, scratch.addr + VALUE, scratch.addr + OPTLEN) as number, 'getsockopt');
  return Buffer.from(scratch.view.subarray(VALUE, VALUE + scratch.view.readUInt32LE(OPTLEN)));
}

/** Where sockaddrs are staged in `scratch` (its SOCKADDR slot): encode there, then bind/connect. */
export const SOCKADDR_OFFSET = SCRATCH.SOCKADDR[0];
const SOCKADDR_SIZE = SCRATCH.SOCKADDR[1];
const SOCKLEN_OFFSET = SCRATCH.SOCKLEN[0];
const SOCKLEN_WORD = SOCKLEN_OFFSET / 4;

/** bind(2) with the sockaddr already staged at SOCKADDR_OFFSET. */
export function bindStaged(fd: number, length: number): void {
  check(c.bind(fd, scratch.addr + SOCKADDR_OFFSET, length) as number, 'bind');
}

/** connect(2) with the staged sockaddr. Returns 0 or the errno (EINPROGRESS for nonblocking). */
export function connectStaged(fd: number, length: number): number {
  for (;;) {
    if ((c.connect(fd, scratch.addr + SOCKADDR_OFFSET, length) as number) === 0) return 0;
    const err = lastErrno();
    if (err !== E.EINTR) return err;
  }
}

/** listen(2). */
export function listen(fd: number, backlog: number): void {
  check(c.listen(fd, backlog) as number, 'listen');
}

/**
 * accept(2) a connection as a nonblocking, close-on-exec fd. The peer's
 * sockaddr is left staged at SOCKADDR_OFFSET with its length returned in
 * `acceptedAddressLength`. Returns -1 if none is pending.
 */
export function accept(fd: number, nonblocking = true): number {
  for (;;) {
    scratchWords[SOCKLEN_WORD] = SOCKADDR_SIZE;
    const conn = linux
      ? c.accept4(fd, scratch.addr + SOCKADDR_OFFSET, scratch.addr + SOCKLEN_OFFSET, SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0)) as number
      : c.accept(fd, scratch.addr + SOCKADDR_OFFSET, scratch.addr + SOCKLEN_OFFSET) as number;
    if (conn >= 0) {
      if (!linux) { setCloexec(conn); if (nonblocking) setNonblocking(conn, true); }
      return conn;
    }
    const err = lastErrno();
    if (isWouldBlock(err)) return -1;
    // A connection reset before we accepted it is not the listener's failure.
    if (err === E.EINTR || err === E.ECONNABORTED) continue;
    throw new OSError(err, 'accept');
  }
}

/** The length of the sockaddr staged by the last accept/getsockname/getpeername. */
export function stagedAddressLength(): number {
  return scratchWords[SOCKLEN_WORD]!;
}

/** getsockname(2)/getpeername(2): stages the sockaddr and returns its length. */
export function sockname(fd: number, peer: boolean): number {
  scratchWords[SOCKLEN_WORD] = SOCKADDR_SIZE;
  const fn = peer ? c.getpeername : c.getsockname;
  check(fn(fd, scratch.addr + SOCKADDR_OFFSET, scratch.addr + SOCKLEN_OFFSET) as number, peer ? 'getpeername' : 'getsockname');
  return stagedAddressLength();
}

/** shutdown(2). */
export function shutdown(fd: number, how: number): void {
  check(c.shutdown(fd, how) as number, 'shutdown');
}

/**
 * send(2), Python's `socket.send`: payloads up to a chunk are staged in the
 * outbox (a number argument is the cheap call), larger ones go zero-copy.
 * Returns the bytes sent (maybe short). EINTR is retried; EAGAIN throws,
 * as Python raises `BlockingIOError`.
 */
export function send(fd: number, data: Uint8Array, flags: number): number {
  const length = data.byteLength;
  const small = length <= CHUNK_SIZE;
  if (small) outbox.view.set(data, 0);
  for (;;) {
    const n = (small ? c.send(fd, outbox.addr, length, flags) : c.sendBuf(fd, data, length, flags)) as number;
    if (n >= 0) return n;
    const err = lastErrno();
    if (err !== E.EINTR) throw new OSError(err, 'send');
  }
}

/**
 * recv(2) of up to `length` (at most CHUNK_SIZE) bytes into `chunk.view`.
 * Returns the count, 0 when the peer closed. EINTR is retried; EAGAIN throws.
 */
export function recvToChunk(fd: number, length: number, flags: number): number {
  for (;;) {
    const n = c.recv(fd, chunk.addr, Math.min(length, CHUNK_SIZE), flags) as number;
    if (n >= 0) return n;
    const err = lastErrno();
    if (err !== E.EINTR) throw new OSError(err, 'recv');
  }
}

/** recv(2) of up to `length` bytes straight into `target` (zero-copy, for more than a chunk). As `recvToChunk`. */
export function recvToBuffer(fd: number, target: Uint8Array, length: number, flags: number): number {
  for (;;) {
    const n = c.recvBuf(fd, target, length, flags) as number;
    if (n >= 0) return n;
    const err = lastErrno();
    if (err !== E.EINTR) throw new OSError(err, 'recv');
  }
}

// ---------------------------------------------------------------- pollers
// The event arrays are the caller's regions (struct layouts live next to
// the poller that uses them); these wrappers only pass addresses.

/** epoll_create1(2) (Linux). */
export function epollCreate1(flags: number): number {
  return check(c.epollCreate1(flags) as number, 'epoll_create1');
}

/** epoll_ctl(2) with the epoll_event at `event`. */
export function epollCtl(epfd: number, op: number, fd: number, event: number): void {
  check(c.epollCtl(epfd, op, fd, event) as number, 'epoll_ctl');
}

/**
 * epoll_ctl(2) EPOLL_CTL_DEL. An fd closed before its handler was removed
 * is already out of the set (EBADF, ENOENT): not a failure, as asyncio's
 * selectors ignore it too. Checked here without building an error, since
 * closing a connection takes this path.
 */
export function epollCtlDel(epfd: number, fd: number, event: number): void {
  if ((c.epollCtl(epfd, EPOLL_CTL_DEL, fd, event) as number) >= 0) return;
  const err = lastErrno();
  if (err !== E.EBADF && err !== E.ENOENT) throw new OSError(err, 'epoll_ctl');
}

/** epoll_wait(2) into the array at `events`: the ready count, 0 when a signal interrupted the wait. */
export function epollWait(epfd: number, events: number, maxEvents: number, timeoutMs: number): number {
  return checkWait(c.epollWait(epfd, events, maxEvents, timeoutMs) as number, 'epoll_wait');
}

/** poll(2) over the pollfd array at `fds`: the ready count, 0 when a signal interrupted the wait. */
export function poll(fds: number, count: number, timeoutMs: number): number {
  return checkWait(c.poll(fds, count, timeoutMs) as number, 'poll');
}

/** kqueue(2) (macOS, BSD). */
export function kqueue(): number {
  return check(c.kqueue() as number, 'kqueue');
}

/** kevent(2) applying `count` changes from the array at `changes`, waiting for nothing. */
export function keventChange(kq: number, changes: number, count: number): void {
  check(c.kevent(kq, changes, count, 0, 0, 0) as number, 'kevent');
}

/**
 * kevent(2) waiting for events into the array at `events`; `timeout` is the
 * address of a timespec, or 0 to wait forever. The ready count, 0 when a
 * signal interrupted the wait.
 */
export function keventWait(kq: number, events: number, maxEvents: number, timeout: number): number {
  return checkWait(c.kevent(kq, 0, 0, events, maxEvents, timeout) as number, 'kevent');
}

// ---------------------------------------------------------------- the waker

/**
 * Writes one wake-up to a waker fd from scratch's WAKE slot: the 64-bit
 * counter 1 to an eventfd (`length` 8), one byte to a pipe (`length` 1).
 * EAGAIN (counter or pipe full) and EINTR count as done: the reader has not
 * drained yet, so it is awake anyway.
 */
export function writeWake(fd: number, length: 8 | 1): void {
  const view = scratch.view;
  view.writeUInt32LE(1, WAKE);
  view.writeUInt32LE(0, WAKE + 4);
  if ((c.write(fd, scratch.addr + WAKE, length) as number) < 0) {
    const err = lastErrno();
    if (err !== E.EAGAIN && err !== E.EINTR) throw new OSError(err, 'write');
  }
}

/**
 * Drains a waker fd into scratch's WAKE slot: one read for an eventfd
 * (`once`), reads until empty for a pipe. Never throws: a failed read means
 * there is nothing (more) to drain.
 */
export function drainWake(fd: number, once: boolean): void {
  for (;;) {
    const n = c.read(fd, scratch.addr + WAKE, 8) as number;
    if (once || n <= 0) return;
  }
}

// ---------------------------------------------------------------- name resolution

/**
 * getaddrinfo(3) over caller-staged memory: `node`/`service` are C strings
 * (0 for none), `hints` an addrinfo, `result` where the list pointer lands.
 * Returns the status (0, or an EAI_* number, which is not an errno); after
 * EAI_SYSTEM the errno is in `lastErrno()` until the next call.
 */
export function getaddrinfo(node: number, service: number, hints: number, result: number): number {
  return c.getaddrinfo(node, service, hints, result) as number;
}

/** freeaddrinfo(3). */
export function freeaddrinfo(list: number): void {
  c.freeaddrinfo(list);
}

/** gai_strerror(3): the text for an EAI_* status ('' if libc has none). */
export function gaiStrerror(status: number): string {
  return cString(c.gaiStrerror(status) as number);
}

// ---------------------------------------------------------------- child processes
// For net/subprocess.ts. Spawning itself (file actions, argv/envp in native
// memory) is ./spawn.ts; the siginfo_t and wait-status layouts are ./siginfo.ts.

const SIGINFO = SCRATCH.SIGINFO[0];
const SYS_PIDFD_SEND_SIGNAL = 424; // the same number on every Linux arch (asm-generic numbering)
const SYS_PIDFD_OPEN = 434;

/**
 * Whether libc (or the running program) has the C function `name`:
 * dlsym(RTLD_DEFAULT, name), for functions newer than the oldest glibc gale
 * runs on (posix_spawn_file_actions_addchdir_np: 2.29; addclosefrom_np:
 * 2.34). Only asked on Linux (RTLD_DEFAULT is 0 there); elsewhere true.
 */
export function hasSymbol(name: string): boolean {
  if (!linux) return true;
  const length = Buffer.byteLength(name);
  if (length >= VALUE_SIZE) return false;
  scratch.view.write(name, VALUE, 'utf8');
  scratch.view[VALUE + length] = 0;
  return (c.dlsym(0, scratch.addr + VALUE) as number) !== 0;
}

/**
 * A close-on-exec pipe whose ends are blocking, `[readFd, writeFd]`:
 * Tornado's `_pipe_cloexec`. The end a child gets must block (programs
 * expect blocking stdio; O_NONBLOCK belongs to each end's open file, so the
 * parent's end can still be made nonblocking alone).
 */
export function pipeCloexec(): [number, number] {
  if (linux) {
    check(c.pipe2(scratch.addr + VALUE, O_CLOEXEC) as number, 'pipe2');
  } else {
    check(c.pipe(scratch.addr + VALUE) as number, 'pipe');
  }
  const fds: [number, number] = [scratch.view.readInt32LE(VALUE), scratch.view.readInt32LE(VALUE + 4)];
  if (!linux) for (const fd of fds) setCloexec(fd);
  return fds;
}

/**
 * pidfd_open(2): an fd that refers to the process `pid` (close-on-exec,
 * readable once the process has exited). Linux ≥ 5.3; ENOSYS before, EPERM
 * where a seccomp filter forbids it.
 */
export function pidfdOpen(pid: number): number {
  return check(Number(c.syscall(SYS_PIDFD_OPEN, pid, 0, 0, 0)), 'pidfd_open');
}

/** pidfd_send_signal(2): sends `signal` to the process a pidfd refers to (no pid-reuse race). */
export function pidfdSendSignal(pidfd: number, signal: number): void {
  check(Number(c.syscall(SYS_PIDFD_SEND_SIGNAL, pidfd, signal, 0, 0)), 'pidfd_send_signal');
}

/** kill(2). */
export function kill(pid: number, signal: number): void {
  check(c.kill(pid, signal) as number, 'kill');
}

/**
 * waitid(2) for an ended child (`WEXITED`, plus `WNOHANG` unless `block`):
 * `idtype` P_PIDFD with a pidfd, or P_PID with a pid. Reaps the child and
 * returns its returncode (exit status, or -signal), or null if it has not
 * ended yet (only without `block`). EINTR is retried.
 */
export function waitidChild(idtype: number, id: number, block: boolean): number | null {
  const view = scratch.view;
  for (;;) {
    view.fill(0, SIGINFO, SIGINFO + SIGINFO_SIZE);
    if ((c.waitid(idtype, id, scratch.addr + SIGINFO, WEXITED | (block ? 0 : WNOHANG)) as number) === 0) {
      return returncodeFromSiginfo(view, SIGINFO);
    }
    const err = lastErrno();
    if (err !== E.EINTR) throw new OSError(err, 'waitid');
  }
}

/**
 * waitpid(2) for the child `pid` (with WNOHANG unless `block`): reaps it and
 * returns its returncode, or null if it has not ended yet. EINTR is retried.
 * The portable path, for platforms without pidfds.
 */
export function waitpidChild(pid: number, block: boolean): number | null {
  const view = scratch.view;
  for (;;) {
    view.writeInt32LE(0, SIGINFO);
    const result = c.waitpid(pid, scratch.addr + SIGINFO, block ? 0 : WNOHANG) as number;
    if (result > 0) return returncodeFromWaitStatus(view.readInt32LE(SIGINFO));
    if (result === 0) return null;
    const err = lastErrno();
    if (err !== E.EINTR) throw new OSError(err, 'waitpid');
  }
}

// ---------------------------------------------------------------- libuv (Node coexistence)
// Symbols the node binary exports; none of them sets errno.

/** `uv_default_loop()`: the address of Node's own libuv loop. */
export function uvDefaultLoop(): number {
  return c.uvDefaultLoop() as number;
}

/** `uv_backend_fd(loop)`: the epoll/kqueue fd libuv polls (-1 where it has none). */
export function uvBackendFd(loop: number): number {
  return c.uvBackendFd(loop) as number;
}

/** `uv_backend_timeout(loop)`: how long libuv would block now, in ms (-1: forever, 0: not at all). */
export function uvBackendTimeout(loop: number): number {
  return c.uvBackendTimeout(loop) as number;
}

/**
 * Copies `length` bytes at a native address into a new Buffer, from a view
 * of that memory (no FFI call; not through the chunk, which name resolution
 * would otherwise make in every server that binds a host name).
 */
export function peek(addr: number, length: number): Buffer {
  if (length > CHUNK_SIZE) throw new RangeError('peek is limited to one chunk');
  return length === 0 ? Buffer.alloc(0) : Buffer.from(viewAt(addr, length));
}

/** Reads the NUL-terminated C string at `addr`. */
export function cString(addr: number): string {
  if (!addr) return '';
  const length = c.strlen(addr) as number;
  return peek(addr, Math.min(length, CHUNK_SIZE)).toString('utf8');
}
