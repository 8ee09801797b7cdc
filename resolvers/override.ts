/**
 * `OverrideResolver`: local DNS changes without touching the system's.
 *
 * Tornado's `tornado.netutil.OverrideResolver`.
 */
import type { Future } from '../reactor/future.js';
import { Resolver, type Resolved } from './base.js';

/** Where an overridden name goes: another host (same port), or `[host, port]`. */
export type OverrideTarget = string | [host: string, port: number];

/** Options for `new OverrideResolver()`. */
export interface OverrideResolverOptions {
  /** The resolver that does the actual lookups (closed with this one). */
  resolver: Resolver;
  /** Keys: `"host"`, or `"host:port"` to override one port only (`"[::1]:80"` also works for IPv6). */
  mapping: Record<string, OverrideTarget>;
}

/**
 * Wraps a resolver with a mapping of overrides (Tornado's
 * `OverrideResolver`), e.g. to point a production name at a test server.
 * A `"host:port"` key wins over a `"host"` key. The rewritten host goes to
 * the wrapped resolver, so it may itself be a name.
 */
export class OverrideResolver extends Resolver {
  /** The wrapped resolver. */
  readonly resolver: Resolver;
  /** The overrides, as given. */
  readonly mapping: Readonly<Record<string, OverrideTarget>>;

  constructor(options: OverrideResolverOptions) {
    super();
    if (!(options?.resolver instanceof Resolver)) throw new TypeError('OverrideResolver needs a resolver to wrap');
    if (typeof options.mapping !== 'object' || options.mapping === null) throw new TypeError('OverrideResolver needs a mapping');
    this.resolver = options.resolver;
    this.mapping = options.mapping;
  }

  /** Applies the mapping, then asks the wrapped resolver. */
  protected resolveFuture(host: string, port: number, family: number): Future<Resolved> {
    const own = Object.prototype.hasOwnProperty;
    const keys = host.includes(':') ? [`${host}:${port}`, `[${host}]:${port}`] : [`${host}:${port}`];
    const key = keys.find((k) => own.call(this.mapping, k)) ?? (own.call(this.mapping, host) ? host : null);
    if (key !== null) {
      const target = this.mapping[key]!;
      if (typeof target === 'string') host = target;
      else [host, port] = target;
    }
    return this.resolver.resolve(host, port, family)!;
  }

  /** Closes the wrapped resolver too, as Tornado does. */
  override close(): void {
    super.close();
    this.resolver.close();
  }
}
