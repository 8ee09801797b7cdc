/**
 * reactor/periodic.ts: PeriodicCallback on a real clock, and on a fake one
 * (`loop.time` replaced on the instance) for the schedule's arithmetic —
 * the cases of Tornado's PeriodicCallbackMathTest (missed runs are skipped,
 * the schedule stays on multiples of the period).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { PeriodicCallback } from '../reactor/periodic.js';
import { captureLogs, fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();

/**
 * Runs `fn` on a fresh loop and closes it. A loop on a fake clock cannot be
 * bounded by runSync's own timeout (that is on the fake clock too), so a Node
 * timer stops it after `seconds` of real time (runSync then rejects).
 */
async function inLoop<T>(fn: (loop: IOLoop) => T | PromiseLike<T>, seconds = 5): Promise<T> {
  const loop = new IOLoop({ makeCurrent: false });
  const guard = setTimeout(() => loop.stop(), seconds * 1000);
  try {
    return await loop.runSync(() => fn(loop), seconds);
  } finally {
    clearTimeout(guard);
    loop.close();
  }
}

interface Timers { nextDeadline(): number | null }

/**
 * Fakes the loop's clock from 1000 s on and, every iteration, jumps it to
 * the next timeout's deadline (so nothing ever waits in real time). The
 * callback "runs for" `durations[i]` seconds of fake time on its i-th call.
 * Returns the fake times of the calls.
 */
function simulate(periodMs: number, durations: number[], during?: (pc: PeriodicCallback, call: number) => void): Promise<number[]> {
  return inLoop((loop) => new Promise<number[]>((resolve) => {
    let now = 1000;
    loop.time = () => now;
    const timers = (loop as unknown as { timers: Timers }).timers;
    const calls: number[] = [];
    let finished = false;
    const pc = new PeriodicCallback(() => {
      calls.push(now);
      now += durations[calls.length - 1]!;
      during?.(pc, calls.length);
      if (calls.length === durations.length) {
        pc.stop();
        finished = true;
        resolve(calls);
      }
    }, periodMs, loop);
    const advance = () => {
      if (finished) return;
      const next = timers.nextDeadline();
      // runSync's own (real-clock) timeout is far beyond the fake clock.
      if (next !== null && next > now && next < 1e6) now = next;
      loop.addCallback(advance);
    };
    pc.start();
    loop.addCallback(advance);
  }));
}

test('a non-positive or missing period throws', () => {
  const loop = new IOLoop({ makeCurrent: false });
  try {
    for (const bad of [0, -1, NaN, undefined as unknown as number]) {
      assert.throws(() => new PeriodicCallback(() => {}, bad, loop), RangeError, String(bad));
    }
  } finally {
    loop.close();
  }
});

test('fake clock: on schedule, one call per period', async () => {
  assert.equal(await simulate(10000, [0, 0, 0, 0, 0]), [1010, 1020, 1030, 1040, 1050]);
});

test('fake clock: overruns skip whole cycles to get back on schedule (Tornado test_overrun)', async () => {
  const durations = [9, 9, 10, 11, 20, 20, 35, 35, 0, 0, 0];
  const expected = [
    1010, 1020, 1030, // on schedule
    1050, 1070, // delayed one cycle
    1100, 1130, // delayed two cycles
    1170, 1210, // delayed three cycles
    1220, 1230, // back on schedule
  ];
  assert.equal(await simulate(10000, durations), expected);
});

test('fake clock: a fractional period stays on its multiples', async () => {
  const calls = await simulate(250, [0, 0.3, 0, 0.6, 0]);
  assert.equal(calls.map((t) => Math.round((t - 1000) * 1000)), [250, 500, 1000, 1250, 2000]);
});

test('fake clock: stop() then start() inside the callback keeps one schedule', async () => {
  const calls = await simulate(10000, [0, 0, 0, 0, 0], (pc, call) => {
    if (call === 1) {
      pc.stop();
      pc.start();
    }
  });
  // Restarted at 1010: the next calls are at 1020, 1030… once each.
  assert.equal(calls, [1010, 1020, 1030, 1040, 1050]);
});

test('real clock: runs repeatedly until stopped; isRunning', async () => {
  await inLoop(async (loop) => {
    let calls = 0;
    const pc = new PeriodicCallback(() => { calls++; }, 10);
    assert.is(pc.isRunning(), false);
    pc.start();
    assert.is(pc.isRunning(), true);
    const start = loop.time();
    while (calls < 3) await new Promise<void>((r) => loop.callLater(0.005, r));
    assert.ok(loop.time() - start >= 0.029, 'three periods passed');
    pc.stop();
    assert.is(pc.isRunning(), false);
    const stoppedAt = calls;
    await new Promise<void>((r) => loop.callLater(0.05, r));
    assert.is(calls, stoppedAt, 'no call after stop()');
    pc.stop(); // twice is harmless
  });
});

test('uses the current loop when none is given', async () => {
  await inLoop(async (loop) => {
    const pc = new PeriodicCallback(() => {}, 1000);
    assert.is((pc as unknown as { ioLoop: IOLoop }).ioLoop, loop);
  });
});

test('stop() from inside the callback ends it', async () => {
  await inLoop(async (loop) => {
    let calls = 0;
    const pc = new PeriodicCallback(() => { if (++calls === 2) pc.stop(); }, 5);
    pc.start();
    await new Promise<void>((r) => loop.callLater(0.08, r));
    assert.is(calls, 2);
  });
});

test('an exception (or rejected Promise) from the callback is logged with its name, and it keeps running', async () => {
  let calls = 0;
  const { logs } = await captureLogs(() => inLoop(async (loop) => {
    const pc = new PeriodicCallback(function tick() {
      calls++;
      if (calls === 1) throw new Error('sync failure');
      if (calls === 2) return Promise.reject(new Error('async failure'));
      return undefined;
    }, 5);
    pc.start();
    while (calls < 4) await new Promise<void>((r) => loop.callLater(0.005, r));
    pc.stop();
  }));
  const errors = logs.filter(([level]) => level === 'error').map(([, text]) => text);
  assert.is(errors.length, 2, JSON.stringify(logs));
  assert.match(errors[0]!, /^Exception in callback <function tick>/);
  assert.match(errors[0]!, /sync failure/);
  assert.match(errors[1]!, /^Exception in callback <function tick>/);
  assert.match(errors[1]!, /async failure/);
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
