/**
 * How a loop notices that a child process ended, and reaps it: the part of
 * Tornado's `Subprocess` that is its SIGCHLD handler (`initialize`,
 * `_cleanup`, `_try_cleanup_process`), done without signals.
 *
 * Tornado installs a process-wide SIGCHLD handler that one IOLoop runs. In a
 * Node process the signal is libuv's (it reaps the children it started), a
 * handler would run only on the main thread and only between gale's
 * iterations, and a worker thread's loop could never see it. So each child
 * gets its own readiness source on the loop of its `Subprocess`:
 *
 * - **pidfd** (Linux ≥ 5.4): `pidfd_open(pid)` gives an fd that turns
 *   readable when the child exits. It is registered with `addHandler` like
 *   any fd, on every poller (io_uring, epoll, poll), so it works on the main
 *   thread, in worker threads and with `nodeInterop: false`. The handler
 *   reaps with `waitid(P_PIDFD, pidfd, WEXITED | WNOHANG)`, which names the
 *   child by its fd: no pid-reuse race, no waitpid(-1) that would steal
 *   another owner's child.
 * - **polling** (no pidfd: Linux before 5.3 or a seccomp filter refusing
 *   it, Linux 5.3 without P_PIDFD, macOS and the BSDs, or
 *   `GALE_CHILD_WATCH=poll`): a loop timeout calls `waitpid(pid, WNOHANG)`
 *   every `POLL_INTERVAL` seconds. The exit is then noticed up to that late,
 *   and closing the loop does not reach the child (no fd is registered):
 *   `Subprocess.close()` does. On macOS/BSD a kqueue `EVFILT_PROC`
 *   `NOTE_EXIT` filter would be the event-driven equivalent; gale's kqueue
 *   poller watches fds only, so it is not used (unverified there either way:
 *   gale has not run on such a host).
 *
 * Either way gale is the only reaper: the child was started with
 * posix_spawn (reactor/sys/spawn.ts), so libuv never knew it.
 */
import { IOLoop } from '../reactor/ioloop.js';
import type { TimeoutHandle } from '../reactor/timers.js';
import { close as closeFd, kill, pidfdOpen, pidfdSendSignal, waitidChild, waitpidChild } from '../reactor/sys/libc.js';
import { P_PIDFD } from '../reactor/sys/siginfo.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { childWatchFromEnvironment } from '../reactor/loop-options.js';

/** Seconds between two waitpid checks when there is no pidfd. */
export const POLL_INTERVAL = 0.05;

/** `GALE_CHILD_WATCH=poll` forces polling (the fallback, on any host); read for each new child. */
function pollingForced(): boolean {
  return childWatchFromEnvironment() === 'poll';
}

/** Which way a `ChildWatch` learns of the exit. */
export type ChildWatchMode = 'pidfd' | 'poll';

/**
 * Watches one child on one loop. `onExit(returncode)` runs on the loop once
 * the child has ended and been reaped (the returncode is the exit status,
 * or -signal). `onLoopClose` runs if the loop is closed with `allFds` while
 * the pidfd is registered.
 */
export class ChildWatch {
  /** How this watch learns of the exit. */
  readonly mode: ChildWatchMode;
  /** The returncode once reaped, else null. */
  returncode: number | null = null;
  private pidfd = -1;
  private timer: TimeoutHandle | null = null;
  // What the loop holds: closing the loop with allFds calls its close().
  private readonly registration: { fileno(): number; close(): void };

  constructor(
    private readonly loop: IOLoop,
    private readonly pid: number,
    private readonly onExit: (returncode: number) => void,
    onLoopClose: () => void,
  ) {
    this.registration = { fileno: () => this.pidfd, close: onLoopClose };
    this.mode = this.openPidfd() ? 'pidfd' : 'poll';
    if (this.mode === 'poll') {
      this.schedulePoll();
    } else if (this.returncode !== null) {
      // It ended before we looked: report it on the loop, as an exit is.
      this.stop();
      loop.addCallback(() => this.onExit(this.returncode!));
    } else {
      loop.addHandler(this.registration, () => this.check(), IOLoop.READ);
    }
  }

  /** Sends `signal` to the child, if it has not been reaped. */
  sendSignal(signal: number): void {
    if (this.returncode !== null) return;
    if (this.pidfd >= 0) pidfdSendSignal(this.pidfd, signal);
    else kill(this.pid, signal);
  }

  /**
   * Ends the watch and reaps the child, at once: if it is still running it
   * is sent SIGKILL first, then waited for (a killed process ends
   * promptly). Returns the returncode. Does not call `onExit`.
   */
  finish(): number {
    if (this.returncode === null) {
      const returncode = this.reap(false);
      if (returncode === null) {
        // SIGKILL (the same number everywhere). It cannot fail with ESRCH:
        // until reaped, even an exited child (a zombie) can be signalled.
        this.sendSignal(9);
        this.returncode = this.reap(true);
      }
    }
    this.stop();
    return this.returncode!;
  }

  /** Stops watching and releases the pidfd. */
  stop(): void {
    if (this.timer) {
      this.loop.removeTimeout(this.timer);
      this.timer = null;
    }
    if (this.pidfd >= 0) {
      this.loop.removeHandler(this.registration); // before the close (the poller contract)
      closeFd(this.pidfd);
      this.pidfd = -1;
    }
  }

  // Opens the pidfd and probes waitid(P_PIDFD) with it; false where either is missing.
  private openPidfd(): boolean {
    if (pollingForced() || process.platform !== 'linux') return false;
    try {
      this.pidfd = pidfdOpen(this.pid);
    } catch (error) {
      if (error instanceof OSError && (error.errno === E.ENOSYS || error.errno === E.EPERM)) return false;
      throw error;
    }
    try {
      this.reap(false);
      return true;
    } catch (error) {
      closeFd(this.pidfd);
      this.pidfd = -1;
      if (error instanceof OSError && error.errno === E.EINVAL) return false; // Linux 5.3: no P_PIDFD
      throw error;
    }
  }

  // Reaps the child if it has ended (or, with block, once it has).
  private reap(block: boolean): number | null {
    let returncode: number | null;
    try {
      returncode = this.pidfd >= 0 ? waitidChild(P_PIDFD, this.pidfd, block) : waitpidChild(this.pid, block);
    } catch (error) {
      if (!(error instanceof OSError && error.errno === E.ECHILD)) throw error;
      // Someone else reaped it (SIGCHLD set to SIG_IGN, or a waitpid(-1)
      // elsewhere in the process): the status is lost. Python's Popen
      // reports 0 then; so does gale.
      returncode = 0;
    }
    if (returncode !== null) this.returncode = returncode;
    return returncode;
  }

  // The pidfd is readable (or the poll timer fired): reap and report.
  private check(): void {
    if (this.reap(false) === null) {
      if (this.mode === 'poll') this.schedulePoll();
      return; // a spurious wake-up: keep waiting
    }
    this.stop();
    this.onExit(this.returncode!);
  }

  private schedulePoll(): void {
    this.timer = this.loop.callLater(POLL_INTERVAL, () => { this.timer = null; this.check(); });
  }
}
