/**
 * `for await (const chunk of stream)`: beyond Tornado, the idiomatic way to
 * consume a stream in modern JS.
 *
 * Each step is a partial `readBytes` of up to `readChunkSize` bytes, so the
 * iterator applies the same flow control as any other read: nothing is read
 * from the fd while the loop body is busy with the previous chunk.
 *
 * The iteration ends normally when the stream closes cleanly (end of file,
 * or `close()` without an error) and throws `StreamClosedError` when it
 * closed because of an error (its `realError` says which). Breaking out of
 * the loop leaves the stream open: no read is pending between steps.
 *
 * Tornado has no counterpart (its nearest is a `while True: yield
 * stream.read_bytes(n, partial=True)` loop in tornado/iostream.py's users).
 */
import { StreamClosedError } from './errors.js';
import type { BaseIOStream } from './base-iostream.js';

/** The async iterator behind `BaseIOStream[Symbol.asyncIterator]`. */
export async function* iterateChunks(stream: BaseIOStream): AsyncGenerator<Buffer, void, undefined> {
  for (;;) {
    let chunk: Buffer;
    try {
      // A closed stream with nothing buffered throws here, synchronously.
      chunk = await stream.readBytes(stream.readChunkSize, { partial: true })!;
    } catch (error) {
      if (error instanceof StreamClosedError && error.realError === null) return;
      throw error;
    }
    yield chunk;
  }
}
