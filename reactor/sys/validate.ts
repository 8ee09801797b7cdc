/**
 * Argument checks for the public API: a wrong type or an impossible value
 * fails at the call with a `TypeError`/`RangeError` that names the argument
 * and shows what it got, instead of a puzzling failure later (a string delay
 * used to surface as "Unsupported deadline 1796303544.22…").
 *
 * Python would raise the same kinds (`TypeError` for a wrong type,
 * `ValueError` for a wrong value; JavaScript's `RangeError` is its
 * equivalent). These run once per public call, never per byte.
 */

/** How a value looks in an error message: its type and a short rendering. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : `number ${value}`;
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') return `${value.constructor?.name ?? 'object'}`;
  return `${typeof value} ${String(value)}`;
}

/** A number that is not NaN (±Infinity allowed: callers decide). */
export function checkNumber(name: string, value: unknown, what = 'a number'): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be ${what}, got ${describeValue(value)}`);
  if (Number.isNaN(value)) throw new RangeError(`${name} must be ${what}, got NaN`);
  return value;
}

/** A finite number of seconds (a delay, a deadline, a timeout). */
export function checkSeconds(name: string, value: unknown): number {
  const seconds = checkNumber(name, value, 'a finite number of seconds');
  if (!Number.isFinite(seconds)) throw new RangeError(`${name} must be a finite number of seconds, got ${seconds}`);
  return seconds;
}

/** A whole number ≥ `min` (sizes, counts, fds). */
export function checkInteger(name: string, value: unknown, min = 0): number {
  const what = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
  const n = checkNumber(name, value, what);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${name} must be ${what}, got ${n}`);
  return n;
}

/** A TCP/UDP port number, 0 (any free port) to 65535. */
export function checkPort(name: string, value: unknown): number {
  const port = checkNumber(name, value, 'a port number (0-65535)');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${name} must be a port number (0-65535), got ${port}`);
  }
  return port;
}

/** A callable. */
export function checkFunction<F extends (...args: any[]) => unknown>(name: string, value: unknown): F {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${describeValue(value)}`);
  return value as F;
}

/**
 * Bytes as the API accepts them — a Buffer/Uint8Array as is, a string as
 * UTF-8 — for sockets and streams alike.
 */
export function toBytes(value: unknown, name = 'data'): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return value;
  throw new TypeError(`${name} must be a Buffer, Uint8Array or string, got ${describeValue(value)}`);
}
