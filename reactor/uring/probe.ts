/**
 * Opens the io_uring poller, or falls back to the platform's readiness
 * poller with one log line saying why. No Tornado counterpart (Tornado picks
 * its poller by platform in `IOLoop.configurable_default`).
 *
 * io_uring is refused in ordinary ways: ENOSYS (a kernel without it, or a
 * seccomp profile that hides it), EPERM (`kernel.io_uring_disabled`, Docker's
 * default seccomp profile), EINVAL (a kernel too old for DEFER_TASKRUN,
 * 6.1+, or missing a feature gale needs). Any of these means "use epoll";
 * anything else is a real failure and is thrown.
 *
 * Test hook: `GALE_URING_REFUSE=EPERM` (or `ENOSYS`, `EINVAL`, `EACCES`)
 * makes the ring's setup fail with that errno before the syscall, so the
 * whole suite can run as if the kernel refused io_uring (Docker's seccomp
 * profile: EPERM; qemu-user: ENOSYS). Read (by ../loop-options.ts, which
 * reads every GALE_* variable) where the default poller is opened; Rings
 * built directly are unaffected.
 */
import { genLog } from '../log.js';
import { OSError, errno as E } from '../sys/errors.js';
import type { Poller } from '../poller.js';
import type { SetupCall } from './ring.js';
import { URingPoller, type URingPollerOptions } from './poller.js';
import { ringRefusalFromEnvironment } from '../loop-options.js';

const REFUSAL_NAMES = ['ENOSYS', 'EPERM', 'EINVAL', 'EACCES'] as const;
const REFUSALS: ReadonlySet<number> = new Set(REFUSAL_NAMES.map((name) => E[name]));

/**
 * The setup that `GALE_URING_REFUSE` asks for (a stand-in returning
 * `-errno`), or undefined when it is unset or empty.
 */
export function refusedSetupFromEnv(value = ringRefusalFromEnvironment()): SetupCall | undefined {
  if (!value) return undefined;
  const name = REFUSAL_NAMES.find((n) => n === value);
  if (name === undefined) {
    throw new TypeError(`GALE_URING_REFUSE must be one of ${REFUSAL_NAMES.join(', ')} (got '${value}')`);
  }
  const errno = E[name];
  return () => -errno;
}

let explained = false; // the fallback is logged once per thread, not per loop

/** Why io_uring is unusable here, in words, for `errno` from io_uring_setup. */
export function refusalReason(errno: number): string {
  switch (errno) {
    case E.ENOSYS: return 'io_uring_setup is not available (ENOSYS: kernel without io_uring, or blocked by seccomp)';
    case E.EPERM: return 'io_uring_setup was refused (EPERM: kernel.io_uring_disabled or a seccomp profile)';
    case E.EACCES: return 'io_uring_setup was refused (EACCES)';
    default: return 'io_uring_setup rejected the ring (EINVAL: kernel older than 6.1, without DEFER_TASKRUN or a needed feature)';
  }
}

/**
 * The uring poller if the kernel gives us a ring, else `fallback()` (epoll
 * on Linux) after one warning. `options.setup` stands in for the syscall in
 * tests (else `GALE_URING_REFUSE`'s stand-in, if set).
 */
export function openURingPoller(fallback: () => Poller, options: URingPollerOptions = {}): Poller {
  if (process.platform !== 'linux') {
    explainOnce('io_uring is Linux-only');
    return fallback();
  }
  const setup = options.setup ?? refusedSetupFromEnv();
  try {
    return new URingPoller(setup ? { ...options, setup } : options);
  } catch (error) {
    if (!(error instanceof OSError) || !REFUSALS.has(error.errno) || error.syscall !== 'io_uring_setup') throw error;
    explainOnce(error.errno === E.EINVAL && error.message.includes('features') ? error.message : refusalReason(error.errno));
    return fallback();
  }
}

function explainOnce(reason: string): void {
  if (explained) return;
  explained = true;
  genLog.warn(`io_uring: ${reason}; using epoll instead (GALE_POLLER=epoll skips the probe)`);
}

/** Lets the next fallback log its line again (tests). */
export function resetFallbackNotice(): void {
  explained = false;
}
