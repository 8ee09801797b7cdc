/**
 * Makes the poller a loop asked for (./loop-options.ts decides which: the
 * `poller` option, else `GALE_POLLER`, else the platform's best — io_uring
 * on Linux where the kernel gives us a ring, else epoll; kqueue on
 * macOS/BSD; poll elsewhere).
 *
 * Tornado's `IOLoop.configurable_default`, which picks EPollIOLoop, KQueueIOLoop
 * or SelectIOLoop the same way.
 */
import { EPollPoller } from './epoll.js';
import { KQueuePoller } from './kqueue.js';
import { PollPoller } from './poll.js';
import { openURingPoller } from './uring/probe.js';
import { platformPoller, resolvePoller, resolveURing, type URingConfig } from './loop-options.js';
import type { Poller, PollerName } from './poller.js';

export { platformPoller };

/**
 * Creates the poller `choice` names (`'auto'`: `GALE_POLLER`, else the
 * platform's), a uring one with `uring`'s options (default: the
 * environment's).
 */
export function createPoller(choice: 'auto' | PollerName = 'auto', uring: URingConfig = resolveURing()): Poller {
  const name = resolvePoller(choice);
  switch (name) {
    case 'epoll': return new EPollPoller();
    case 'poll': return new PollPoller();
    case 'kqueue': return new KQueuePoller();
    // io_uring (Linux 6.1+), else epoll with one log line saying why.
    case 'uring': return openURingPoller(() => createPoller(process.platform === 'linux' ? 'epoll' : platformPoller()), { uring });
  }
}
