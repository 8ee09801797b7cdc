/**
 * The native address of a JS Buffer's backing store, for the kernel to
 * write into (provided buffers, ./provided-buffers.ts). A local binding,
 * not in ../sys/: `memset(buf, 0, 0)` with the Buffer as its pointer
 * argument touches nothing and returns the pointer (FFI notes: verified
 * stable across GC for off-heap backing stores). One FFI call per Buffer,
 * so callers learn it once per large allocation. Only for Buffers from
 * `Buffer.allocUnsafeSlow` (or ≥ 4 KiB): small typed arrays may live on
 * V8's heap, which moves.
 */
import { bind } from '../sys/ffi.js';
import '../sys/arena.js'; // opens libc

const memsetReturningPointer = bind('libc', 'memset', 'u64', ['buf', 'i32', 'u64']);

/** The address of `buffer`'s first byte. */
export function bufferAddress(buffer: Buffer): number {
  return memsetReturningPointer(buffer, 0, 0) as number;
}
