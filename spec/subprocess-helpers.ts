/**
 * Helpers for the Subprocess specs: which children this process has.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** A child of this process as /proc shows it: a zombie has state 'Z'. */
export interface ChildProcessInfo {
  pid: number;
  state: string;
  command: string;
}

/**
 * This process's children, running or zombie (not yet reaped), from
 * /proc/PID/stat's ppid field (Linux). What a test checks to prove it left
 * no child behind.
 */
export function childProcesses(): ChildProcessInfo[] {
  const children: ChildProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // ended while listing
    }
    // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(')');
    const [state, ppid] = stat.slice(close + 2).split(' ');
    if (Number(ppid) === process.pid) {
      children.push({ pid: Number(name), state: state!, command: stat.slice(stat.indexOf('(') + 1, close) });
    }
  }
  return children;
}
