/**
 * The one options resolver: what `new IOLoop(options)` asks for, completed
 * from the environment and the platform, and checked. Configuration is an
 * option; the `GALE_*` variables are only its defaults, and this is the one
 * file in gale that reads them (the worker handshake in net/process.ts is
 * not configuration). They are read when a loop is made, so two loops in one
 * process may run different backends and modes, and a test passes options
 * instead of mutating `process.env`.
 *
 * | option | default from | values |
 * |---|---|---|
 * | `poller` | `GALE_POLLER` | `'uring' \| 'epoll' \| 'poll' \| 'kqueue'` (else the platform's best) |
 * | `trace` | `GALE_TRACE=1` | boolean |
 * | `uring.streams` | `GALE_URING_STREAMS` (`2`/`1`/`0` or the names) | `'ring'` (RECV, SENDs, close through the ring), `'reads'` (RECV; write(2)), `'readiness'` (the ring only polls) |
 * | `uring.pipes` | `GALE_URING_PIPES=0` turns off | pipe read ends read through the ring (not with `streams: 'readiness'`) |
 * | `uring.accept` | `GALE_URING_ACCEPT=0` turns off | listeners accept through the ring |
 * | `uring.connect` | `GALE_URING_CONNECT=0` turns off | `IOStream.connect` through the ring |
 * | `uring.submit` | `GALE_URING_SUBMIT=turn` | `'enter'` (SENDs go with the loop's next enter) or `'turn'` (also at the end of each turn that wrote) |
 * | `uring.sendBudget` | 64 MiB | bytes all the ring's send buffers hold together |
 * | `uring.quietSends` | `GALE_URING_QUIET_SENDS=0` turns off | a single SEND posts no CQE when the socket takes it at once |
 * | `uring.directSends` | `GALE_URING_DIRECT_SENDS=0` turns off | a received chunk written back whole is sent from its own buffer, not copied |
 *
 * `GALE_DEBUG` (debug log records on stderr) is read here too, per record,
 * since logging exists before and without any loop.
 *
 * Tornado's `IOLoop.configure()` picks the implementation class; here the
 * backend is an option of the instance, as asyncio's event loop policy
 * leaves it to each loop.
 */
import type { PollerName } from './poller.js';
import { describeValue } from './sys/validate.js';

/** How a uring loop runs stream sockets (docs/uring.md, "Completion streams"). */
export type URingStreamsMode = 'ring' | 'reads' | 'readiness';

/** Options of a loop on io_uring (`new IOLoop({ uring })`); ignored by other backends. */
export interface URingOptions {
  /**
   * How stream sockets use the ring: `'ring'` (the default: a multishot
   * RECV reads, linked SENDs write, the ring closes), `'reads'` (RECV
   * reads, write(2) writes), `'readiness'` (read(2)/write(2) on readiness:
   * the ring only polls).
   */
  streams?: URingStreamsMode;
  /** Pipe read ends read through the ring (default true; never with `streams: 'readiness'`). */
  pipes?: boolean;
  /** Listeners accept through the ring (default true). */
  accept?: boolean;
  /** `IOStream.connect` goes through the ring (IORING_OP_CONNECT; default true). */
  connect?: boolean;
  /**
   * When written bytes reach the kernel: `'enter'` (the default: with the
   * loop's next io_uring_enter) or `'turn'` (also at the end of every turn
   * that wrote: for code that blocks the thread right after a write).
   */
  submit?: 'enter' | 'turn';
  /** Bytes all the ring's send buffers may hold together (default 64 MiB). */
  sendBudget?: number;
  /**
   * A socket's single SEND goes out with `IOSQE_CQE_SKIP_SUCCESS |
   * MSG_DONTWAIT` where the kernel can skip CQEs, so a reply the socket
   * takes at once posts no completion (default true; docs/uring.md,
   * "Quiet SENDs"). False: every SEND posts its CQE.
   */
  quietSends?: boolean;
  /**
   * A received chunk of 32–64 KiB that a stream writes back whole (an
   * echo) is sent from the provided buffer it arrived in, with an enter
   * inside `write()`, instead of copied into a send slot (default true;
   * needs quiet SENDs; docs/uring.md, "Bulk on the ring"). False copies
   * every write.
   */
  directSends?: boolean;
}

/** Every uring option, decided. */
export type URingConfig = Required<URingOptions>;

/** The options `new IOLoop()` takes that this file decides. */
export interface BackendOptions {
  /** The backend (default: `GALE_POLLER`, else the platform's best). */
  poller?: 'auto' | PollerName;
  /** Log every iteration (default: `GALE_TRACE=1`). */
  trace?: boolean;
  /** The io_uring backend's options (default: the `GALE_URING_*` variables). */
  uring?: URingOptions;
}

/** What a loop is made with. */
export interface ResolvedBackend {
  /** The backend asked for ('auto' resolved to the platform's best). */
  poller: PollerName;
  trace: boolean;
  uring: URingConfig;
}

/** The environment, as far as gale reads it. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Default ring-wide send budget: 64 MiB (eight sockets' full send buffer). */
export const DEFAULT_SEND_BUDGET = 64 * 1024 * 1024;

const POLLERS: readonly PollerName[] = ['uring', 'epoll', 'poll', 'kqueue'];
const STREAM_MODES: readonly URingStreamsMode[] = ['ring', 'reads', 'readiness'];

/** The default backend for this platform: io_uring on Linux, kqueue on macOS/BSD, poll elsewhere. */
export function platformPoller(): PollerName {
  if (process.platform === 'linux') return 'uring';
  if (process.platform === 'darwin' || process.platform.endsWith('bsd')) return 'kqueue';
  return 'poll';
}

/**
 * Completes and checks a loop's backend options: each one given wins,
 * else its `GALE_*` variable in `env`, else the default.
 *
 * @throws {TypeError|RangeError} naming the option, for a value it does not know.
 */
export function resolveBackend(options: BackendOptions = {}, env: Environment = process.env): ResolvedBackend {
  return {
    poller: resolvePoller(options.poller ?? 'auto', env),
    trace: options.trace === undefined ? env.GALE_TRACE === '1' : checkBoolean('trace', options.trace),
    uring: resolveURing(options.uring, env),
  };
}

/** The backend `choice` names, `'auto'` from `GALE_POLLER` or the platform. */
export function resolvePoller(choice: 'auto' | PollerName, env: Environment = process.env): PollerName {
  const name = choice === 'auto' ? (env.GALE_POLLER || platformPoller()) : choice;
  if (!POLLERS.includes(name as PollerName)) {
    const source = choice === 'auto' ? 'GALE_POLLER' : 'poller';
    throw new TypeError(`unknown poller '${String(name)}' in ${source} (expected epoll, poll, kqueue or uring)`);
  }
  return name as PollerName;
}

/** Every uring option, from `options`, else `env`, else the default. */
export function resolveURing(options: URingOptions = {}, env: Environment = process.env): URingConfig {
  if (typeof options !== 'object' || options === null) throw new TypeError(`uring must be an object, got ${describeValue(options)}`);
  const streams = options.streams ?? streamsFromEnv(env.GALE_URING_STREAMS);
  if (!STREAM_MODES.includes(streams)) {
    throw new TypeError(`uring.streams must be 'ring', 'reads' or 'readiness', got ${describeValue(streams)}`);
  }
  const submit = options.submit ?? (env.GALE_URING_SUBMIT === 'turn' ? 'turn' : 'enter');
  if (submit !== 'enter' && submit !== 'turn') throw new TypeError(`uring.submit must be 'enter' or 'turn', got ${describeValue(submit)}`);
  const sendBudget = options.sendBudget ?? DEFAULT_SEND_BUDGET;
  if (!Number.isSafeInteger(sendBudget) || sendBudget < 1) {
    throw new RangeError(`uring.sendBudget must be a positive integer (bytes), got ${describeValue(sendBudget)}`);
  }
  return {
    streams,
    pipes: options.pipes === undefined ? env.GALE_URING_PIPES !== '0' : checkBoolean('uring.pipes', options.pipes),
    accept: options.accept === undefined ? env.GALE_URING_ACCEPT !== '0' : checkBoolean('uring.accept', options.accept),
    connect: options.connect === undefined ? env.GALE_URING_CONNECT !== '0' : checkBoolean('uring.connect', options.connect),
    submit,
    sendBudget,
    quietSends: options.quietSends === undefined ? env.GALE_URING_QUIET_SENDS !== '0' : checkBoolean('uring.quietSends', options.quietSends),
    directSends: options.directSends === undefined ? env.GALE_URING_DIRECT_SENDS !== '0' : checkBoolean('uring.directSends', options.directSends),
  };
}

/**
 * `GALE_URING_REFUSE` (ENOSYS, EPERM, EINVAL, EACCES): a test hook, not an
 * option — opening a uring poller then fails as a refusing kernel would
 * (./uring/probe.ts checks and applies it).
 */
export function ringRefusalFromEnvironment(env: Environment = process.env): string | undefined {
  return env.GALE_URING_REFUSE;
}

/** `GALE_CHILD_WATCH` (`poll` forces waitpid polling for subprocesses; net/child-watch.ts asks per child). */
export function childWatchFromEnvironment(env: Environment = process.env): string | undefined {
  return env.GALE_CHILD_WATCH;
}

/** Whether debug log records are shown (`GALE_DEBUG` set), asked per record. */
export function debugLogging(env: Environment = process.env): boolean {
  return !!env.GALE_DEBUG;
}

/** `GALE_URING_STREAMS`: the old digits (0, 1, 2) or a mode's name; anything else is the default. */
function streamsFromEnv(value: string | undefined): URingStreamsMode {
  if (value === '0' || value === 'readiness') return 'readiness';
  if (value === '1' || value === 'reads') return 'reads';
  return 'ring';
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describeValue(value)}`);
  return value;
}
