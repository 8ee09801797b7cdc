/**
 * gale/resolvers: `Resolver` and its implementations (API.md, "resolvers"),
 * plus the getaddrinfo binding they are built on and its `GaiError`
 * (re-exported for porters: it lives on the ground floor,
 * reactor/sys/getaddrinfo.ts, because streams use it too).
 *
 * Modules inside gale import ./resolver.js directly, never this file.
 *
 * The resolver half of Tornado's `tornado.netutil`.
 */
export {
  Resolver, ResolverClosedError, BlockingResolver, ExecutorResolver, ThreadedResolver, OverrideResolver,
  type Resolved, type ResolverClass, type ExecutorResolverOptions, type ThreadedResolverOptions,
  type OverrideResolverOptions, type OverrideTarget,
} from './resolver.js';
export { GaiError, EAI, gaiStrerror, getaddrinfo, resolveSync, type AddrInfo } from '../reactor/sys/getaddrinfo.js';
