/**
 * The TLS errors (Python's `ssl.SSLError` family, as Tornado 4.4 sees them),
 * and the mapping from Node's TLS/OpenSSL errors onto them.
 *
 * Node reports OpenSSL failures with a `code` such as
 * `ERR_SSL_WRONG_VERSION_NUMBER` or `ERR_OSSL_PEM_NO_START_LINE` and a
 * `library` such as `'SSL routines'`; certificate checks fail with an X509
 * verify code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`) or
 * `ERR_TLS_CERT_ALTNAME_INVALID`. Python's errors carry `reason`
 * (`'WRONG_VERSION_NUMBER'`) and `library` (`'SSL'`); the mapping keeps
 * those shapes, so code ported from Tornado that looks at them still works.
 */
import { OSError } from '../reactor/sys/errors.js';

// Python's SSL_ERROR_* numbers, used as `errno` (as Python's SSLError does).
export const SSL_ERROR_SSL = 1;
export const SSL_ERROR_WANT_READ = 2;
export const SSL_ERROR_WANT_WRITE = 3;
export const SSL_ERROR_ZERO_RETURN = 6;
export const SSL_ERROR_EOF = 8;

function setName(cls: { prototype: object }, name: string): void {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
}

/** A TLS failure. `reason` and `library` are OpenSSL's, as Python reports them. */
export class SSLError extends OSError {
  /** OpenSSL's reason, e.g. `'WRONG_VERSION_NUMBER'`, `'CERTIFICATE_VERIFY_FAILED'`. */
  reason: string;
  /** OpenSSL's library, e.g. `'SSL'`, `'PEM'`. */
  library: string;

  constructor(message: string, options: { reason?: string; library?: string; errno?: number; code?: string } = {}) {
    const errno = options.errno ?? SSL_ERROR_SSL;
    const reason = options.reason ?? 'UNKNOWN';
    const library = options.library ?? 'SSL';
    super(errno, undefined, `[${library}: ${reason}] ${message}`, options.code ?? `ERR_SSL_${reason}`);
    this.reason = reason;
    this.library = library;
  }
}
setName(SSLError, 'SSLError');

/** The TLS layer needs to read from the socket before it can go on (nonblocking sockets). */
export class SSLWantReadError extends SSLError {
  constructor(message = 'The operation did not complete (read)') {
    super(message, { reason: 'WANT_READ', errno: SSL_ERROR_WANT_READ });
  }
}
setName(SSLWantReadError, 'SSLWantReadError');

/** The TLS layer needs to write to the socket before it can go on (nonblocking sockets). */
export class SSLWantWriteError extends SSLError {
  constructor(message = 'The operation did not complete (write)') {
    super(message, { reason: 'WANT_WRITE', errno: SSL_ERROR_WANT_WRITE });
  }
}
setName(SSLWantWriteError, 'SSLWantWriteError');

/**
 * The peer's certificate was not accepted: an unknown CA, a self-signed or
 * expired certificate, or a host name it does not cover. `verifyCode` keeps
 * the X509 code (or `ERR_TLS_CERT_ALTNAME_INVALID` for a host name).
 */
export class SSLCertVerificationError extends SSLError {
  /** The X509 verify code, e.g. `'UNABLE_TO_VERIFY_LEAF_SIGNATURE'`. */
  verifyCode: string;
  constructor(message: string, verifyCode: string) {
    super(`certificate verify failed: ${message} (${verifyCode})`, { reason: 'CERTIFICATE_VERIFY_FAILED', code: verifyCode });
    this.verifyCode = verifyCode;
  }
}
setName(SSLCertVerificationError, 'SSLCertVerificationError');

/** The connection ended in violation of the protocol (EOF during the handshake). */
export class SSLEOFError extends SSLError {
  constructor(message = 'EOF occurred in violation of protocol') {
    super(message, { reason: 'UNEXPECTED_EOF_WHILE_READING', errno: SSL_ERROR_EOF });
  }
}
setName(SSLEOFError, 'SSLEOFError');

/** The peer closed the TLS session (close_notify). */
export class SSLZeroReturnError extends SSLError {
  constructor(message = 'TLS/SSL connection has been closed (EOF)') {
    super(message, { reason: 'ZERO_RETURN', errno: SSL_ERROR_ZERO_RETURN });
  }
}
setName(SSLZeroReturnError, 'SSLZeroReturnError');

// Node passes OpenSSL's X509 verify codes through bare (`CERT_HAS_EXPIRED`,
// `DEPTH_ZERO_SELF_SIGNED_CERT`, ...): capitals without the `ERR_` prefix
// that Node's own codes have, and not an errno name (`ECONNRESET`).
function isVerifyCode(code: string): boolean {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return true;
  return /^[A-Z][A-Z0-9_]+$/.test(code) && code.includes('_') && !code.startsWith('ERR_');
}

/**
 * The gale error for an error Node's TLS engine or `createSecureContext`
 * raised. OS errors stay as they are; anything unknown becomes a plain
 * `SSLError` keeping Node's message.
 */
export function toSSLError(error: unknown): Error {
  if (error instanceof SSLError || error instanceof OSError) return error;
  const e = error as { code?: unknown; message?: unknown; library?: unknown; reason?: unknown; errno?: unknown; syscall?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const code = typeof e?.code === 'string' ? e.code : '';
  // Node's socket-level errors (ECONNRESET from the duplex) stay OS errors.
  if (/^E[A-Z]+$/.test(code) && typeof e.errno === 'number') {
    return new OSError(Math.abs(e.errno), typeof e.syscall === 'string' ? e.syscall : undefined, message, code);
  }
  if (code && isVerifyCode(code)) return new SSLCertVerificationError(message, code);
  const library = typeof e?.library === 'string' ? e.library.replace(/ routines$/, '') : 'SSL';
  let reason = '';
  if (code.startsWith('ERR_SSL_')) reason = code.slice('ERR_SSL_'.length);
  else if (code.startsWith('ERR_OSSL_')) {
    reason = code.slice('ERR_OSSL_'.length);
    const prefix = library.toUpperCase().replace(/[^A-Z0-9]+/g, '_') + '_';
    if (reason.startsWith(prefix)) reason = reason.slice(prefix.length);
  } else if (typeof e?.reason === 'string') reason = e.reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
  else if (code) reason = code.replace(/^ERR_/, '');
  return new SSLError(message, { reason: reason || 'UNKNOWN', library, code: code || undefined });
}
