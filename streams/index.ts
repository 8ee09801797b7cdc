/**
 * streams: buffered nonblocking streams over fds (Tornado's
 * `tornado.iostream`). `IOStream` wraps a socket, `SSLIOStream` a TLS
 * socket, `PipeIOStream` a pipe; all share `BaseIOStream`'s read family, writes and close semantics.
 */
export { BaseIOStream, isConnReset, DEFAULT_MAX_BUFFER_SIZE, DEFAULT_READ_CHUNK_SIZE } from './base-iostream.js';
export { IOStream } from './iostream.js';
export { PipeIOStream } from './pipe-iostream.js';
export { SSLIOStream, type SSLIOStreamOptions } from './ssl-iostream.js';
export { StreamClosedError, UnsatisfiableReadError, StreamBufferFullError } from './errors.js';
export type {
  StreamOptions, ReadCallback, ReadBytesOptions, ReadUntilOptions, ReadUntilCloseOptions, ConnectOptions,
} from './options.js';
