/**
 * Node's TLS engine (`node:tls`) and `node:crypto`'s `X509Certificate`,
 * loaded at first use instead of at import. No Tornado counterpart (Python
 * imports `ssl` with the interpreter).
 *
 * Why: every gale program imports this folder (TCPServer and TCPClient can
 * build SSL streams), but most never make one, and loading `node:tls` with
 * `node:crypto` costs an idle process ~2 MiB of resident memory (42.8 →
 * 44.7 MiB for `node:tls` alone over the built-ins a TCP server loads,
 * measured here). Built-in modules can be required synchronously from ESM,
 * so the first context or TLS stream loads them where it stands; nothing
 * else changes (same objects, same errors). Type-only imports of `node:tls`
 * elsewhere are free: they vanish at compile time.
 */
import { createRequire } from 'node:module';
import type * as Tls from 'node:tls';
import type { X509Certificate } from 'node:crypto';

const require = createRequire(import.meta.url);

let tls: typeof Tls | null = null;
let x509: typeof X509Certificate | null = null;

/** `node:tls`, loaded on the first call. */
export function nodeTls(): typeof Tls {
  return tls ??= require('node:tls') as typeof Tls;
}

/** `node:crypto`'s `X509Certificate` class, loaded on the first call. */
export function x509Certificate(): typeof X509Certificate {
  return x509 ??= (require('node:crypto') as typeof import('node:crypto')).X509Certificate;
}

/** Whether `node:tls` has been loaded through here (for the spec that checks it stays unloaded). */
export function nodeTlsLoaded(): boolean {
  return tls !== null;
}
