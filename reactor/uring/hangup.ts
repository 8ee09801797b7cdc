/**
 * Whether the kernel reports a hang-up on a socket now: one poll(2) with a
 * zero timeout, POLLHUP in its revents. A completion socket asks when its
 * RECV sees end of file: epoll's EPOLLHUP (what a readiness stream acts on)
 * is set only once both directions are shut down — the peer closed a Unix
 * socket, or a TCP FIN came in after this side's own shutdown(SHUT_WR) — and
 * an EOF alone cannot tell a peer's close from its half-close. No Tornado
 * counterpart.
 */
import { SCRATCH, scratch } from '../sys/arena.js';
import { POLLHUP, POLLIN } from '../sys/constants.js';
import { poll } from '../sys/libc.js';

const [OFFSET] = SCRATCH.VALUE;

/**
 * The poll(2) calls made here (this thread's). They happen while the poller
 * harvests completions, among its own calls: the specs that count a
 * connection's FFI calls (spec/iostream-connection-budget.spec.ts) read
 * them here.
 */
export const hangupChecks = { calls: 0 };

/** Whether poll(2) reports POLLHUP on `fd` (false for a closed fd). */
export function kernelReportsHangup(fd: number): boolean {
  if (fd < 0) return false;
  // struct pollfd { int fd; short events; short revents; } in the value slot, used only during this call.
  const view = new DataView(scratch.view.buffer, scratch.view.byteOffset + OFFSET, 8);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  view.setInt16(6, 0, true);
  hangupChecks.calls++;
  if (poll(scratch.addr + OFFSET, 1, 0) !== 1) return false;
  return (view.getInt16(6, true) & POLLHUP) !== 0;
}
