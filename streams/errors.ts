/**
 * The stream errors (Tornado's `tornado.iostream` exceptions).
 *
 * They are classes so `instanceof` works, and each carries a `name` equal to
 * its class name (set on the prototype, so subclassing keeps it honest and
 * minifiers cannot rename it).
 *
 * As in Tornado 4.4, `StreamClosedError` derives from the OS error class
 * (Tornado: `class StreamClosedError(IOError)`; gale: `OSError`), so a port's
 * `catch (e) { if (e instanceof OSError) … }` — Python's `except IOError` —
 * still catches a refused or closed stream. The other two derive from plain
 * `Error`, as Tornado's derive from `Exception`.
 */
import { OSError } from '../reactor/sys/errors.js';

/** The `code` of a `StreamClosedError` (its `errno` is 0: Tornado's has `errno` None). */
export const STREAM_CLOSED_CODE = 'ESTREAMCLOSED';

/**
 * Raised by stream methods when the stream is closed, and the error every
 * outstanding Future of a stream fails with when it closes.
 *
 * The close callback is scheduled to run *after* the stream's other pending
 * callbacks (so buffered data can still be processed), so this error may be
 * seen before the close callback runs.
 */
export class StreamClosedError extends OSError {
  /** The underlying error that caused the stream to close, if any. */
  realError: Error | null;

  /**
   * `errno` is 0 and `code` is `'ESTREAMCLOSED'`: the stream's own state,
   * not a syscall, failed. The cause, if any, is `realError`, and the
   * default message names it ("Stream is closed: connect ECONNREFUSED …"),
   * so the first line of a log already says why.
   */
  constructor(realError: Error | null = null, message = realError ? `Stream is closed: ${describeCause(realError)}` : 'Stream is closed') {
    super(0, undefined, message, STREAM_CLOSED_CODE);
    this.realError = realError;
  }
}
/**
 * @internal The `StreamClosedError` a close fails a stream's outstanding
 * Futures with (a read pending at EOF, unflushed writes, a connect). It is
 * built without capturing stack frames: it is made inside the loop's own
 * handler, so the frames would only name gale's close path, never the
 * user's code, and capturing them was ~7 % of the CPU of a connection that
 * ends with a read pending (the usual end of a server's session). Its
 * `stack` is its first line ("StreamClosedError: Stream is closed: …");
 * `realError` keeps the cause with the cause's own stack. Errors thrown at
 * a caller (an operation on a closed stream) are built with `new` and keep
 * their stack.
 */
export function closedErrorFor(realError: Error | null): StreamClosedError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new StreamClosedError(realError);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** One line for a cause: its class (when not a plain Error) and message. */
function describeCause(error: Error): string {
  const text = error.message || String(error);
  return error.name && error.name !== 'Error' && !text.startsWith(error.name) ? `${error.name}: ${text}` : text;
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
