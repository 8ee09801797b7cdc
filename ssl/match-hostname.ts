/**
 * The host-name check of a server's certificate: Python's
 * `ssl.match_hostname`, which Tornado's `SSLIOStream._verify_cert` runs,
 * done by Node's `tls.checkServerIdentity` (RFC 6125: a DNS name is matched
 * against the DNS entries of subjectAltName, a wildcard standing for the
 * whole leftmost label only and never for a public suffix like `*.com`; the
 * commonName only when there is no DNS entry; an IP literal against the
 * IP Address entries only).
 *
 * Node's own message lists only the entries of the kind it compared (for
 * an IP address that is often an empty list); the error here names the
 * host and every name the certificate holds, so whoever reads it can see
 * what the certificate is for.
 */
import type { PeerCertificate } from 'node:tls';
import { nodeTls } from './node-tls.js';
import { isIP } from 'node:net';

/** The names `cert` holds, for a message: its subjectAltName entries, else its commonName. */
function certificateNames(cert: PeerCertificate): string {
  const altNames = cert.subjectaltname;
  const cn = (cert.subject as unknown as Record<string, string | string[]> | undefined)?.CN;
  const commonNames = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
  if (altNames) {
    return commonNames.length > 0 ? `${altNames} (commonName ${commonNames.join(', ')})` : altNames;
  }
  if (commonNames.length > 0) return `commonName ${commonNames.join(', ')} (no subjectAltName)`;
  return 'none: it has neither a subjectAltName nor a commonName';
}

/**
 * Why `cert` does not cover `hostname`, or undefined when it does. The
 * error has Node's code (`ERR_TLS_CERT_ALTNAME_INVALID`), so the TLS layer
 * turns it into an `SSLCertVerificationError` with that `verifyCode`.
 */
export function hostnameMismatch(hostname: string, cert: PeerCertificate): Error | undefined {
  const nodeError = nodeTls().checkServerIdentity(hostname, cert);
  if (nodeError === undefined) return undefined;
  const what = isIP(hostname) ? 'IP address' : 'hostname';
  const rule = isIP(hostname) ? ' (an IP address matches only IP Address entries)' : '';
  const message = `${what} '${hostname}' doesn't match the certificate's names${rule}: ${certificateNames(cert)}`;
  return Object.assign(new Error(message), { code: 'ERR_TLS_CERT_ALTNAME_INVALID', host: hostname });
}
