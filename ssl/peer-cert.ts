/**
 * The peer certificate in the shape Python's `SSLSocket.getpeercert()`
 * returns (what Tornado code inspects), from Node's `getPeerCertificate()`.
 */
import type { PeerCertificate } from 'node:tls';

/** Python's dict form of a certificate. */
export interface PeerCertInfo {
  subject: Array<Array<[string, string]>>;
  issuer: Array<Array<[string, string]>>;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  subjectAltName: Array<[string, string]>;
}

// OpenSSL's short names → Python's long names.
const LONG_NAMES: Record<string, string> = {
  CN: 'commonName', O: 'organizationName', OU: 'organizationalUnitName', C: 'countryName',
  ST: 'stateOrProvinceName', L: 'localityName', emailAddress: 'emailAddress',
};

function rdns(name: Record<string, string | string[]> | undefined): Array<Array<[string, string]>> {
  const out: Array<Array<[string, string]>> = [];
  for (const [key, value] of Object.entries(name ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) out.push([[LONG_NAMES[key] ?? key, v]]);
  }
  return out;
}

function altNames(text: string | undefined): Array<[string, string]> {
  if (!text) return [];
  return text.split(', ').map((entry) => {
    const colon = entry.indexOf(':');
    const kind = entry.slice(0, colon);
    return [kind === 'IP Address' ? 'IP Address' : kind, entry.slice(colon + 1)] as [string, string];
  });
}

/** Converts Node's certificate object; null when there is none. */
export function toPeerCertInfo(cert: PeerCertificate | null | undefined): PeerCertInfo | null {
  if (!cert || Object.keys(cert).length === 0) return null;
  return {
    subject: rdns(cert.subject as unknown as Record<string, string>),
    issuer: rdns(cert.issuer as unknown as Record<string, string>),
    serialNumber: cert.serialNumber,
    notBefore: cert.valid_from,
    notAfter: cert.valid_to,
    subjectAltName: altNames(cert.subjectaltname),
  };
}
