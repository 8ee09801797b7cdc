/**
 * The stream errors (Tornado's `tornado.iostream` exceptions).
 *
 * They are classes so `instanceof` works, and each carries a `name` equal to
 * its class name (set on the prototype, so subclassing keeps it honest and
 * minifiers cannot rename it).
 */

/**
 * Raised by stream methods when the stream is closed, and the error every
 * outstanding Future of a stream fails with when it closes.
 *
 * The close callback is scheduled to run *after* the stream's other pending
 * callbacks (so buffered data can still be processed), so this error may be
 * seen before the close callback runs.
 */
export class StreamClosedError extends Error {
  /** The underlying error that caused the stream to close, if any. */
  realError: Error | null;

  constructor(realError: Error | null = null, message = 'Stream is closed') {
    super(message);
    this.realError = realError;
  }
}
Object.defineProperty(StreamClosedError.prototype, 'name', { value: 'StreamClosedError', writable: true, configurable: true });

/**
 * Raised when a read cannot be satisfied: `readUntil` and `readUntilRegex`
 * with `maxBytes`, when the delimiter is not found within that many bytes.
 */
export class UnsatisfiableReadError extends Error {}
Object.defineProperty(UnsatisfiableReadError.prototype, 'name', { value: 'UnsatisfiableReadError', writable: true, configurable: true });

/**
 * Raised when a stream buffer is full: the read buffer grew past
 * `maxBufferSize`, or a write would push the write buffer past
 * `maxWriteBufferSize`.
 */
export class StreamBufferFullError extends Error {}
Object.defineProperty(StreamBufferFullError.prototype, 'name', { value: 'StreamBufferFullError', writable: true, configurable: true });
