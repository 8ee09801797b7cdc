/**
 * Logging, pluggable. Tornado logs through three named loggers (app_log,
 * gen_log, access_log); gale keeps the three channels and the message
 * wording, and sends them all to one `Logger` that an embedder can replace.
 */
import { inspect } from 'node:util';

/** What gale logs through. Any console-like object fits. */
export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

function format(args: unknown[]): string {
  return args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.stack ?? String(a) : inspect(a))).join(' ');
}

/**
 * The default logger: one line per record on stderr. Debug records are shown
 * only with `GALE_DEBUG=1`, as Tornado's default level hides them.
 */
export const stderrLogger: Logger = {
  debug: (...args) => { if (process.env.GALE_DEBUG) process.stderr.write(`[D gale] ${format(args)}\n`); },
  info: (...args) => process.stderr.write(`[I gale] ${format(args)}\n`),
  warn: (...args) => process.stderr.write(`[W gale] ${format(args)}\n`),
  error: (...args) => process.stderr.write(`[E gale] ${format(args)}\n`),
};

let current: Logger = stderrLogger;

/** Replaces the logger every gale channel writes to. */
export function setLogger(logger: Logger): void {
  current = logger;
}

/** The logger in use. */
export function getLogger(): Logger {
  return current;
}

function channel(name: string): Logger {
  return {
    debug: (...args) => current.debug(...args),
    info: (...args) => current.info(...args),
    warn: (...args) => current.warn(...args),
    error: (...args) => current.error(...args),
    toString: () => name,
  } as Logger;
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
