/**
 * Process helpers of Tornado's `tornado.process` that make sense before
 * multi-process mode exists: the CPU count and the task id (null in a
 * single process, as in Tornado before `fork_processes`).
 */
import { availableParallelism } from 'node:os';

/** How many CPUs this process may use (Tornado's `cpu_count`). */
export function cpuCount(): number {
  return availableParallelism();
}

/**
 * The task id of this worker process when forked by `forkProcesses`, else
 * null. gale has no multi-process mode yet, so every process is the only one.
 */
export function taskId(): number | null {
  return null;
}
