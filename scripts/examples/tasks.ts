/**
 * Tasks for docs/reactor.md's executor example. A task runs on a worker thread,
 * so it is an exported function of a module, named by module and name.
 */
import { createHash } from 'node:crypto';

/** The SHA-256 of `text`, in hex. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
