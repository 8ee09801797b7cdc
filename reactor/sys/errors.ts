/**
 * `OSError`: every failed syscall surfaces as one, with the errno number,
 * Node's code string (`'ECONNREFUSED'`) and the syscall's name — the same
 * triple Node's own errors carry, so existing error handling keeps working.
 */
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

const systemErrors = getSystemErrorMap(); // keyed by negative errno

/** Node's code for an errno number (`111` → `'ECONNREFUSED'`). */
export function errnoCode(errno: number): string {
  return systemErrors.get(-errno)?.[0] ?? `Unknown system error ${errno}`;
}

/** The human-readable text for an errno number. */
export function errnoMessage(errno: number): string {
  return systemErrors.get(-errno)?.[1] ?? `unknown error ${errno}`;
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
