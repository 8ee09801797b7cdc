/**
 * The lookup as an executor task, and the envelope its outcome travels in.
 *
 * `resolve` runs inside a `ThreadPoolExecutor` worker (or on the calling
 * thread under `dummyExecutor`). It never throws a lookup failure: it
 * returns it as plain fields, because a structured clone keeps neither an
 * Error's class nor its name, and the loop side must hand callers a real
 * `GaiError` (`instanceof` working, `code` and `errno` intact).
 * `unpackLookup` rebuilds it there.
 *
 * No Tornado counterpart: Tornado's ExecutorResolver calls `socket.getaddrinfo`
 * on the executor directly, which Python's threads allow and worker_threads do not.
 */
import { OSError } from '../reactor/sys/errors.js';
import { GaiError, resolveSync } from '../reactor/sys/getaddrinfo.js';
import type { Resolved } from './base.js';

/** A lookup's failure, made cloneable. */
export interface LookupFailure {
  kind: 'gai' | 'os';
  errno: number;
  code: string;
  message: string;
  syscall?: string;
  hostname?: string;
}

/** What crosses back from the worker: the answer, or the failure's fields. */
export type LookupOutcome = { ok: true; value: Resolved } | { ok: false; failure: LookupFailure };

/**
 * The worker-side task: getaddrinfo for SOCK_STREAM, duplicates removed.
 * Errors that are not lookup failures (bad arguments) are thrown, and the
 * executor carries them as it carries any task's error.
 */
export function resolve(host: string, port: number, family: number): LookupOutcome {
  try {
    return { ok: true, value: resolveSync(host, port, family) };
  } catch (error) {
    if (!(error instanceof OSError)) throw error;
    const failure: LookupFailure = {
      kind: error instanceof GaiError ? 'gai' : 'os',
      errno: error.errno,
      code: error.code,
      message: error.message,
    };
    if (error.syscall !== undefined) failure.syscall = error.syscall;
    if (error instanceof GaiError && error.hostname !== undefined) failure.hostname = error.hostname;
    return { ok: false, failure };
  }
}

/** The answer of a lookup outcome; throws the rebuilt `GaiError` / `OSError`. */
export function unpackLookup(outcome: LookupOutcome): Resolved {
  if (outcome.ok) return outcome.value;
  const { kind, errno, code, message, syscall, hostname } = outcome.failure;
  if (kind === 'gai') throw new GaiError(errno, hostname, message, code);
  throw new OSError(errno, syscall, message, code);
}
