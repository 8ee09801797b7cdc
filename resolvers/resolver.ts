/**
 * The resolvers, with the configured default set: the module everything
 * outside this folder imports `Resolver` from.
 *
 * The default is `ThreadedResolver`, where Tornado 4.4's is the blocking
 * `BlockingResolver`: gale keeps every name lookup off the loop's thread
 * unless asked otherwise (`Resolver.configure(BlockingResolver)`).
 */
import { Resolver, ResolverClosedError, setDefaultResolverClass, type Resolved, type ResolverClass } from './base.js';
import { BlockingResolver } from './blocking.js';
import { ExecutorResolver, type ExecutorResolverOptions } from './executor-resolver.js';
import { ThreadedResolver, type ThreadedResolverOptions } from './threaded.js';
import { OverrideResolver, type OverrideResolverOptions, type OverrideTarget } from './override.js';

setDefaultResolverClass(ThreadedResolver);

export {
  Resolver, ResolverClosedError, BlockingResolver, ExecutorResolver, ThreadedResolver, OverrideResolver,
  type Resolved, type ResolverClass, type ExecutorResolverOptions, type ThreadedResolverOptions,
  type OverrideResolverOptions, type OverrideTarget,
};
