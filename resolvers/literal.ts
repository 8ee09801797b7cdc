/**
 * Literal IP hosts, answered on the calling thread.
 *
 * A literal needs no name service, so sending it to a worker would only
 * add a round trip (~100 µs) for what costs nothing here. getaddrinfo is
 * still the judge of a literal of the wrong family, but with
 * AI_NUMERICHOST so that it cannot fall through to DNS: glibc hands a
 * string it could not parse for the asked family to NSS, which may block.
 *
 * No Tornado counterpart: Tornado sends literals through the resolver like any
 * name; gale answers them here.
 */
import { AF_INET, AF_INET6, AF_UNSPEC, AI_NUMERICHOST, SOCK_STREAM } from '../reactor/sys/constants.js';
import { parseIPv4, parseIPv6 } from '../reactor/sys/sockaddr.js';
import { getaddrinfo, resolveSync } from '../reactor/sys/getaddrinfo.js';
import type { Resolved } from './base.js';

/** The family of a literal IP host (IPv6 may carry a `%scope`), or 0 for a name. */
export function literalFamily(host: string): number {
  if (parseIPv4(host)) return AF_INET;
  const percent = host.indexOf('%');
  if (parseIPv6(percent < 0 ? host : host.slice(0, percent))) return AF_INET6;
  return 0;
}

/**
 * Resolves a literal host without leaving the thread or blocking; returns
 * null when `host` is a name. Throws `GaiError` for a literal of another
 * family than the one asked for.
 */
export function resolveLiteral(host: string, port: number, family: number): Resolved | null {
  const literal = literalFamily(host);
  if (literal === 0) return null;
  // The common case: resolveSync answers a plain literal without any FFI call.
  if ((family === AF_UNSPEC || family === literal) && !host.includes('%')) return resolveSync(host, port, family);
  const seen = new Set<string>();
  const results: Resolved = [];
  for (const info of getaddrinfo(host, port, family, SOCK_STREAM, 0, AI_NUMERICHOST)) {
    const key = JSON.stringify(info.address);
    if (seen.has(key)) continue;
    seen.add(key);
    results.push([info.family, info.address]);
  }
  return results;
}
