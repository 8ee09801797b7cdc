/**
 * Picks the poller: `poller` option, else `GALE_POLLER`, else the best the
 * platform has (io_uring on Linux where the kernel gives us a ring, else
 * epoll; kqueue on macOS/BSD; poll elsewhere). `GALE_POLLER=epoll` is the
 * one variable that keeps a Linux program off io_uring.
 *
 * Tornado's `IOLoop.configurable_default`, which picks EPollIOLoop, KQueueIOLoop
 * or SelectIOLoop the same way.
 */
import { EPollPoller } from './epoll.js';
import { KQueuePoller } from './kqueue.js';
import { PollPoller } from './poll.js';
import { openURingPoller } from './uring/probe.js';
import type { Poller, PollerName } from './poller.js';

/** The default backend for this platform. */
export function platformPoller(): PollerName {
  if (process.platform === 'linux') return 'uring';
  if (process.platform === 'darwin' || process.platform.endsWith('bsd')) return 'kqueue';
  return 'poll';
}

/** Creates the poller named by the option, the environment, or the platform. */
export function createPoller(choice: 'auto' | PollerName = 'auto'): Poller {
  let name = choice;
  if (name === 'auto') name = (process.env.GALE_POLLER as PollerName | undefined) || platformPoller();
  switch (name) {
    case 'epoll': return new EPollPoller();
    case 'poll': return new PollPoller();
    case 'kqueue': return new KQueuePoller();
    // io_uring (Linux 6.1+), else epoll with one log line saying why.
    case 'uring': return openURingPoller(() => createPoller(process.platform === 'linux' ? 'epoll' : platformPoller()));
    default: throw new TypeError(`unknown poller '${String(name)}' (expected epoll, poll, kqueue or uring)`);
  }
}
