/**
 * The fd operations of the readiness transport (sockets and pipes alike are
 * read and written with read(2)/write(2)), each exactly one FFI call; the
 * completion transports use them where they fall back to a direct call.
 *
 * Reads of up to one arena chunk land in the thread's native chunk region,
 * passed to C as a plain number (the cheapest FFI argument), and are copied
 * out into an exactly sized Buffer — nanoseconds, against the microseconds a
 * Buffer argument would add. Larger reads go zero-copy into a Buffer of
 * their own.
 *
 * Tornado: the bodies of `IOStream.read_from_fd`/`write_to_fd` (`recv`,
 * `send`) and `PipeIOStream`'s (`os.read`, `os.write`) in tornado/iostream.py.
 * Everything here sits below the transport contract (./transport.ts): it
 * moves bytes, it never buffers them.
 */
import { CHUNK_SIZE, chunk as nativeChunk } from './sys/arena.js';
import { readInto, readToChunk, writeBytes, writeGather } from './sys/libc.js';

/** What a read at end of file returns: an empty Buffer (one, shared). */
export const EOF = Buffer.alloc(0);

/**
 * Reads up to `size` bytes from `fd`. Returns the bytes, an empty Buffer at
 * end of file, or null if the fd would block. Throws `OSError` on failure.
 */
export function readChunk(fd: number, size: number): Buffer | null {
  if (size <= CHUNK_SIZE) {
    const n = readToChunk(fd, size);
    if (n < 0) return null;
    if (n === 0) return EOF;
    return Buffer.from(nativeChunk.view.subarray(0, n));
  }
  const target = Buffer.allocUnsafeSlow(size);
  const n = readInto(fd, target);
  if (n < 0) return null;
  if (n === 0) return EOF;
  // Do not pin a large allocation for a few bytes.
  return n === size ? target : n > size / 2 ? target.subarray(0, n) : Buffer.from(target.subarray(0, n));
}

/**
 * Reads from `fd` into `target` (zero-copy for large targets). Returns the
 * count, 0 at end of file, or -1 if the fd would block.
 */
export function readChunkInto(fd: number, target: Uint8Array): number {
  const length = target.byteLength;
  if (length === 0) return -1;
  if (length > CHUNK_SIZE / 4) return readInto(fd, target);
  // Small targets: the numeric-pointer read plus a copy is cheaper than a Buffer argument.
  const n = readToChunk(fd, length);
  if (n > 0) target.set(nativeChunk.view.subarray(0, n), 0);
  return n;
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
