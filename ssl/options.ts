/**
 * Tornado's `ssl_options` dictionary and its conversion to an `SSLContext`
 * (`tornado.netutil.ssl_options_to_context`), plus the check `TCPServer`
 * makes of it before serving.
 */
import { existsSync } from 'node:fs';
import { SSLContext } from './context.js';

/**
 * Tornado's `ssl_options` dict in camelCase: the keyword arguments of
 * Python's `ssl.wrap_socket`.
 */
export interface SSLOptions {
  /** PEM file with this side's certificate (and the key, without `keyfile`). */
  certfile?: string;
  /** PEM file with the private key. */
  keyfile?: string;
  /** `CERT_NONE`, `CERT_OPTIONAL` or `CERT_REQUIRED`. */
  certReqs?: number;
  /** PEM file of CA certificates to verify the peer against. */
  caCerts?: string;
  /** OpenSSL cipher list. */
  ciphers?: string;
  /** Accepted for compatibility; every TLS version Node allows is negotiated. */
  sslVersion?: number;
}

const KEYS = new Set(['certfile', 'keyfile', 'certReqs', 'caCerts', 'ciphers', 'sslVersion']);

/**
 * Converts Tornado's `sslOptions` dict into an `SSLContext`; a context is
 * returned as it is. As in Tornado, the dict's context is Python's generic
 * one (`PROTOCOL_SSLv23`): it verifies nothing unless `certReqs` says so.
 * Unknown keys are refused (Tornado asserts the same).
 */
export function sslOptionsToContext(sslOptions: SSLOptions | SSLContext): SSLContext {
  if (sslOptions instanceof SSLContext) return sslOptions;
  if (sslOptions === null || typeof sslOptions !== 'object') throw new TypeError('sslOptions must be an SSLContext or an options object');
  for (const key of Object.keys(sslOptions)) {
    if (!KEYS.has(key)) throw new TypeError(`unknown sslOptions key ${JSON.stringify(key)} (known: ${[...KEYS].join(', ')})`);
  }
  const context = new SSLContext('tls');
  if (sslOptions.certfile != null) context.loadCertChain(sslOptions.certfile, sslOptions.keyfile ?? null);
  if (sslOptions.certReqs != null) context.verifyMode = sslOptions.certReqs;
  if (sslOptions.caCerts != null) context.loadVerifyLocations({ cafile: sslOptions.caCerts });
  if (sslOptions.ciphers != null) context.setCiphers(sslOptions.ciphers);
  return context;
}

/**
 * What `TCPServer` checks of its `sslOptions` at construction (Tornado
 * does too): a dict needs a `certfile`, and the files it names must exist;
 * a context needs a certificate chain. The error says what is wrong.
 */
export function checkServerSslOptions(sslOptions: SSLOptions | SSLContext): void {
  if (sslOptions instanceof SSLContext) {
    if (!sslOptions.hasCertChain()) throw new Error('the server SSLContext has no certificate: call loadCertChain(certfile, keyfile) first');
    return;
  }
  if (sslOptions === null || typeof sslOptions !== 'object') throw new TypeError('sslOptions must be an SSLContext or an options object');
  if (sslOptions.certfile == null) throw new Error('missing key "certfile" in sslOptions');
  if (!existsSync(sslOptions.certfile)) throw new Error(`certfile "${sslOptions.certfile}" does not exist`);
  if (sslOptions.keyfile != null && !existsSync(sslOptions.keyfile)) throw new Error(`keyfile "${sslOptions.keyfile}" does not exist`);
}
