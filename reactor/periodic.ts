/**
 * PeriodicCallback: runs a callback every `callbackTime` milliseconds
 * (Tornado's `tornado.ioloop.PeriodicCallback`).
 *
 * Like Tornado's, it keeps to a fixed schedule: if a run (or the loop) is
 * late, the missed runs are skipped rather than replayed in a burst, and the
 * next run lands on the next multiple of the period.
 */
import { checkFunction, checkNumber } from './sys/validate.js';
import { IOLoop } from './ioloop.js';
import type { TimeoutHandle } from './timers.js';

/** Calls a function periodically on an IOLoop (Tornado's `PeriodicCallback`). */
export class PeriodicCallback {
  private readonly callback: () => unknown;
  private readonly callbackTime: number;
  private readonly ioLoop: IOLoop;
  private running = false;
  private timeout: TimeoutHandle | null = null;
  private nextTimeout = 0;

  /** Period in milliseconds, as Tornado takes it. */
  constructor(callback: () => unknown, callbackTimeMs: number, ioLoop?: IOLoop) {
    checkFunction('callback', callback);
    if (!(checkNumber('callbackTimeMs', callbackTimeMs, 'a positive number of milliseconds') > 0) || !Number.isFinite(callbackTimeMs)) {
      throw new RangeError(`callbackTimeMs must be a positive number of milliseconds, got ${callbackTimeMs}`);
    }
    this.callback = callback;
    this.callbackTime = callbackTimeMs;
    this.ioLoop = ioLoop ?? IOLoop.current()!;
    // The loop names the failing function in "Exception in callback …":
    // let that be the application's callback, not this wrapper.
    Object.defineProperty(this.run, 'name', { value: callback.name });
  }

  /** Starts calling; the first call is one period from now. */
  start(): void {
    this.running = true;
    this.nextTimeout = this.ioLoop.time();
    this.scheduleNext();
  }

  /** Stops calling. */
  stop(): void {
    this.running = false;
    if (this.timeout) {
      this.ioLoop.removeTimeout(this.timeout);
      this.timeout = null;
    }
  }

  /** Whether it is started. */
  isRunning(): boolean {
    return this.running;
  }

  private readonly run = (): unknown => {
    if (!this.running) return undefined;
    const fired = this.timeout;
    try {
      return this.callback();
    } finally {
      // A callback that restarted us (stop() then start()) already has the
      // next run scheduled; scheduling again would run it twice per period.
      if (this.timeout === fired) this.scheduleNext();
    }
  };

  private scheduleNext(): void {
    if (!this.running) return;
    const now = this.ioLoop.time();
    if (this.nextTimeout <= now) {
      const period = this.callbackTime / 1000;
      this.nextTimeout += (Math.floor((now - this.nextTimeout) / period) + 1) * period;
    }
    this.timeout = this.ioLoop.addTimeout(this.nextTimeout, this.run);
  }
}
