/**
 * `OSError`, Python's built-in exception of that name (which Tornado's
 * iostream.py and netutil.py catch and inspect by errno): every failed
 * syscall surfaces as one, with the errno number, Node's code string
 * (`'ECONNREFUSED'`) and the syscall's name — the same triple Node's own
 * errors carry, so existing error handling keeps working.
 */
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

const systemErrors = getSystemErrorMap(); // keyed by negative errno

// libuv's map (behind getSystemErrorMap) lacks some errnos a raw syscall can
// return (EINPROGRESS, ENETRESET, ESTALE, …); os.constants.errno has them all.
const namesByErrno = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!namesByErrno.has(value)) namesByErrno.set(value, name);
}

/** Node's code for an errno number (`111` → `'ECONNREFUSED'`). */
export function errnoCode(errno: number): string {
  return systemErrors.get(-errno)?.[0] ?? namesByErrno.get(errno) ?? `Unknown system error ${errno}`;
}

const fallbackMessages: Record<string, string> = {
  EINPROGRESS: 'operation now in progress',
  EALREADY: 'operation already in progress',
  ENETRESET: 'connection reset by network',
  ESTALE: 'stale file handle',
  EDQUOT: 'disk quota exceeded',
};

/** The human-readable text for an errno number. */
export function errnoMessage(errno: number): string {
  const known = systemErrors.get(-errno)?.[1];
  if (known) return known;
  const name = namesByErrno.get(errno);
  return (name && fallbackMessages[name]) ?? name ?? `unknown error ${errno}`;
}

/** An operating-system failure (Python's `OSError`, Node's system errors). */
export class OSError extends Error {
  /** The errno number (e.g. 111). */
  errno: number;
  /** Node's code string (e.g. `'ECONNREFUSED'`). */
  code: string;
  /** The failing call's name (e.g. `'connect'`). */
  syscall?: string;

  constructor(errno: number, syscall?: string, message?: string, code?: string) {
    const resolvedCode = code ?? errnoCode(errno);
    super(message ?? `[Errno ${errno}] ${errnoMessage(errno)}${syscall ? ` (${syscall} ${resolvedCode})` : ''}`);
    this.errno = errno;
    this.code = resolvedCode;
    if (syscall !== undefined) this.syscall = syscall;
  }
}
Object.defineProperty(OSError.prototype, 'name', { value: 'OSError', writable: true, configurable: true });

/** Numeric errno values used by the layers above (Linux; BSD differs, see constants). */
export const errno = constants.errno;
