/**
 * What both sides of the thread-pool executor share: task references, the
 * messages that cross between threads, and the way a task's error is carried
 * across a structured clone without losing its name, message and stack.
 *
 * Kept apart from ./executor.ts so that a worker thread loads only this file
 * and the waker, not the IOLoop and its pollers.
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { OSError } from './sys/errors.js';

/**
 * A task: an exported function of a module, named so another thread can load
 * it. Functions cannot cross to a worker thread (closures do not survive a
 * structured clone), so a worker imports the module itself and calls the
 * export by name.
 */
export interface TaskRef {
  /** The module: an absolute path or a `file:` URL. */
  module: string | URL;
  /** The name of the exported function (`'default'` for a default export). */
  name: string;
}

/**
 * What an executor runs. Plain functions run only on `dummyExecutor` (the
 * calling thread); a thread pool needs a `TaskRef`.
 */
export type Task = ((...args: any[]) => unknown) | TaskRef;

/** A TaskRef reduced to what crosses to a worker: a URL string and a name. */
export interface TaskAddress {
  readonly module: string;
  readonly name: string;
}

/**
 * Names an exported function of a module as a task.
 *
 * Relative paths and bare specifiers are refused: a worker would resolve them
 * against its own location, not the caller's, and find a different module or
 * none. Pass `new URL('./tasks.js', import.meta.url)` instead.
 *
 * @throws TypeError if `module` is not an absolute path or a `file:` URL, or
 * `name` is not a non-empty string.
 */
export function defineTask(module: string | URL, name: string): TaskRef {
  const ref = { module, name };
  taskAddress(ref);
  return Object.freeze(ref);
}

/** Whether `x` looks like a TaskRef (an object with `module` and `name`). */
export function isTaskRef(x: unknown): x is TaskRef {
  return typeof x === 'object' && x !== null && 'module' in x && 'name' in x;
}

/**
 * Validates a TaskRef and turns it into its cloneable address.
 *
 * @throws TypeError for anything `defineTask` would refuse.
 */
export function taskAddress(task: unknown): TaskAddress {
  if (!isTaskRef(task)) {
    throw new TypeError(`a task must be a TaskRef ({ module, name }, see defineTask()), got ${describe(task)}`);
  }
  const { module, name } = task;
  if (typeof name !== 'string' || name === '') {
    throw new TypeError(`a task's name must be a non-empty string, got ${describe(name)}`);
  }
  let href: string | null = null;
  if (module instanceof URL) {
    if (module.protocol === 'file:') href = module.href;
  } else if (typeof module === 'string') {
    if (module.startsWith('file:')) href = URL.canParse(module) ? module : null;
    else if (isAbsolute(module)) href = pathToFileURL(module).href;
  }
  if (href === null) {
    throw new TypeError(`a task's module must be an absolute path or a file: URL, got ${describe(module)}`);
  }
  return { module: href, name };
}

/**
 * The function a task names, from its module's namespace.
 *
 * @throws TypeError if the module has no such exported function.
 */
export function taskFunction(namespace: Record<string, unknown>, address: TaskAddress): (...args: unknown[]) => unknown {
  const fn = namespace[address.name];
  if (typeof fn !== 'function') {
    throw new TypeError(`module ${address.module} has no exported function named ${JSON.stringify(address.name)}`);
  }
  return fn as (...args: unknown[]) => unknown;
}

/** How a task is named in messages: `tasks.js#add`. */
export function taskLabel(address: TaskAddress): string {
  return `${address.module.slice(address.module.lastIndexOf('/') + 1)}#${address.name}`;
}

function describe(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'function') return `function ${x.name || '(anonymous)'}`;
  return String(x);
}

// ------------------------------------------------------------ messages

/** Executor → worker: run one task. */
export interface JobMessage {
  id: number;
  module: string;
  name: string;
  args: unknown[];
}

/** Worker → executor: a task's outcome, or the worker's last words. */
export type ReplyMessage =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: Thrown }
  | { exit: number; error: Thrown | null };

/** What the worker's side knows when it starts. */
export interface WorkerInit {
  /** Where replies go; the executor pulls them with `receiveMessageOnPort`. */
  port: MessagePort;
  /** The executor's waker, to ring after each reply. */
  wakeFd: number;
}

// ------------------------------------------------------------ errors

/**
 * A thrown value, made cloneable. A structured clone keeps an Error's message
 * but not a subclass's name, nor its class, so Errors travel as plain fields
 * and are rebuilt on arrival. Anything else that was thrown travels as is
 * when it can be cloned.
 */
export type Thrown =
  | {
      kind: 'error';
      name: string;
      message: string;
      stack: string | undefined;
      /** Class names from the error's own class up to Error, to rebuild the nearest known one. */
      lineage: string[];
      props: Record<string, unknown>;
      cause?: Thrown;
    }
  | { kind: 'value'; value: unknown };

/** Packs a thrown value for the trip to another thread. */
export function packThrown(error: unknown, depth = 0): Thrown {
  if (!(error instanceof Error)) {
    if (isCloneable(error)) return { kind: 'value', value: error };
    return packThrown(new Error(`non-cloneable value thrown: ${String(error)}`), depth);
  }
  // Own enumerable fields (an OSError's errno and code, say) travel along,
  // each only if it survives a clone, so one odd field cannot lose the rest.
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(error)) {
    const value = (error as unknown as Record<string, unknown>)[key];
    if (isCloneable(value)) props[key] = value;
  }
  const lineage: string[] = [];
  for (let proto = Object.getPrototypeOf(error); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const ctorName = Object.hasOwn(proto, 'constructor') ? (proto.constructor as { name?: unknown }).name : undefined;
    if (typeof ctorName === 'string') lineage.push(ctorName);
  }
  const packed: Thrown = { kind: 'error', name: String(error.name), message: String(error.message), stack: error.stack, lineage, props };
  if (error.cause !== undefined && depth < 4) packed.cause = packThrown(error.cause, depth + 1);
  return packed;
}

const builtinErrors: Record<string, ErrorConstructor> = {
  Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
};

/**
 * Rebuilds a packed thrown value as an instance of the nearest class this
 * thread knows for sure: the built-in error classes and `OSError`. So an
 * `OSError` subclass thrown in a worker (a resolver's `GaiError`, say) is
 * still `instanceof OSError` here, with its original `name` and fields; an
 * application class comes back as an `Error` with its `name`.
 */
export function unpackThrown(thrown: Thrown): unknown {
  if (thrown.kind === 'value') return thrown.value;
  const { name, message, stack, props } = thrown;
  const known = thrown.lineage.find((className) => className === 'OSError' || Object.hasOwn(builtinErrors, className)) ?? 'Error';
  let error: Error;
  if (known === 'OSError' && typeof props.errno === 'number') {
    error = new OSError(props.errno, props.syscall as string | undefined, message, props.code as string | undefined);
  } else {
    error = new (builtinErrors[known] ?? Error)(message);
  }
  Object.assign(error, props);
  if (error.name !== name) {
    Object.defineProperty(error, 'name', { value: name, writable: true, configurable: true, enumerable: false });
  }
  if (stack !== undefined) {
    Object.defineProperty(error, 'stack', { value: stack, writable: true, configurable: true, enumerable: false });
  }
  if (thrown.cause) {
    Object.defineProperty(error, 'cause', { value: unpackThrown(thrown.cause), writable: true, configurable: true, enumerable: false });
  }
  return error;
}

function isCloneable(value: unknown): boolean {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return typeof value !== 'symbol';
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}
