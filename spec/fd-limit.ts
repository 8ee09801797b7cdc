/**
 * Test helper: runs a process out of fds by lowering its soft
 * RLIMIT_NOFILE to the lowest free fd number (shared by the accept specs).
 */
import { allocRegion } from '../reactor/sys/arena.js';
import { c, close as closeFd } from '../reactor/sys/libc.js';
import { pipe } from '../reactor/sys/socket.js';

const RLIMIT_NOFILE = 7;
const rlimit = allocRegion(16);

function getNofile(): { soft: number; hard: number } {
  if ((c.getrlimit(RLIMIT_NOFILE, rlimit.addr) as number) !== 0) throw new Error('getrlimit failed');
  return { soft: Number(rlimit.view.readBigUInt64LE(0)), hard: Number(rlimit.view.readBigUInt64LE(8)) };
}

function setNofile(soft: number, hard: number): void {
  rlimit.view.writeBigUInt64LE(BigInt(soft), 0);
  rlimit.view.writeBigUInt64LE(BigInt(hard), 8);
  if ((c.setrlimit(RLIMIT_NOFILE, rlimit.addr) as number) !== 0) throw new Error('setrlimit failed');
}

/** Lowers the soft fd limit to the lowest free fd number: no new fd can be made until the returned `restore` runs. */
export function exhaustFds(): () => void {
  const saved = getNofile();
  const [r, w] = pipe();
  closeFd(r);
  closeFd(w);
  setNofile(Math.min(r, w), saved.hard);
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    setNofile(saved.soft, saved.hard);
  };
}
