/**
 * The type of the SNI callback, in a file of its own: it names both the
 * context that holds it and the socket it is called with, and context.ts,
 * which ssl-socket.ts builds on, must not import ssl-socket.ts.
 */
import type { SSLContext } from './context.js';
import type { SSLSocket } from './ssl-socket.js';

/**
 * Chooses the context for a server connection from the name the client
 * asked for (SNI). Return another context to switch to it (or assign
 * `sslSocket.context`, as in Python); return nothing to keep this one.
 */
export type ServernameCallback = (sslSocket: SSLSocket, serverName: string | null, context: SSLContext) => SSLContext | void | null;
