/**
 * How a child's end is reported, written down once: the `siginfo_t` that
 * waitid(2) fills, and the `int` status that waitpid(2) fills. Python's
 * `os.WIFEXITED`/`os.WEXITSTATUS`/`os.WTERMSIG` decode the second; gale
 * decodes both into Python's `Popen.returncode`: the exit status, or
 * `-signal` for a child killed by a signal.
 *
 * `siginfo_t` (Linux, <asm-generic/siginfo.h>; 128 bytes on every arch):
 *
 * | field       | type | offset (64-bit) | offset (32-bit) |
 * |-------------|------|-----------------|-----------------|
 * | si_signo    | i32  | 0               | 0               |
 * | si_errno    | i32  | 4               | 4               |
 * | si_code     | i32  | 8               | 8               |
 * | si_pid      | i32  | 16              | 12              |
 * | si_uid      | u32  | 20              | 16              |
 * | si_status   | i32  | 24              | 20              |
 *
 * The union after si_code is aligned to a pointer (it holds `void *` and
 * `long` members), hence 16 on 64-bit. x86_64 is checked against the kernel
 * by spec/subprocess.spec.ts (a child exiting 3, one killed by SIGKILL, one
 * by SIGTERM); aarch64 and the 32-bit offsets come from the header and have
 * not run here. macOS/BSD lay `siginfo_t` out differently (si_pid @12,
 * si_status @20 on macOS); gale does not use waitid there (see
 * net/child-watch.ts).
 *
 * For SIGCHLD, si_code says how the child ended and si_status carries the
 * exit status (CLD_EXITED) or the signal number (CLD_KILLED, CLD_DUMPED).
 * With WNOHANG and no child ready, waitid returns 0 and leaves si_pid 0
 * (the caller zeroes it first, as POSIX asks).
 */

const pointerIs64 = ['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'].includes(process.arch);

/** The size of `siginfo_t` (the kernel's SI_MAX_SIZE). */
export const SIGINFO_SIZE = 128;
/** Offset of `si_code`. */
export const SI_CODE = 8;
/** Offset of `si_pid` (0 after a WNOHANG wait found nothing). */
export const SI_PID = pointerIs64 ? 16 : 12;
/** Offset of `si_status`. */
export const SI_STATUS = pointerIs64 ? 24 : 20;

/** si_code: the child called exit (si_status is its exit status). */
export const CLD_EXITED = 1;
/** si_code: the child was killed by a signal (si_status is the signal). */
export const CLD_KILLED = 2;
/** si_code: the child was killed by a signal and dumped core. */
export const CLD_DUMPED = 3;

/** waitid(2) idtype: wait for the process whose pid is `id`. */
export const P_PID = 1;
/** waitid(2) idtype: wait for the process a pidfd `id` refers to (Linux ≥ 5.4). */
export const P_PIDFD = 3;
/** wait flag: return at once when no child is ready. */
export const WNOHANG = 1;
/** waitid(2) flag: wait for children that have ended. */
export const WEXITED = 4;

/**
 * The returncode (exit status, or `-signal`) in the `siginfo_t` at `offset`
 * of `view`, or null if it reports no child (a WNOHANG wait found none).
 */
export function returncodeFromSiginfo(view: Buffer, offset: number): number | null {
  if (view.readInt32LE(offset + SI_PID) === 0) return null;
  const code = view.readInt32LE(offset + SI_CODE);
  const status = view.readInt32LE(offset + SI_STATUS);
  if (code === CLD_EXITED) return status;
  if (code === CLD_KILLED || code === CLD_DUMPED) return -status;
  // Stopped, trapped or continued children are only reported to WSTOPPED /
  // WCONTINUED waits, which gale never asks for.
  throw new Error(`waitid reported si_code ${code}, which a WEXITED wait never reports`);
}

/**
 * The returncode in a waitpid(2) `int` status (the same encoding on Linux,
 * macOS and the BSDs): the low 7 bits are the terminating signal (0 for an
 * exit), bits 8–15 the exit status.
 */
export function returncodeFromWaitStatus(status: number): number {
  const signal = status & 0x7f;
  if (signal === 0) return (status >> 8) & 0xff; // WIFEXITED, WEXITSTATUS
  if (signal === 0x7f) throw new Error(`waitpid reported a stopped child (status ${status}), which gale never asks for`);
  return -signal; // WIFSIGNALED, -WTERMSIG
}
