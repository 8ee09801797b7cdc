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

/** Node's `JSStream` handle: a C++ stream (for TLSWrap to sit on) whose I/O calls into JavaScript. */
export interface JSStreamHandle {
  /** Hands bytes to the stream's reader (the engine), which copies them in. */
  readBuffer(data: Uint8Array): void;
  /** Reports the write `req` done (`status` 0, or a negative libuv error). */
  finishWrite(req: object, status: number): void;
  /** Reports the shutdown `req` done. */
  finishShutdown(req: object, status: number): void;
  isClosing: () => boolean;
  onreadstart: () => number;
  onreadstop: () => number;
  onwrite: (req: object, records: Buffer[]) => number;
  onshutdown: (req: object) => number;
}

let jsStream: (new () => JSStreamHandle) | null = null;

/**
 * Node's `JSStream` class, which it exposes only on the handle of the
 * `JSStreamSocket` a `TLSSocket` builds over a JS stream: learnt once, from
 * a throwaway one (ssl/cipher-pipe.ts says why gale drives the handle itself).
 */
export function jsStreamHandleClass(): new () => JSStreamHandle {
  if (jsStream !== null) return jsStream;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Duplex } = require('node:stream') as typeof import('node:stream');
  const probe = new Duplex({ read() {}, write(_chunk, _encoding, callback) { callback(); } });
  const engine = new (nodeTls().TLSSocket)(probe);
  const handle = (engine as unknown as { _handle?: { _parent?: object } })._handle?._parent;
  engine.destroy();
  probe.destroy();
  const found = handle?.constructor as (new () => JSStreamHandle) | undefined;
  const proto = found?.prototype as Partial<Record<string, unknown>> | undefined;
  if (typeof found !== 'function' || typeof proto?.readBuffer !== 'function' || typeof proto.finishWrite !== 'function'
    || typeof proto.finishShutdown !== 'function') {
    throw new Error(`gale's TLS needs Node's JSStream handle, which this Node (${process.version}) does not expose as expected`);
  }
  return jsStream = found;
}
