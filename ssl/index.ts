/**
 * ssl: TLS for gale (Python's `ssl` module as Tornado 4.4 uses it, and
 * `tornado.netutil`'s `ssl_options_to_context` / `ssl_wrap_socket`).
 *
 * ## Why this design
 *
 * The fd stays on gale's reactor; the TLS protocol runs in Node's own
 * engine. gale reads ciphertext from the socket and writes ciphertext to it
 * with its own nonblocking calls, and a `tls.TLSSocket` built over a JS
 * stream handle that gale drives (./cipher-pipe.ts) turns it into plaintext — the shape of
 * asyncio's `sslproto.py` over `ssl.MemoryBIO`. No libuv handle exists for
 * the socket. This gives Node's defaults (TLS 1.2 minimum, bundled roots,
 * RFC 6125 host-name checks) and everything its engine supports: server
 * SNI and ALPN selection, client certificates, sessions.
 *
 * Calling OpenSSL directly through ffi-rs (the FFI backend then) was probed
 * and rejected: ffi-rs cannot make the synchronous C→JS calls that
 * server-side SNI, ALPN selection and verify callbacks need (koffi, the
 * backend since, can; not revisited), and a mistake with its raw pointers
 * aborts the whole process rather than throwing.
 *
 * The price, documented for users: a certificate that fails verification
 * is rejected after the handshake (the peer sees EOF, not a TLS alert), and
 * a nonblocking `doHandshake()` progresses only between loop turns.
 */
export {
  CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED, SSLContext, createDefaultContext,
  type SSLProtocol, type TLSVersion, type AlpnSelectCallback,
} from './context.js';
export type { ServernameCallback } from './servername-callback.js';
export { sslOptionsToContext, checkServerSslOptions, type SSLOptions } from './options.js';
export { SSLSocket, sslWrapSocket, type WrapOptions } from './ssl-socket.js';
export {
  SSLError, SSLWantReadError, SSLWantWriteError, SSLCertVerificationError, SSLEOFError, SSLZeroReturnError,
} from './errors.js';
export type { PeerCertInfo } from './peer-cert.js';
