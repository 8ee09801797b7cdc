/**
 * Option shapes of the stream API, and the "callback or options" argument
 * convention (API.md, translation rule 2): where Tornado's first optional
 * parameter is `callback`, that position takes either the callback itself or
 * an options object that may hold it.
 *
 * Tornado: the keyword arguments of `BaseIOStream.__init__`, the `read_*`
 * methods and `IOStream.connect` in tornado/iostream.py.
 */
import type { IOLoop } from '../reactor/ioloop.js';

/** Options every stream takes (Tornado's `BaseIOStream.__init__` keywords). */
export interface StreamOptions {
  /** The loop the stream registers on (default: `IOLoop.current()`). */
  ioLoop?: IOLoop;
  /** The most incoming bytes to buffer (default 100 MB). */
  maxBufferSize?: number;
  /** The most bytes one read from the fd asks for (default 64 KiB, at most half of `maxBufferSize`). */
  readChunkSize?: number;
  /** The most outgoing bytes to buffer (default unlimited). */
  maxWriteBufferSize?: number;
}

/** A read's completion callback: receives the bytes read. */
export type ReadCallback = (data: Buffer) => void;

/** Options of `readBytes`. */
export interface ReadBytesOptions {
  /** Runs with the data instead of returning a Future. */
  callback?: ReadCallback;
  /** Receives the data in chunks as it arrives; the final result is then empty. */
  streamingCallback?: ReadCallback;
  /** Complete as soon as any bytes are available (never more than asked for). */
  partial?: boolean;
}

/** Options of `readUntil` and `readUntilRegex`. */
export interface ReadUntilOptions {
  /** Runs with the data instead of returning a Future. */
  callback?: ReadCallback;
  /** Close the stream if the delimiter is not found within this many bytes. */
  maxBytes?: number;
}

/** Options of `readUntilClose`. */
export interface ReadUntilCloseOptions {
  /** Runs with the data instead of returning a Future. */
  callback?: ReadCallback;
  /** Receives the data in chunks as it arrives; the final result is then empty. */
  streamingCallback?: ReadCallback;
}

/** Options of `IOStream.connect`. */
export interface ConnectOptions {
  /** Runs once connected instead of returning a Future. */
  callback?: () => void;
  /** The host name TLS will verify and send as SNI (used by SSL streams). */
  serverHostname?: string;
}

/** The options of an argument that gave none (a callback, or nothing). */
const NO_OPTIONS = Object.freeze({});

/**
 * The callback of a "callback or options" argument, or null; throws a
 * TypeError for anything else, or for a `callback` option that is not a
 * function. Two functions (with `optionsOf`) rather than one returning a
 * pair: the read methods run once per read, and a pair array was 64 bytes
 * of garbage each time.
 */
export function callbackOf<C extends (...args: any[]) => void>(arg: C | { callback?: C } | undefined | null): C | null {
  if (arg === undefined || arg === null) return null;
  if (typeof arg === 'function') return arg;
  if (typeof arg !== 'object') throw new TypeError(`expected a callback or an options object, got ${typeof arg}`);
  const callback = arg.callback;
  if (callback !== undefined && callback !== null && typeof callback !== 'function') {
    throw new TypeError(`callback must be a function, got ${typeof callback}`);
  }
  return callback ?? null;
}

/** The options of a "callback or options" argument (none for a callback); validate it with `callbackOf` first. */
export function optionsOf<O extends object>(arg: ((...args: any[]) => void) | O | undefined | null): Partial<O> {
  return arg !== null && typeof arg === 'object' ? arg : NO_OPTIONS;
}

export { toBytes } from '../reactor/sys/validate.js';
