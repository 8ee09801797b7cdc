/**
 * Logging, pluggable (Tornado's `tornado.log`). Tornado logs through three
 * named loggers — `app_log` (tornado.application), `gen_log`
 * (tornado.general), `access_log` (tornado.access); gale keeps the three
 * channels, their names and the message wording. Every record carries its
 * channel's name, so a test or a log pipeline can tell them apart, as
 * Tornado's `ExpectLog(app_log, …)` and `ExpectLog(gen_log, …)` do.
 *
 * Records go to one `Logger` that an embedder can replace (`setLogger`), or
 * to a logger set for one channel (`setLogger(logger, 'tornado.access')`, as
 * Python attaches a handler to `logging.getLogger('tornado.access')`).
 */
import { inspect } from 'node:util';
import { debugLogging } from './loop-options.js';

/** Tornado's logger names, one per channel. */
export type LoggerName = 'tornado.application' | 'tornado.general' | 'tornado.access';

/** A record's level (Python's DEBUG, INFO, WARNING, ERROR). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One log record: the channel it was logged on, its level and its arguments. */
export interface LogRecord {
  /** The channel (Tornado's logger name). */
  name: LoggerName;
  level: LogLevel;
  args: unknown[];
}

/**
 * What gale logs through. Any console-like object fits. A logger that also
 * has `handle(record)` gets every record there instead, with its channel
 * name (Python's `Handler.handle`).
 */
export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  handle?(record: LogRecord): void;
}

/** A channel: logs through the logger set for it, else the shared one. */
export interface Channel extends Logger {
  /** The channel's Tornado logger name. */
  readonly name: LoggerName;
  /** The name, so `${appLog}` reads as in Tornado. */
  toString(): string;
}

function format(args: unknown[]): string {
  return args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.stack ?? String(a) : inspect(a))).join(' ');
}

const TAGS: Record<LogLevel, string> = { debug: 'D', info: 'I', warn: 'W', error: 'E' };

function writeLine(record: LogRecord): void {
  if (record.level === 'debug' && !debugLogging()) return;
  process.stderr.write(`[${TAGS[record.level]} ${record.name}] ${format(record.args)}\n`);
}

// The channel of the record being delivered to a logger's level method, so
// the default logger (and copies of it, `{ ...stderrLogger, info }`) can
// name it; null when a level method is called directly.
let deliveringName: LoggerName | null = null;

function stderrMethod(level: LogLevel): (...args: unknown[]) => void {
  return (...args) => writeLine({ name: deliveringName ?? ('gale' as LoggerName), level, args });
}

/**
 * The default logger: one line per record on stderr, tagged with the level
 * and the channel (`[E tornado.application] Exception in callback …`). Debug
 * records are shown only with `GALE_DEBUG=1`, as Tornado's default level
 * hides them. Called directly (as a plain console), it tags `gale`.
 */
export const stderrLogger: Logger = {
  debug: stderrMethod('debug'),
  info: stderrMethod('info'),
  warn: stderrMethod('warn'),
  error: stderrMethod('error'),
};

let current: Logger = stderrLogger;
const perChannel = new Map<LoggerName, Logger>();

/**
 * Replaces the logger every gale channel writes to (clearing loggers set
 * for single channels), or, with `name`, the logger of that channel only.
 */
export function setLogger(logger: Logger, name?: LoggerName): void {
  if (name === undefined) {
    current = logger;
    perChannel.clear();
  } else {
    perChannel.set(name, logger);
  }
}

/** The logger in use (for `name`: the one that channel writes to). */
export function getLogger(name?: LoggerName): Logger {
  return (name !== undefined ? perChannel.get(name) : undefined) ?? current;
}

function emit(name: LoggerName, level: LogLevel, args: unknown[]): void {
  const logger = perChannel.get(name) ?? current;
  if (typeof logger.handle === 'function') {
    logger.handle({ name, level, args });
    return;
  }
  const outer = deliveringName;
  deliveringName = name;
  try {
    logger[level](...args);
  } finally {
    deliveringName = outer;
  }
}

function channel(name: LoggerName): Channel {
  return {
    name,
    debug: (...args) => emit(name, 'debug', args),
    info: (...args) => emit(name, 'info', args),
    warn: (...args) => emit(name, 'warn', args),
    error: (...args) => emit(name, 'error', args),
    toString: () => name,
  };
}

/** Tornado's `app_log`: errors from application callbacks. */
export const appLog = channel('tornado.application');
/** Tornado's `gen_log`: the framework's own messages. */
export const genLog = channel('tornado.general');
/** Tornado's `access_log`. */
export const accessLog = channel('tornado.access');

/** A short, readable name for a callback in log messages. */
export function describeCallback(callback: unknown): string {
  if (typeof callback === 'function') return callback.name ? `<function ${callback.name}>` : '<anonymous function>';
  return inspect(callback, { depth: 0 });
}
