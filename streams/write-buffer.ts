/**
 * The write buffer: bytes handed to `write()` that the kernel has not taken
 * yet, and the Futures waiting for them.
 *
 * The data is kept as the caller's own buffers, by reference: a 64 MiB
 * write is never copied in JS, the kernel reads it straight from the
 * caller's memory as it drains. Several small pending writes are coalesced
 * into one syscall by the sink's gather write (one FFI call for many
 * buffers) instead of being concatenated here.
 *
 * Each write Future resolves when *its* bytes are flushed (Tornado 4.5):
 * the buffer counts every byte ever queued and every byte ever written, and
 * a Future waits for the queued count as it was right after its write.
 *
 * Sizes are read with `length`, never `byteLength`: for a Uint8Array (a
 * Buffer) they are the same number, but Node 20's optimising compiler
 * inlines `length` and leaves `byteLength` a generic property load (a call
 * into V8's LoadIC and the getter builtin, ~200 instructions each; five of
 * them were on every `write()` of an echo).
 *
 * Tornado: `_write_buffer` and the write half of `_handle_write` in
 * tornado/iostream.py (4.4), with 4.5's `_write_futures` counting.
 */
import type { Future } from '../reactor/future.js';
import { CHUNK_SIZE } from '../reactor/sys/arena.js';

/** Where a write buffer's bytes go: the stream's fd. */
export interface WriteSink {
  /** Writes `data` (one buffer); returns the bytes written, 0 or less if the fd would block. */
  writeToFd(data: Uint8Array): number;
  /**
   * Writes the bytes of `parts` from `parts[first]` at `offset` on, as many
   * as fit in one gather (`GATHER_LIMIT`); returns as `writeToFd`.
   */
  writeManyToFd(parts: readonly Uint8Array[], first: number, offset: number): number;
  /** The most bytes one `writeManyToFd` takes (default `GATHER_LIMIT`; TLS takes more per engine write). */
  readonly gatherLimit?: number;
}

/**
 * The most bytes one gather write coalesces (the native staging area's
 * size). A head buffer at least this big is written on its own, zero-copy.
 */
export const GATHER_LIMIT = CHUNK_SIZE;

/**
 * The most entries the arrays below keep once emptied: a burst of writes
 * grows them, and past this they are let go rather than kept for ever.
 */
const KEPT_CAPACITY = 64;

/**
 * Pending outgoing bytes plus the write Futures waiting on them.
 *
 * Emptying a V8 array (`length = 0`) frees its backing store, so the next
 * `push` allocates one again: for an echo that queues one buffer and one
 * Future per message and flushes them at once, that was ~450 bytes of
 * garbage per message (a third of a ping-pong round trip's, measured with
 * V8's sampling heap profiler). So a lone queued buffer is kept in a field
 * (`single`; the array of parts holds two or more), and the waiters' arrays
 * are reused, their ends kept in counters.
 */
export class WriteBuffer {
  /** Bytes queued and not yet written. */
  size = 0;
  /** Whether the last `writeOnce` wrote less than it offered (the kernel's buffer is full). */
  lastWasShort = false;
  /** The only queued buffer, when there is one and `parts` is empty. */
  private single: Uint8Array | null = null;
  private parts: Uint8Array[] = [];
  private head = 0;
  private headOffset = 0;
  private queued = 0;
  private flushed = 0;
  private waitIndex: number[] = [];
  private waitFutures: Array<Future<void> | undefined> = [];
  private waitHead = 0;
  private waitEnd = 0;

  /** Queues `data` (kept by reference). */
  append(data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.size === 0) {
      this.single = data;
    } else {
      if (this.single !== null) {
        this.parts.push(this.single);
        this.single = null;
      }
      this.parts.push(data);
    }
    this.size += data.length;
    this.queued += data.length;
  }

  /** Resolves `future` once every byte queued so far has been written. */
  addWaiter(future: Future<void>): void {
    if (this.flushed >= this.queued) {
      future.setResult(undefined);
      return;
    }
    this.waitIndex[this.waitEnd] = this.queued;
    this.waitFutures[this.waitEnd] = future;
    this.waitEnd++;
  }

  /**
   * Makes one write through `sink`: the head buffer alone when it is big
   * (zero-copy), else a gather of the next buffers. Returns the bytes written
   * (0 if the fd would block). Errors from the sink propagate.
   */
  writeOnce(sink: WriteSink): number {
    const part = this.single ?? this.parts[this.head]!;
    const remaining = part.length - this.headOffset;
    const limit = sink.gatherLimit ?? GATHER_LIMIT;
    let offered: number;
    let n: number;
    if (remaining < limit && this.head + 1 < this.parts.length) {
      offered = Math.min(this.size, limit);
      n = sink.writeManyToFd(this.parts, this.head, this.headOffset);
    } else {
      offered = remaining;
      n = sink.writeToFd(this.headOffset ? part.subarray(this.headOffset) : part);
    }
    if (n > 0) this.advance(n);
    else n = 0;
    this.lastWasShort = n < offered;
    return n;
  }

  /** Resolves the Futures whose bytes have all been written. */
  resolveFlushed(): void {
    const index = this.waitIndex;
    const futures = this.waitFutures;
    const end = this.waitEnd;
    let i = this.waitHead;
    while (i < end && index[i]! <= this.flushed) {
      const future = futures[i]!;
      futures[i] = undefined;
      i++;
      if (!future.done()) future.setResult(undefined);
    }
    if (i < end) {
      this.waitHead = i;
      return;
    }
    this.waitHead = 0;
    this.waitEnd = 0;
    if (futures.length > KEPT_CAPACITY) {
      this.waitIndex = [];
      this.waitFutures = [];
    }
  }

  /** Fails every waiting Future with `error` and drops all pending bytes. */
  failAll(error: Error): void {
    const futures = this.waitFutures.slice(this.waitHead, this.waitEnd);
    this.waitIndex = [];
    this.waitFutures = [];
    this.waitHead = 0;
    this.waitEnd = 0;
    this.single = null;
    this.parts = [];
    this.head = 0;
    this.headOffset = 0;
    this.size = 0;
    for (const future of futures) if (!future!.done()) future!.setException(error);
  }

  /** How many write Futures are waiting. */
  get waiting(): number {
    return this.waitEnd - this.waitHead;
  }

  private advance(n: number): void {
    this.size -= n;
    this.flushed += n;
    const single = this.single;
    if (single !== null) {
      if (this.size === 0) {
        this.single = null; // let the caller's buffer go
        this.headOffset = 0;
      } else {
        this.headOffset += n;
      }
      return;
    }
    const parts = this.parts;
    let left = n;
    while (left > 0) {
      const part = parts[this.head]!;
      const remaining = part.length - this.headOffset;
      if (left < remaining) {
        this.headOffset += left;
        return;
      }
      left -= remaining;
      parts[this.head] = undefined as unknown as Uint8Array; // let the caller's buffer go
      this.head++;
      this.headOffset = 0;
    }
    if (this.head === parts.length) {
      parts.length = 0;
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= parts.length) {
      this.parts = parts.slice(this.head);
      this.head = 0;
    }
  }
}
