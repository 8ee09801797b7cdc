/**
 * The read buffer: bytes read from the fd that no read has consumed yet.
 *
 * It is a list of the chunks as they were read, not one growing buffer:
 * appending is then O(1) whatever the size, and a read that takes exactly
 * what one read brought in (the usual case for request/response protocols)
 * gets that chunk back without a copy. Only a read that spans chunks pays
 * for a copy, once, of exactly the bytes it returns.
 *
 * Delimiter searches walk the chunks in place (a delimiter may straddle two
 * chunks, which a small window over the boundary catches) and can start
 * where the previous failed search stopped, so a line that arrives in many
 * small pieces is scanned once, not once per piece. Regex searches need the
 * bytes as one string; that string is kept while a regex read is pending and
 * grown as chunks arrive, rather than rebuilt on every read.
 *
 * Tornado 4.4: `BaseIOStream._read_buffer` (a deque of chunks) with
 * `_consume`, `_merge_prefix` and `_double_prefix` in tornado/iostream.py.
 *
 * Tornado's `BaseIOStream._read_buffer` (a bytearray there) and the search half
 * of `_find_read_pos`.
 */

const EMPTY = Buffer.alloc(0);

/** A FIFO of byte chunks with searching and exact-size consumption. */
export class ReadBuffer {
  /** Bytes buffered. */
  size = 0;
  private chunks: Buffer[] = [];
  // Consumed chunks stay in the array until compaction; `head` is the first
  // live one and `headOffset` how much of it is gone. Shifting the array on
  // every consume would make a long run of small reads quadratic.
  private head = 0;
  private headOffset = 0;
  // The buffered bytes as a latin1 string (one char per byte), while a regex
  // read wants it; null otherwise, so plain reads never pay for it.
  private latin1: string | null = null;
  // Where the next delimiter search may start: chunk index and its offset
  // in the buffer. Consuming moves chunks, so it forgets (-1).
  private cursorChunk = -1;
  private cursorBase = 0;

  /** Appends a chunk. The buffer keeps a reference: the caller must not reuse it. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.latin1 !== null) this.latin1 += chunk.toString('latin1');
  }

  /** Removes and returns the first `n` bytes (`n` must not exceed `size`). */
  consume(n: number): Buffer {
    if (n <= 0) return EMPTY;
    if (n > this.size) throw new RangeError(`cannot consume ${n} bytes from a buffer of ${this.size}`);
    const first = this.chunks[this.head]!;
    const available = first.length - this.headOffset;
    let out: Buffer;
    if (n <= available) {
      out = this.headOffset === 0 && n === first.length ? first : first.subarray(this.headOffset, this.headOffset + n);
      this.advance(n);
    } else {
      out = Buffer.allocUnsafe(n);
      this.copyOut(out, 0, n);
    }
    return out;
  }

  /** Moves the first `n` bytes into `target` at `offset` (consuming them). */
  consumeInto(target: Uint8Array, offset: number, n: number): void {
    if (n <= 0) return;
    if (n > this.size) throw new RangeError(`cannot consume ${n} bytes from a buffer of ${this.size}`);
    this.copyOut(target, offset, n);
  }

  /**
   * The offset of the first occurrence of `needle` at or after `from`, or
   * -1. Bytes before `from` must already be known not to start a match.
   */
  indexOf(needle: Uint8Array, from = 0): number {
    const m = needle.length;
    const chunks = this.chunks;
    let base = 0;
    let first = this.head;
    // Resume at the chunk where the last failed search said to, rather than
    // walking every chunk again (a line trickling in as many tiny reads).
    if (this.cursorChunk >= 0 && this.cursorBase <= from) {
      first = this.cursorChunk;
      base = this.cursorBase;
    }
    for (let i = first; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      const offset = i === this.head ? this.headOffset : 0;
      const length = chunk.length - offset;
      if (base + length > from) {
        const start = offset + Math.max(0, from - base);
        const found = chunk.indexOf(needle, start);
        if (found >= 0) return base + found - offset;
        if (m > 1 && i + 1 < chunks.length) {
          // A match may begin in this chunk's last m-1 bytes and end in the next ones.
          const tailStart = Math.max(start, chunk.length - (m - 1));
          const tail = chunk.subarray(tailStart);
          const window = Buffer.concat([tail, this.peekAfter(i, m - 1)]);
          const w = window.indexOf(needle);
          if (w >= 0 && w < tail.length) return base + (tailStart - offset) + w;
        }
      }
      base += length;
    }
    this.placeCursor(Math.max(0, this.size - m + 1));
    return -1;
  }

  /** Remembers the chunk holding offset `at` (walking back from the end). */
  private placeCursor(at: number): void {
    const chunks = this.chunks;
    let j = chunks.length - 1;
    if (j < this.head) return;
    let base = this.size - (chunks[j]!.length - (j === this.head ? this.headOffset : 0));
    while (base > at && j > this.head) {
      j--;
      base -= chunks[j]!.length - (j === this.head ? this.headOffset : 0);
    }
    this.cursorChunk = j;
    this.cursorBase = base;
  }

  /**
   * Searches the buffered bytes (read as latin1, so offsets are byte
   * offsets) with `regex`; returns the end offset of the first match, or -1.
   * `regex` must be neither global nor sticky.
   */
  searchRegex(regex: RegExp): number {
    if (this.size === 0) return -1;
    if (this.latin1 === null) {
      let text = '';
      for (let i = this.head; i < this.chunks.length; i++) {
        const chunk = this.chunks[i]!;
        text += (i === this.head && this.headOffset ? chunk.subarray(this.headOffset) : chunk).toString('latin1');
      }
      this.latin1 = text;
    }
    const match = regex.exec(this.latin1);
    return match ? match.index + match[0].length : -1;
  }

  /** Stops maintaining the latin1 view (no regex read is pending any more). */
  forgetText(): void {
    this.latin1 = null;
  }

  /** Up to `n` bytes that follow chunk `i`, without consuming them. */
  private peekAfter(i: number, n: number): Buffer {
    const parts: Buffer[] = [];
    for (let j = i + 1; j < this.chunks.length && n > 0; j++) {
      const chunk = this.chunks[j]!;
      const take = Math.min(n, chunk.length);
      parts.push(take === chunk.length ? chunk : chunk.subarray(0, take));
      n -= take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private copyOut(target: Uint8Array, offset: number, n: number): void {
    let copied = 0;
    while (copied < n) {
      const chunk = this.chunks[this.head]!;
      const take = Math.min(n - copied, chunk.length - this.headOffset);
      target.set(chunk.subarray(this.headOffset, this.headOffset + take), offset + copied);
      copied += take;
      this.advance(take);
    }
  }

  /** Marks `n` bytes of the head chunk consumed. */
  private advance(n: number): void {
    this.cursorChunk = -1;
    this.size -= n;
    if (this.latin1 !== null) this.latin1 = this.latin1.slice(n);
    this.headOffset += n;
    if (this.headOffset < this.chunks[this.head]!.length) return;
    this.head++;
    this.headOffset = 0;
    if (this.head === this.chunks.length) {
      emptyKeepingCapacity(this.chunks);
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * The most chunks `emptyKeepingCapacity` pops one by one; a longer array
 * is emptied at once, which lets its backing store go.
 */
const POPPED_EMPTY = 8;

/**
 * Empties `chunks`. `length = 0` is a call into V8's runtime and frees
 * the array's backing store, so the next `push` allocates one again: for
 * a stream that reads a chunk and consumes it whole (every echo round
 * trip) that was a runtime call and ~150 bytes of garbage per read.
 * `pop()` is compiled inline and keeps the capacity.
 */
function emptyKeepingCapacity(chunks: Buffer[]): void {
  if (chunks.length > POPPED_EMPTY) {
    chunks.length = 0;
    return;
  }
  while (chunks.length !== 0) chunks.pop();
}
