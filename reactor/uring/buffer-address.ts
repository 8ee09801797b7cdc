/**
 * The native address of a JS Buffer's backing store, for the kernel to
 * write into (provided buffers, ./provided-buffers.ts). A local binding,
 * not in ../sys/: `memset(buf, 0, 0)` with the Buffer as its pointer
 * argument touches nothing and returns the pointer (FFI notes: verified
 * stable across GC for off-heap backing stores; koffi passes a `buf`
 * argument as the buffer's own memory). One FFI call per Buffer,
 * so callers learn it once per large allocation. Only for Buffers from
 * `Buffer.allocUnsafeSlow` (or ≥ 4 KiB): small typed arrays may live on
 * V8's heap, which moves.
 */
import { bind, openLibrary, type NativeFunction } from '../sys/ffi.js';

// Bound at the first call, not at import: importing this module changes nothing.
let memsetReturningPointer: NativeFunction | null = null;

/** The address of `buffer`'s first byte. */
export function bufferAddress(buffer: Buffer): number {
  if (memsetReturningPointer === null) {
    openLibrary('libc', '');
    memsetReturningPointer = bind('libc', 'memset', 'u64', ['buf', 'i32', 'u64']);
  }
  return memsetReturningPointer(buffer, 0, 0) as number;
}
