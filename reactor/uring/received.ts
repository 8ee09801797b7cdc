/**
 * Bytes a completion endpoint has received and its stream has not read
 * yet: the chunks each RECV/READ completion copied out of native memory,
 * in order, handed out up to `max` bytes at a time without copying when a
 * chunk can be given whole. No Tornado counterpart (Tornado's read buffer
 * is filled by recv() on readiness; streams/read-buffer.ts is gale's, one
 * level up).
 */

import { EOF, readChunk } from '../fd-io.js';
import { Deque } from '../deque.js';

/** What a read at end of file returns: an empty Buffer (one, shared with the readiness path's reads). */
export const EOF_CHUNK = EOF;

/**
 * One read(2) of up to `max` bytes from `fd`, for an endpoint with nothing
 * received and nothing in flight that could reorder bytes: the bytes,
 * EOF_CHUNK at end of file, or null if none are there yet (EAGAIN). It is
 * the readiness path's read (`readChunk`: into the thread's spare Buffer,
 * a small read copied out with one `set`); reading into a native chunk and
 * copying out with `Buffer.from` cost ~2,000 instructions more per
 * connection (docs/uring.md, "Connections on the ring").
 */
export const readOnce: (fd: number, max: number) => Buffer | null = readChunk;

/** A FIFO of received chunks. */
export class ReceivedChunks {
  /** Bytes waiting. */
  bytes = 0;
  // Never truncated (../deque.ts): it empties at nearly every read.
  private readonly chunks = new Deque<Buffer>();

  /** Appends a chunk (the queue keeps it: the caller must not reuse it). */
  push(data: Buffer): void {
    this.chunks.push(data);
    this.bytes += data.length;
  }

  /** Up to `max` bytes from the front (call only while `bytes > 0`). */
  take(max: number): Buffer {
    const chunks = this.chunks;
    let first = chunks.at(0);
    let out: Buffer;
    if (first.length > max) {
      out = first.subarray(0, max);
      chunks.set(0, first.subarray(max));
    } else if (first.length === this.bytes || first.length === max) {
      out = first;
      chunks.shift();
    } else {
      // Several chunks: join up to `max` bytes.
      const size = Math.min(max, this.bytes);
      out = Buffer.allocUnsafe(size);
      let filled = 0;
      while (filled < size) {
        first = chunks.at(0);
        const part = Math.min(first.length, size - filled);
        first.copy(out, filled, 0, part);
        filled += part;
        if (part === first.length) chunks.shift();
        else chunks.set(0, first.subarray(part));
      }
    }
    this.bytes -= out.length;
    return out;
  }

  /** Whether the front chunk is a view of `memory` (so it is not free to reuse yet). */
  holds(memory: ArrayBufferLike): boolean {
    return this.bytes > 0 && this.chunks.at(0).buffer === memory;
  }

  /** Drops everything (the stream is gone). */
  clear(): void {
    this.chunks.clear();
    this.bytes = 0;
  }
}
