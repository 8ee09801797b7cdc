/**
 * The one read a stream may have pending, as one value.
 *
 * Tornado's `BaseIOStream` (tornado/iostream.py) keeps a pending read in a
 * dozen attributes (`_read_bytes`, `_read_delimiter`, `_read_regex`,
 * `_read_max_bytes`, `_read_partial`, `_read_until_close`, `_read_callback`,
 * `_read_future`, `_streaming_callback`, …) of which only some combinations
 * make sense. Here each kind of read is one variant of a discriminated union,
 * so a read cannot be half a delimiter read and half a byte count, "is a read
 * pending?" is `pending !== null`, resetting is dropping the value, and each
 * question about the read (where it completes, how far to read ahead) is one
 * `switch` over its kind.
 *
 * This module knows nothing about fds or the loop: it only looks at the read
 * buffer. `BaseIOStream` owns the one `PendingRead | null` and runs it.
 */
import { describeValue } from '../reactor/sys/validate.js';
import type { Future } from '../reactor/future.js';
import { UnsatisfiableReadError } from './errors.js';
import type { ReadCallback } from './options.js';
import type { ReadBuffer } from './read-buffer.js';

/** How a pending read reports completion: exactly one of the two is set. */
interface Completion {
  /** The callback that receives the result (callback style), or null. */
  callback: ReadCallback | null;
  /** The Future that receives the result (Future style), or null. */
  future: Future<any> | null;
}

/** `readBytes(n)`: `left` more bytes (the streaming callback takes them down to 0). */
export interface BytesRead extends Completion {
  readonly kind: 'bytes';
  left: number;
  /** Complete as soon as any bytes are there. */
  partial: boolean;
  streamingCallback: ReadCallback | null;
}

/** `readUntil(delimiter)`. */
export interface DelimiterRead extends Completion {
  readonly kind: 'delimiter';
  readonly delimiter: Uint8Array;
  /** Where the next search starts: earlier bytes cannot begin a match. */
  scanned: number;
  readonly maxBytes: number | null;
}

/** `readUntilRegex(regex)`. */
export interface RegexRead extends Completion {
  readonly kind: 'regex';
  /** Neither global nor sticky, so each search starts at 0 (see `searchable`). */
  readonly regex: RegExp;
  readonly maxBytes: number | null;
}

/** `readUntilClose()`: never completes from the buffer, only when the stream closes. */
export interface UntilCloseRead extends Completion {
  readonly kind: 'untilClose';
  readonly streamingCallback: ReadCallback | null;
}

/** `readInto(target)`: bytes land in the caller's buffer, the result is the count. */
export interface IntoRead extends Completion {
  readonly kind: 'into';
  readonly target: Uint8Array;
  /** Bytes of `target` filled so far. */
  filled: number;
  readonly partial: boolean;
}

/** The read a stream has pending (at most one: Tornado's "Already reading"). */
export type PendingRead = BytesRead | DelimiterRead | RegexRead | UntilCloseRead | IntoRead;

/** The streaming callback of `read`, or null (only byte and until-close reads stream). */
export function streamingCallbackOf(read: PendingRead | null): ReadCallback | null {
  if (read === null) return null;
  switch (read.kind) {
    case 'bytes':
    case 'untilClose':
      return read.streamingCallback;
    case 'delimiter':
    case 'regex':
    case 'into':
      return null;
  }
}

/**
 * Where `read` can complete in `buffer` (the number of bytes its result
 * takes; for `into`, the bytes filled), or null if it cannot yet (Tornado's
 * `_find_read_pos`). A delimiter read remembers how far it searched.
 * Throws `UnsatisfiableReadError` once a delimiter or regex has not been
 * found within `maxBytes`.
 */
export function findReadPos(read: PendingRead, buffer: ReadBuffer): number | null {
  const size = buffer.size;
  switch (read.kind) {
    case 'into': {
      const filled = read.filled;
      return filled >= read.target.length || (read.partial && filled > 0) ? filled : null;
    }
    case 'bytes':
      return size >= read.left || (read.partial && size > 0) ? Math.min(read.left, size) : null;
    case 'delimiter': {
      if (size === 0) return null;
      const delimiter = read.delimiter;
      const loc = buffer.indexOf(delimiter, read.scanned);
      if (loc !== -1) {
        const end = loc + delimiter.length;
        checkMaxBytes(read, end);
        return end;
      }
      // Next time, start where a match could still begin.
      read.scanned = Math.max(0, size - delimiter.length + 1);
      checkMaxBytes(read, size);
      return null;
    }
    case 'regex': {
      if (size === 0) return null;
      const end = buffer.searchRegex(read.regex);
      if (end !== -1) {
        checkMaxBytes(read, end);
        return end;
      }
      checkMaxBytes(read, size);
      return null;
    }
    case 'untilClose':
      return null;
  }
}

/**
 * How many buffered bytes make it worth stopping to look for the read's
 * end while reading from the fd, or null to read all the fd has now
 * (Tornado's `target_bytes` in `_read_to_buffer_loop`). With no read
 * pending it is 0: one read, to notice a close.
 */
export function readAheadTarget(read: PendingRead | null): number | null {
  if (read === null) return 0;
  switch (read.kind) {
    case 'bytes':
      return read.left;
    case 'delimiter':
    case 'regex':
      return read.maxBytes;
    case 'untilClose':
    case 'into': // reads go straight into the target, which bounds them
      return null;
  }
}

/**
 * Lets go of what `read` holds in `buffer`: a regex read keeps a latin1
 * copy of the buffered bytes to search, which nothing else needs.
 */
export function releaseRead(read: PendingRead, buffer: ReadBuffer): void {
  switch (read.kind) {
    case 'regex':
      buffer.forgetText();
      return;
    case 'bytes':
    case 'delimiter':
    case 'untilClose':
    case 'into':
      return;
  }
}

/** A regex that `exec` searches from the start every time (Python's `re.search`). */
export function searchable(regex: RegExp): RegExp {
  if (!(regex instanceof RegExp)) throw new TypeError(`regex must be a RegExp, got ${describeValue(regex)}`);
  return regex.global || regex.sticky ? new RegExp(regex.source, regex.flags.replace(/[gy]/g, '')) : regex;
}

/** Tornado's `_check_max_bytes`: `size` bytes searched without the end of the read. */
function checkMaxBytes(read: DelimiterRead | RegexRead, size: number): void {
  if (read.maxBytes !== null && size > read.maxBytes) {
    throw new UnsatisfiableReadError(`delimiter ${describe(read)} not found within ${read.maxBytes} bytes`);
  }
}

function describe(read: DelimiterRead | RegexRead): string {
  return read.kind === 'regex' ? String(read.regex) : JSON.stringify(Buffer.from(read.delimiter).toString('latin1'));
}
