/**
 * Python's `errno` module and Tornado's `errno_from_exception`, for
 * socket-level code ported line for line (`if errno_from_exception(e) in
 * (errno.EWOULDBLOCK, errno.EAGAIN):`).
 */
import { errno } from './sys/errors.js';

export { errno };

/**
 * The errno number an exception carries, or null (Tornado's
 * `errno_from_exception`): an `OSError`'s `errno`; for Node's own system
 * errors, whose `errno` is negative (libuv's `-ECONNREFUSED`), the positive
 * number, or the number its `code` names.
 */
export function errnoFromException(e: unknown): number | null {
  if (typeof e !== 'object' || e === null) return null;
  const { errno: number, code } = e as { errno?: unknown; code?: unknown };
  if (typeof number === 'number' && Number.isInteger(number)) return Math.abs(number);
  if (typeof code === 'string' && Object.hasOwn(errno, code)) return errno[code as keyof typeof errno];
  return null;
}
