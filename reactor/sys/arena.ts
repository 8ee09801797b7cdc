/**
 * Native memory the syscall layer owns for the life of the thread.
 *
 * Passing a Buffer through ffi-rs costs ~1.7 µs more than passing a number,
 * so out-params, poll results, read chunks and sockaddrs live in one
 * malloc'd slab that we address by number (`base + offset`) and read or
 * write through a single Buffer view of it. Regions are carved once and
 * never freed: the slab is per thread and lives as long as the thread.
 */
import { bind, externalView, openLibrary } from './ffi.js';

openLibrary('libc', '');

const malloc = bind('libc', 'malloc', 'ptr', ['u64']);
// ffi-rs cannot turn an address number into an External; memset(p, 0, 0)
// declared as returning one does so without touching memory (FFI-NOTES).
const asExternal = bind('libc', 'memset', 'external', ['ptr', 'i32', 'u64']);

/** A region of native memory: its address and a Buffer aliasing it. */
export interface Region {
  /** The region's native address, to pass to C. */
  readonly addr: number;
  /** A view of the region, to read and write from JS. */
  readonly view: Buffer;
}

/** Maps `length` bytes at `addr` (memory we do not own, e.g. errno) into a Buffer view. */
export function viewAt(addr: number, length: number): Buffer {
  return externalView(asExternal(addr, 0, 0), length);
}

/** Allocates a native region that lives as long as the thread. */
export function allocRegion(size: number): Region {
  const addr = malloc(size) as number;
  if (!addr) throw new Error(`malloc(${size}) failed`);
  const view = viewAt(addr, size);
  view.fill(0);
  return { addr, view };
}

/** Size of the chunk region reads land in (the stream's default readChunkSize). */
export const CHUNK_SIZE = 64 * 1024;

/** Where `read`/`recv` land before the bytes are copied out. */
export const chunk = allocRegion(CHUNK_SIZE);
/** Where small writes are staged (and coalesced) before `write`. */
export const outbox = allocRegion(CHUNK_SIZE);
/** Small out-params: sockaddrs, lengths, int options, fd pairs. */
export const scratch = allocRegion(1024);
