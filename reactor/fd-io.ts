/**
 * The fd operations of the readiness transport (sockets and pipes alike are
 * read and written with read(2)/write(2)), each exactly one FFI call; the
 * completion transports use them where they fall back to a direct call.
 *
 * Reads land straight in a JS Buffer: a spare chunk-sized Buffer per
 * thread takes each read; a read that fills half of it or more is handed
 * over as it is (no copy, and a fresh spare takes its place), a smaller one
 * is copied out into an exactly sized Buffer so that a few bytes never pin
 * 64 KiB. A spare that outlived a read is read into at its address (koffi's
 * cheap argument), the first read into a fresh one passes the Buffer.
 * Writes pass the caller's Buffer itself (staging a small one in the
 * outbox to pass an address costs what it saves: docs/ffi.md).
 *
 * Tornado: the bodies of `IOStream.read_from_fd`/`write_to_fd` (`recv`,
 * `send`) and `PipeIOStream`'s (`os.read`, `os.write`) in tornado/iostream.py.
 * Everything here sits below the transport contract (./transport.ts): it
 * moves bytes, it never buffers them.
 */
import { Buffer } from 'node:buffer';
import { CHUNK_SIZE } from './sys/arena.js';
import { addressOf, ffiCounter } from './sys/ffi.js';
import { readAt, readInto, writeBytes, writeGather } from './sys/libc.js';

// `Buffer.allocUnsafe`, read once: the global `Buffer` is an accessor on
// globalThis (a LoadGlobalIC call and its getter in optimised code), and
// its `allocUnsafe` was a generic load after it: ~230 instructions per
// small read together. It does not use `this`.
const allocUnsafe = Buffer.allocUnsafe;

/** What a read at end of file returns: an empty Buffer (one, shared). */
export const EOF = Buffer.alloc(0);

// The next read's landing place (per thread: each worker has its own module
// instance). Off-heap (allocUnsafeSlow), so handing it over costs no copy.
let spare: Buffer | null = null;
// The spare's ArrayBuffer (it starts at offset 0), kept for copying a small
// read out: reading `spare.buffer` is a runtime call each time.
let spareMemory: ArrayBuffer | null = null;
// The spare's address (0: not known yet), learned once the spare has
// outlived a read (a small one, copied out): reads then pass it as a
// number, koffi's cheap argument, instead of the Buffer (282 instructions
// less per call in a micro-benchmark, 765 per echo round trip: docs/ffi.md,
// "Epoll per round trip"). A spare handed over at its first read (bulk) never pays
// for the lookup. Off-heap memory (allocUnsafeSlow): it does not move.
let spareAddr = 0;
// The last view of the spare's first bytes that a small read was copied
// out through, and its length: a connection's messages tend to have one
// size (an echo's are all 64 bytes), and each view is a typed array made
// (~200 instructions and 72 bytes of garbage). Forgotten with the spare.
let copyView: Uint8Array | null = null;

/**
 * Reads up to `size` bytes from `fd`. Returns the bytes, an empty Buffer at
 * end of file, or null if the fd would block. Throws `OSError` on failure.
 */
export function readChunk(fd: number, size: number): Buffer | null {
  if (size > CHUNK_SIZE) return readOwnBuffer(fd, size);
  if (spare === null) {
    spare = Buffer.allocUnsafeSlow(CHUNK_SIZE);
    spareMemory = spare.buffer as ArrayBuffer;
    copyView = null;
    spareAddr = 0;
  }
  const target = spare;
  let n: number;
  if (spareAddr !== 0) {
    n = readAt(fd, spareAddr, size);
    ffiCounter.bufferCalls++; // straight into a JS Buffer, as a `buf` argument is
  } else {
    n = readInto(fd, target, size);
  }
  if (n < 0) return null;
  if (n === 0) return EOF;
  if (n >= CHUNK_SIZE / 2) {
    spare = null; // handed over: the next read allocates another
    return n === CHUNK_SIZE ? target : target.subarray(0, n);
  }
  if (spareAddr === 0) spareAddr = addressOf(target);
  // A view of the bytes read, copied with one `set`. Not `target.copy()`:
  // for part of a Buffer, Node's copy reads both sizes with `byteLength`
  // (generic loads), asks for the source's ArrayBuffer and then makes this
  // same view (~650 instructions more per read).
  let view = copyView;
  if (view === null || view.length !== n) copyView = view = new Uint8Array(spareMemory!, 0, n);
  const bytes = allocUnsafe(n);
  bytes.set(view);
  return bytes;
}

// A read larger than a chunk: a Buffer of its own, zero-copy.
function readOwnBuffer(fd: number, size: number): Buffer | null {
  const target = Buffer.allocUnsafeSlow(size);
  const n = readInto(fd, target);
  if (n < 0) return null;
  if (n === 0) return EOF;
  // Do not pin a large allocation for a few bytes.
  return n === size ? target : n > size / 2 ? target.subarray(0, n) : Buffer.from(target.subarray(0, n));
}

/**
 * Reads from `fd` into `target` (zero-copy). Returns the count, 0 at end of
 * file, or -1 if the fd would block.
 */
export function readChunkInto(fd: number, target: Uint8Array): number {
  if (target.length === 0) return -1;
  return readInto(fd, target);
}

/** Writes `data` to `fd`; returns the bytes written, 0 if it would block. */
export function writeChunk(fd: number, data: Uint8Array): number {
  const n = writeBytes(fd, data);
  return n < 0 ? 0 : n;
}

/** Writes up to 64 KiB gathered from `parts` in one call; returns as `writeChunk`. */
export function writeChunks(fd: number, parts: readonly Uint8Array[], first: number, offset: number): number {
  const n = writeGather(fd, parts, first, offset);
  return n < 0 ? 0 : n;
}
