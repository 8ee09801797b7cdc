/**
 * The FFI backend: the one place that talks to koffi. No Tornado module
 * matches it: under Tornado this boundary is CPython's C extension modules.
 *
 * Everything above this file sees a backend-neutral `bind(library, name,
 * returnType, paramTypes)` that returns a plain JS function over numbers and
 * buffers, so another FFI binding could be put here without touching the rest.
 *
 * koffi prepares each function once (`lib.func`) and marshals a call in
 * ~0.1-0.3 µs above the C call itself, so a call costs about what the
 * syscall does (docs/ffi.md has the figures). Its library handles and
 * function objects belong to the thread that made them, so every thread
 * (the main one or a worker) opens and binds its own: nothing here is shared
 * between threads.
 */
import koffi, { type LibraryHandle } from 'koffi';

/** The C types the syscall layer uses. Pointers travel as plain numbers. */
export type CType =
  | 'void'
  | 'i16'
  | 'i32'
  | 'u32'
  | 'i64'
  | 'u64'
  | 'ptr' // an address as a number (u64)
  | 'buf'; // a Buffer/Uint8Array passed zero-copy

/** A bound C function: numbers (and buffers for `buf` params) in, a number out. */
export type NativeFunction = (...args: Array<number | Uint8Array>) => any;

/**
 * Counts every FFI call made on this thread (`calls`; `IOLoop.stats()` reads
 * deltas of it) and, of those, the calls that moved bytes straight into or
 * out of a JS Buffer's own memory (`bufferCalls`): a `buf` argument, or a
 * read into the stream's spare Buffer at its address (reactor/fd-io.ts,
 * which counts those itself). Stream reads and writes never copy through
 * the arena, and the specs count which path a call took (docs/ffi.md).
 */
export const ffiCounter = { calls: 0, bufferCalls: 0 };

/**
 * koffi's name for each CType. `ptr` is `uint64_t`, not `void *`: gale's
 * pointers are arena addresses (numbers), and koffi takes a number for a
 * `uint64_t` with no conversion. `buf` is `void *`, for which koffi passes a
 * Buffer's or typed array's own memory (no copy: the kernel writes into it).
 */
const KOFFI_TYPES: Record<CType, string> = {
  void: 'void',
  i16: 'int16_t',
  i32: 'int32_t',
  u32: 'uint32_t',
  i64: 'int64_t',
  u64: 'uint64_t',
  ptr: 'uint64_t',
  buf: 'void *',
};

const libraries = new Map<string, LibraryHandle>();

/**
 * Opens a shared library under a short name, once per thread. `path: ''`
 * opens the running program itself: libc, plus the OpenSSL and libuv
 * symbols node exports.
 */
export function openLibrary(library: string, path: string): void {
  if (libraries.has(library)) return;
  libraries.set(library, koffi.load(path === '' ? null : path));
}

/**
 * Binds one C function. The returned function counts itself in
 * `ffiCounter`; arity-specialised closures avoid `arguments` and rest-array
 * allocation on the hot path.
 *
 * A symbol the library lacks binds to a function that throws when called
 * (as `dlsym` would only tell at the call): gale binds a table of functions
 * (./libc.ts, each at its first call) and asks `hasSymbol()` before calling
 * the newer glibc functions.
 * A `u64`/`ptr` result above 2^53 comes back as a BigInt (koffi's rule);
 * gale's results (addresses, counts, lengths) never get there.
 */
export function bind(library: string, funcName: string, returnType: CType, paramTypes: CType[]): NativeFunction {
  const handle = libraries.get(library);
  if (!handle) throw new Error(`bind(${funcName}): library '${library}' is not open (openLibrary first)`);
  let fn: NativeFunction;
  try {
    fn = handle.func(funcName, KOFFI_TYPES[returnType], paramTypes.map((type) => KOFFI_TYPES[type])) as NativeFunction;
  } catch (error) {
    if (!String((error as Error).message).startsWith('Cannot find function')) throw error;
    return () => { throw error; };
  }
  const counter = ffiCounter;
  const buffers = paramTypes.includes('buf');
  switch (paramTypes.length) {
    case 0:
      return () => { counter.calls++; return fn(); };
    case 1:
      return buffers ? (a) => { counter.calls++; counter.bufferCalls++; return fn(a); } : (a) => { counter.calls++; return fn(a); };
    case 2:
      return buffers
        ? (a, b) => { counter.calls++; counter.bufferCalls++; return fn(a, b); }
        : (a, b) => { counter.calls++; return fn(a, b); };
    case 3:
      return buffers
        ? (a, b, c) => { counter.calls++; counter.bufferCalls++; return fn(a, b, c); }
        : (a, b, c) => { counter.calls++; return fn(a, b, c); };
    case 4:
      return buffers
        ? (a, b, c, d) => { counter.calls++; counter.bufferCalls++; return fn(a, b, c, d); }
        : (a, b, c, d) => { counter.calls++; return fn(a, b, c, d); };
    default:
      return (...args) => {
        counter.calls++;
        if (buffers) counter.bufferCalls++;
        return fn(...args);
      };
  }
}

/**
 * The address of `buffer`'s first byte, from koffi (no C call: not counted
 * in `ffiCounter`). Only for a Buffer whose memory lives off the V8 heap
 * (`Buffer.allocUnsafeSlow`, a pool slice): the address stays valid while
 * the Buffer is referenced. A small typed array made with `new` may live on
 * the heap, where the garbage collector moves it.
 */
export function addressOf(buffer: Uint8Array): number {
  return Number(koffi.address(buffer));
}

/**
 * An ArrayBuffer aliasing `length` bytes of native memory at `addr` (no
 * copy). The memory's owner keeps it alive: a view used after the memory
 * is freed or unmapped reads garbage or faults.
 */
export function nativeView(addr: number, length: number): ArrayBuffer {
  // koffi.view(0, n > 0) aborts the process (a failed Node assertion), so
  // a null address is refused here.
  if (!Number.isSafeInteger(addr) || addr <= 0) throw new RangeError(`nativeView: addr must be a native address, got ${addr}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`nativeView: length must be a byte count, got ${length}`);
  return koffi.view(addr, length);
}
