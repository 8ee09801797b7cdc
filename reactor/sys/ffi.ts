/**
 * The FFI backend: the one place that talks to ffi-rs. No Tornado module
 * matches it: under Tornado this boundary is CPython's C extension modules.
 *
 * Everything above this file sees a backend-neutral `bind(library, name,
 * returnType, paramTypes)` that returns a plain JS function over numbers and
 * buffers, so another FFI binding could be put here without touching the rest.
 *
 * Why the native binding and not ffi-rs's `load`/`define`: the exported
 * wrappers rebuild the call descriptor on every call (~3 µs of JS work). The
 * native `load` accepts one pre-built descriptor whose `paramsValue` array we
 * mutate in place before each call, which is safe for synchronous calls (the
 * native side keeps nothing). See docs/ffi.md for the costs and for
 * the descriptor mistakes that abort the process instead of throwing.
 */
import { createRequire } from 'node:module';
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads';

const require = createRequire(import.meta.url);

/** The C types the syscall layer uses. Pointers travel as plain numbers. */
export type CType =
  | 'void'
  | 'i16'
  | 'i32'
  | 'u32'
  | 'i64'
  | 'u64'
  | 'ptr' // an address as a number (u64)
  | 'buf' // a Buffer/Uint8Array passed zero-copy
  | 'external'; // an opaque native pointer object (only for createExternalBuffer)

/** A bound C function: numbers (and buffers for `buf` params) in, a number out. */
export type NativeFunction = (...args: Array<number | Uint8Array>) => any;

interface NativeBinding {
  DataType: Record<string, number>;
  FFITypeTag: Record<string, number>;
  open(params: { library: string; path: string }): void;
  load(params: object): unknown;
  createExternalBuffer(external: unknown, length: number): Buffer;
}

/**
 * Counts every FFI call made on this thread (`calls`; `IOLoop.stats()` reads
 * deltas of it) and, of those, the calls that passed a Buffer argument
 * (`bufferCalls`): each of those costs ~1.7 µs more than passing an address
 * as a number (docs/ffi.md), so the hot paths keep it at zero and the specs
 * count it.
 */
export const ffiCounter = { calls: 0, bufferCalls: 0 };

function platformPackage(): string {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    const libc = report?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
    return `@yuuang/ffi-rs-linux-${arch}-${libc}`;
  }
  if (platform === 'darwin') return `@yuuang/ffi-rs-darwin-${arch}`;
  if (platform === 'win32') return `@yuuang/ffi-rs-win32-${arch}-msvc`;
  return `@yuuang/ffi-rs-${platform}-${arch}`;
}

function loadNativeBinding(): NativeBinding {
  // ffi-rs's index.js picks the same package; requiring it first makes npm's
  // resolution (and its error message for an unsupported platform) apply.
  require('ffi-rs');
  const ffiRequire = createRequire(require.resolve('ffi-rs'));
  return ffiRequire(platformPackage()) as NativeBinding;
}

// Set (through setEnvironmentData, which every Worker started afterwards
// inherits) once the main thread has loaded gale's FFI layer.
const READY_KEY = 'gale:ffi-ready';

/**
 * A worker thread may load ffi-rs only after the main thread has: loaded
 * first in a worker, ffi-rs crashes the whole process (its first call
 * unwraps a library map that only exists once the main thread opened
 * libraries, and even without a call its addon segfaults when the worker
 * exits). A clear error instead, naming the fix.
 */
function checkThreadMayLoad(): void {
  if (isMainThread || getEnvironmentData(READY_KEY) === true) return;
  throw new Error('gale must be imported on the main thread before a worker thread imports it: add '
    + "`import 'gale'` (or any gale module) to the main module, before it creates the Worker. "
    + 'ffi-rs keeps one library table for the whole process, which only the main thread may fill, '
    + 'and loaded first in a worker it crashes the process.');
}

checkThreadMayLoad();
const native = loadNativeBinding();
if (isMainThread) setEnvironmentData(READY_KEY, true);
const DT = native.DataType;

const openLibraries = new Set<string>();

/**
 * Opens a shared library under a short name. `path: ''` opens the running
 * program itself: libc, plus the OpenSSL and libuv symbols node exports.
 */
export function openLibrary(library: string, path: string): void {
  if (openLibraries.has(library)) return;
  // ffi-rs keeps one unlocked library map for all threads: only the main
  // thread may write it. Workers use what the main thread opened (gale's
  // modules open their libraries on import, before any worker starts).
  if (isMainThread) native.open({ library, path });
  openLibraries.add(library);
}

// Each symbol the main thread put in ffi-rs's table is published under its
// own key (environment data is copied into each Worker when it is created;
// one key per symbol keeps a bind O(1)).
const PRIMED_PREFIX = 'gale:ffi-primed:';
const primedHere = new Set<string>();
let warnedUnprimed = false;

/**
 * Puts `funcName` of `library` into ffi-rs's symbol table without calling it.
 *
 * Why: ffi-rs 1.3.7 looks a symbol up on each `load` in one process-wide
 * HashMap per library (`get_symbol`: `func_map.entry(name).or_insert_with(dlsym)`),
 * with no lock. A function's first call anywhere inserts into that map (and
 * may grow and move it) while every other thread's calls read it: worker
 * threads making first calls at once (several workers starting children,
 * whose posix_spawn_* functions the main thread never calls) corrupted the
 * heap, segfaulted or hung. Done on the main thread before any worker starts,
 * the inserts never overlap a worker's call, and a worker's calls only read.
 *
 * How: a `load` whose value list is longer than its type list. ffi-rs looks
 * the symbol up (caching it, or its absence) before it compares the two
 * lengths, then throws without calling anything. That order is 1.3.7's
 * (package.json pins it; spec/subprocess-threads.spec.ts fails if priming
 * stops working). Workers never write the table: a function first bound in
 * a worker gets a warning instead.
 */
function prime(library: string, funcName: string): void {
  const key = `${library}:${funcName}`;
  if (primedHere.has(key)) return;
  primedHere.add(key);
  if (!isMainThread) {
    if (isPrimed(library, funcName) || warnedUnprimed) return;
    // A module first imported in a worker: its first call will insert into
    // the shared table, racing other threads' calls. Say how to avoid it, once.
    warnedUnprimed = true;
    process.emitWarning(`gale binds ${funcName}() first in a worker thread: import that gale module (or 'gale') `
      + 'on the main thread before starting workers, or several workers calling it at once can crash the process '
      + '(ffi-rs keeps one unlocked symbol table; see docs/ffi.md)', { code: 'GALE_FFI_UNPRIMED' });
    return;
  }
  try {
    native.load({ library, funcName, retType: DT.Void, paramsType: [], paramsValue: [0], freeResultMemory: false });
  } catch (error) {
    // The length check (symbol found) or a missing symbol (its absence is
    // cached too): either way the table now holds the name.
    const message = error instanceof Error ? error.message : '';
    if (!message.includes('params_type length') && !message.includes('Cannot find')) throw error;
  }
  setEnvironmentData(PRIMED_PREFIX + key, true);
}

/**
 * Whether `funcName` of `library` is in ffi-rs's symbol table from the main
 * thread: bound there (in a worker: before the worker was started), so a
 * call from any thread only reads the table.
 */
export function isPrimed(library: string, funcName: string): boolean {
  return isMainThread ? primedHere.has(`${library}:${funcName}`) : getEnvironmentData(PRIMED_PREFIX + `${library}:${funcName}`) === true;
}

function dataType(type: CType): unknown {
  switch (type) {
    case 'void': return DT.Void;
    case 'i16': return DT.I16;
    case 'i32': return DT.I32;
    case 'u32': return DT.U32;
    case 'i64': return DT.I64;
    case 'u64':
    case 'ptr': return DT.U64;
    case 'external': return DT.External;
    // A bare DataType.U8Array aborts the process on the native path: it must
    // be described by an array-constructor object (FFI-NOTES, sharp edges).
    case 'buf': return { ffiTypeTag: native.FFITypeTag.Array, type: DT.U8Array, length: 0 };
  }
}

/**
 * Binds one C function. The returned function reuses a single descriptor and
 * counts itself in `ffiCounter`. Arity-specialised closures avoid `arguments`
 * and rest-array allocation on the hot path.
 */
export function bind(library: string, funcName: string, returnType: CType, paramTypes: CType[]): NativeFunction {
  prime(library, funcName);
  const call = bindCounted(library, funcName, returnType, paramTypes);
  if (!paramTypes.includes('buf')) return call;
  const counter = ffiCounter;
  if (paramTypes.length > 4) return (...args) => { counter.bufferCalls++; return call(...args); };
  return (a, b, c, d) => { counter.bufferCalls++; return call(a, b, c, d); };
}

function bindCounted(library: string, funcName: string, returnType: CType, paramTypes: CType[]): NativeFunction {
  const paramsValue: unknown[] = new Array(paramTypes.length).fill(0);
  const desc = {
    library,
    funcName,
    retType: dataType(returnType),
    paramsType: paramTypes.map(dataType),
    paramsValue,
    freeResultMemory: false, // true on a synchronous call double-frees
  };
  const load = native.load;
  const counter = ffiCounter;
  switch (paramTypes.length) {
    case 0:
      return () => { counter.calls++; return load(desc); };
    case 1:
      return (a) => { paramsValue[0] = a; counter.calls++; return load(desc); };
    case 2:
      return (a, b) => { paramsValue[0] = a; paramsValue[1] = b; counter.calls++; return load(desc); };
    case 3:
      return (a, b, c) => {
        paramsValue[0] = a; paramsValue[1] = b; paramsValue[2] = c;
        counter.calls++;
        return load(desc);
      };
    case 4:
      return (a, b, c, d) => {
        paramsValue[0] = a; paramsValue[1] = b; paramsValue[2] = c; paramsValue[3] = d;
        counter.calls++;
        return load(desc);
      };
    default:
      return (...args) => {
        for (let i = 0; i < args.length; i++) paramsValue[i] = args[i];
        counter.calls++;
        return load(desc);
      };
  }
}

/** A Buffer that aliases native memory (no copy; we own the memory's lifetime). */
export function externalView(external: unknown, length: number): Buffer {
  return native.createExternalBuffer(external, length);
}
