/**
 * The abstract `Resolver` and Tornado's `Configurable` machinery behind
 * `Resolver.configure` / `Resolver.create`.
 *
 * Kept apart from the implementations so that they can extend it without an
 * import cycle: ./resolver.ts imports this file and every implementation,
 * then names the default. Code outside this folder imports ./resolver.ts
 * (or the folder's index), never this file, so the default is always set.
 */
import { checkInteger, checkPort, describeValue } from '../reactor/sys/validate.js';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { AF_UNSPEC } from '../reactor/sys/constants.js';
import type { Address } from '../reactor/sys/sockaddr.js';

/** What a lookup yields: `[family, address]` pairs, ready for `Socket.connect`. */
export type Resolved = Array<[family: number, address: Address]>;

/** A concrete resolver class, as `Resolver.configure` takes it. */
export type ResolverClass = new (options?: any) => Resolver;

/**
 * Raised (through the Future) for a lookup asked of a closed resolver, or
 * still in flight when its resolver was closed.
 */
export class ResolverClosedError extends Error {}
Object.defineProperty(ResolverClosedError.prototype, 'name', { value: 'ResolverClosedError', writable: true, configurable: true });

// One configuration per thread (module instances are per thread), as
// Tornado's is per process.
let configuredImpl: ResolverClass | null = null;
let configuredOptions: object = {};
let defaultImpl: ResolverClass | null = null;

/**
 * Names the class `Resolver.create()` makes when nothing was configured.
 * @internal Called once, by ./resolver.ts.
 */
export function setDefaultResolverClass(impl: ResolverClass): void {
  defaultImpl = impl;
}

/**
 * A configurable asynchronous DNS resolver (Tornado's `Resolver`).
 *
 * `Resolver.create()` makes an instance of the configured implementation;
 * `Resolver.configure(impl, options)` picks it. Unlike Tornado 4.4, whose
 * default `BlockingResolver` stalls the loop for the whole lookup, gale's
 * default is `ThreadedResolver`: a slow DNS server must not freeze every
 * other connection on the loop.
 *
 * To write an implementation, extend this class and implement
 * `resolveFuture`; `resolve` adds the callback form, argument checks and
 * the closed check on top of it.
 */
export abstract class Resolver {
  private isClosed = false;

  /**
   * Picks the implementation `Resolver.create()` makes, and the options it
   * is given (merged under the ones passed to `create`). `null` restores
   * the default (`ThreadedResolver`, no options).
   *
   * @throws TypeError if `impl` is not a concrete subclass of Resolver.
   */
  static configure(impl: ResolverClass | null, options: object = {}): void {
    if (impl !== null && !(typeof impl === 'function' && impl.prototype instanceof Resolver)) {
      throw new TypeError(`Invalid subclass of Resolver: ${String((impl as { name?: string })?.name ?? impl)}`);
    }
    configuredImpl = impl;
    configuredOptions = impl === null ? {} : { ...options };
  }

  /** The class `Resolver.create()` makes now. */
  static configuredClass(): ResolverClass {
    const impl = configuredImpl ?? defaultImpl;
    if (!impl) throw new Error('no default Resolver class: import resolvers/resolver.js, not resolvers/base.js');
    return impl;
  }

  /**
   * Makes a resolver. Called on `Resolver` itself, it makes the configured
   * class with the configured options under `options`; called on a
   * subclass, it makes that subclass with `options` alone (as Tornado's
   * `Configurable.__new__` does).
   */
  static create(options: object = {}): Resolver {
    if (this === Resolver) {
      const impl = Resolver.configuredClass();
      return new impl({ ...configuredOptions, ...options });
    }
    return new (this as unknown as ResolverClass)(options);
  }

  /**
   * Resolves `host` (a name or a literal IP address) and `port` to
   * `[family, address]` pairs. `family` restricts the answer to AF_INET or
   * AF_INET6.
   *
   * Without `callback`, returns a Future. With one, returns null and calls
   * `callback(result)` on a later loop iteration; a failure then goes to
   * the loop's exception log, as Tornado's callback form does.
   *
   * Failures reject with `GaiError` (`code` 'EAI_NONAME' and so on, and
   * gai_strerror's text), `TypeError`/`RangeError` for bad arguments, and
   * `ResolverClosedError` once the resolver is closed.
   */
  resolve(host: string, port: number, family: number = AF_UNSPEC,
    callback?: (result: Resolved) => void): Future<Resolved> | null {
    let future: Future<Resolved>;
    try {
      checkArguments(host, port, family);
      if (this.isClosed) throw new ResolverClosedError(`${this.constructor.name} is closed; cannot resolve ${host}`);
      future = this.resolveFuture(host, port, family);
    } catch (error) {
      future = new Future<Resolved>();
      future.setException(error);
    }
    if (!callback) return future;
    IOLoop.current()!.addFuture(future, (done) => callback(done.result()));
    return null;
  }

  /** Frees the resolver's resources. Later lookups reject with `ResolverClosedError`. */
  close(): void {
    this.isClosed = true;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * The lookup itself, always as a Future. Arguments are already checked.
   * Errors may be thrown or delivered through the Future.
   */
  protected abstract resolveFuture(host: string, port: number, family: number): Future<Resolved>;
}

function checkArguments(host: unknown, port: unknown, family: unknown): void {
  if (typeof host !== 'string') throw new TypeError(`host must be a string, got ${describeValue(host)}`);
  checkPort('port', port);
  checkInteger('family', family);
}

/** A Future already settled with what `fn` returns or throws. */
export function settledFuture<T>(fn: () => T): Future<T> {
  const future = new Future<T>();
  try {
    future.setResult(fn());
  } catch (error) {
    future.setException(error);
  }
  return future;
}
