/**
 * `BlockingResolver`: getaddrinfo on the loop's own thread.
 */
import type { Future } from '../reactor/future.js';
import { Resolver, settledFuture, type Resolved } from './base.js';
import { resolveLiteral } from './literal.js';
import { resolveSync } from '../reactor/sys/getaddrinfo.js';

/**
 * Resolves with a blocking getaddrinfo call on the loop's thread (Tornado's
 * `BlockingResolver`). The loop stalls for the whole lookup, which for a
 * name the local hosts file does not know means a DNS round trip or a
 * resolver timeout; use it where lookups are known to be local, or in
 * tests. The returned Future is already settled; a callback still runs on
 * the next loop iteration.
 */
export class BlockingResolver extends Resolver {
  /** Takes no options; the parameter exists so `Resolver.create` can pass its own. */
  constructor(_options: object = {}) {
    super();
  }

  /** getaddrinfo, now, on this thread. */
  protected resolveFuture(host: string, port: number, family: number): Future<Resolved> {
    return settledFuture(() => resolveLiteral(host, port, family) ?? resolveSync(host, port, family));
  }
}
