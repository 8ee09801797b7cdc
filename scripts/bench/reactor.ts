/**
 * The reactor benchmark: gale's IOLoop side by side with Node's own event
 * loop, in one run, as ratios.
 *
 *   node dist/scripts/bench/reactor.js        (alone, after `npm run build`)
 *   npm run bench                             (with the others)
 *
 * What it measures (each gale figure next to the same work done by Node):
 * 1. callbacks: `addCallback` against `setImmediate`, both batched (100k
 *    queued at once, run in one turn) and chained (each schedules the next,
 *    so each costs a whole loop iteration: for gale one poll and one yield);
 * 2. timers: 100k timeouts with deadlines spread over 500 ms, scheduled and
 *    fired, against `setTimeout`: scheduling cost, CPU per timer, and how
 *    late they fire;
 * 3. wake-up latency: a worker thread writes an 8-byte timestamp into a pipe
 *    every millisecond; the time until the loop's handler sees it, against a
 *    `net.Socket` over the same kind of pipe on Node's loop (p50 / p99). The
 *    gale loop runs with Node interop (the default) and without it;
 * 4. I/O-driven iterations: a handler that reads a byte from a pipe and
 *    writes the next, on one thread, against the same over a `net.Socket`:
 *    CPU per round, which shows what each blocking wait costs (with Node
 *    interop, whether the loop had to hop into libuv's poll phase);
 * 5. FFI calls: per iteration and per event, from `IOLoop.stats()`, the
 *    figure DESIGN.md's FFI budget is checked against;
 * 6. idle waits: how late a Node `setTimeout(…, 20)` fires while the gale
 *    loop waits on an idle socket, against the same timer with no gale loop;
 *    and the process CPU an idle loop uses over 0.5 s (interop on / off)
 *    against Node's loop idle for as long. The interop specs assert only
 *    that these waits take few loop iterations; the times are here.
 *
 * Ratios follow the benchmarks' one convention (util.ts): above 1, gale
 * did better; 1.00 is parity. Timings on a shared machine are noisy: read the ratios as
 * evidence, not as a pass/fail criterion. The whole run takes ~30 s.
 *
 * Environment: BENCH_REACTOR_SCALE (1; multiplies the counts).
 */
import { writeSync } from 'node:fs';
import net from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { costRatio, median, percentile, rateRatio } from './util.js';
import { IOLoop } from '../../reactor/ioloop.js';
import { sleep } from '../../reactor/gen.js';
import { AF_UNIX, SOCK_STREAM } from '../../reactor/sys/constants.js';
import { CHUNK_SIZE, chunk } from '../../reactor/sys/arena.js';
import { close as closeFd, pipe, readToChunk, socketpair, writeBytes } from '../../reactor/sys/libc.js';

const SCALE = Number(process.env.BENCH_REACTOR_SCALE ?? 1) || 1;

/** One row of the report. */
export interface ReactorRow {
  benchmark: string;
  gale: string;
  node: string;
  /** Higher is better for gale; 1 is parity. */
  ratio: number;
  note?: string;
}

/** What `main()` returns (and prints as a markdown table). */
export interface ReactorReport {
  rows: ReactorRow[];
  ffi: { perIteration: number; perWakeup: number; perWakeupNoInterop: number; perCallbackChained: number };
  markdown: string;
}

// ------------------------------------------------------------ helpers

function nowNs(): bigint {
  return process.hrtime.bigint();
}

function cpuUs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const rate = (perSecond: number): string => `${fmt(perSecond / 1e6, 2)} M/s`;

/** Yields to Node's loop once (lets the previous benchmark's leftovers settle). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

async function onLoop<T>(fn: (loop: IOLoop) => T | PromiseLike<T>, options: { nodeInterop?: boolean } = {}): Promise<[T, IOLoop]> {
  const loop = new IOLoop({ makeCurrent: false, ...options });
  try {
    const result = await loop.runSync(() => fn(loop), 60);
    return [result, loop];
  } finally {
    loop.close();
  }
}

// ------------------------------------------------------------ 1. callbacks

async function galeCallbacksBatched(n: number): Promise<number> {
  const [ns] = await onLoop((loop) => new Promise<number>((resolve) => {
    let left = n;
    const start = nowNs();
    const tick = () => { if (--left === 0) resolve(Number(nowNs() - start)); };
    for (let i = 0; i < n; i++) loop.addCallback(tick);
  }));
  return n / (ns / 1e9);
}

function nodeImmediatesBatched(n: number): Promise<number> {
  return new Promise((resolve) => {
    let left = n;
    const start = nowNs();
    const tick = () => { if (--left === 0) resolve(n / (Number(nowNs() - start) / 1e9)); };
    for (let i = 0; i < n; i++) setImmediate(tick);
  });
}

async function galeCallbacksChained(n: number): Promise<{ rate: number; ffiPerCallback: number; ffiPerIteration: number }> {
  const [[ns, stats0], loop] = await onLoop((l) => new Promise<[number, ReturnType<IOLoop['stats']>]>((resolve) => {
    let left = n;
    const stats = l.stats();
    const start = nowNs();
    const tick = () => { if (--left === 0) resolve([Number(nowNs() - start), stats]); else l.addCallback(tick); };
    l.addCallback(tick);
  }));
  const stats1 = loop.stats();
  const ffi = stats1.ffiCalls - stats0.ffiCalls;
  return { rate: n / (ns / 1e9), ffiPerCallback: ffi / n, ffiPerIteration: ffi / (stats1.iterations - stats0.iterations) };
}

function nodeImmediatesChained(n: number): Promise<number> {
  return new Promise((resolve) => {
    let left = n;
    const start = nowNs();
    const tick = () => { if (--left === 0) resolve(n / (Number(nowNs() - start) / 1e9)); else setImmediate(tick); };
    setImmediate(tick);
  });
}

// ------------------------------------------------------------ 2. timers

interface TimerFigures { scheduleNsPerTimer: number; cpuUsPerTimer: number; lateP50Ms: number; lateP99Ms: number }

/** Deadlines start after scheduling is surely over, then spread out. */
const FIRST_MS = 100;
const SPREAD_MS = 500;

function delays(n: number): Float64Array {
  let seed = 42;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 48271) % 0x7fffffff;
    out[i] = FIRST_MS + (seed / 0x7fffffff) * SPREAD_MS;
  }
  return out;
}

async function galeTimers(n: number): Promise<TimerFigures> {
  const ds = delays(n);
  const late = new Float64Array(n);
  const [figures] = await onLoop((loop) => new Promise<TimerFigures>((resolve) => {
    let left = n;
    const cpu = process.cpuUsage();
    const start = nowNs();
    const base = loop.time();
    const fire = (i: number) => {
      late[i] = (loop.time() - (base + ds[i]! / 1000)) * 1000;
      if (--left === 0) {
        const cpuTotal = cpuUs(cpu);
        const lates = Array.from(late);
        resolve({ scheduleNsPerTimer, cpuUsPerTimer: cpuTotal / n, lateP50Ms: percentile(lates, 50), lateP99Ms: percentile(lates, 99) });
      }
    };
    for (let i = 0; i < n; i++) loop.callAt(base + ds[i]! / 1000, fire, i);
    const scheduleNsPerTimer = Number(nowNs() - start) / n;
  }));
  return figures;
}

function nodeTimers(n: number): Promise<TimerFigures> {
  const ds = delays(n);
  const late = new Float64Array(n);
  return new Promise<TimerFigures>((resolve) => {
    let left = n;
    const cpu = process.cpuUsage();
    const start = nowNs();
    const base = performance.now();
    const fire = (i: number) => {
      late[i] = performance.now() - (base + ds[i]!);
      if (--left === 0) {
        const cpuTotal = cpuUs(cpu);
        const lates = Array.from(late);
        resolve({ scheduleNsPerTimer, cpuUsPerTimer: cpuTotal / n, lateP50Ms: percentile(lates, 50), lateP99Ms: percentile(lates, 99) });
      }
    };
    for (let i = 0; i < n; i++) setTimeout(fire, ds[i]!, i);
    const scheduleNsPerTimer = Number(nowNs() - start) / n;
  });
}

// ------------------------------------------------------------ 3. wake-up latency

/**
 * A worker that writes `count` 8-byte hrtime stamps into `fd`, one every
 * `intervalUs`, sleeping in Atomics.wait between them (so the reader is
 * idle, blocked in its poller, when each write lands).
 */
const WRITER_SOURCE = `
  const { workerData, parentPort } = require('node:worker_threads');
  const { writeSync } = require('node:fs');
  const { fd, count, intervalUs } = workerData;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const buf = Buffer.alloc(8);
  parentPort.once('message', () => {
    for (let i = 0; i < count; i++) {
      Atomics.wait(pause, 0, 0, intervalUs / 1000); // one futex sleep per write: little writer CPU
      buf.writeBigUInt64LE(process.hrtime.bigint(), 0);
      writeSync(fd, buf);
    }
    parentPort.postMessage('done');
  });
`;

interface WriterHandle { go(): void; done: Promise<void>; stop(): Promise<number> }

function startWriter(fd: number, count: number, intervalUs: number): Promise<WriterHandle> {
  const worker = new Worker(WRITER_SOURCE, { eval: true, workerData: { fd, count, intervalUs } });
  const done = new Promise<void>((resolve, reject) => {
    worker.on('message', (m) => { if (m === 'done') resolve(); });
    worker.once('error', reject);
  });
  return new Promise((resolve, reject) => {
    worker.once('online', () => resolve({ go: () => worker.postMessage('go'), done, stop: () => worker.terminate() }));
    worker.once('error', reject);
  });
}

interface LatencyFigures { p50Us: number; p99Us: number; samples: number; ffiPerWakeup: number }

function summarize(latenciesNs: number[]): { p50Us: number; p99Us: number } {
  return { p50Us: percentile(latenciesNs, 50) / 1000, p99Us: percentile(latenciesNs, 99) / 1000 };
}

async function galeWakeups(count: number, intervalUs: number, nodeInterop: boolean): Promise<LatencyFigures> {
  const [r, w] = pipe();
  const writer = await startWriter(w, count, intervalUs);
  const latencies: number[] = [];
  try {
    const [ffi] = await onLoop((loop) => new Promise<number>((resolve) => {
      const before = loop.stats();
      let wakeups = 0;
      loop.addHandler(r, () => {
        const seen = nowNs();
        wakeups++;
        // A short read means the pipe is drained: no extra call to see EAGAIN
        // (DESIGN.md's rule for streams).
        for (;;) {
          const n = readToChunk(r);
          if (n <= 0) break;
          for (let at = 0; at + 8 <= n; at += 8) latencies.push(Number(seen - chunk.view.readBigUInt64LE(at)));
          if (n < CHUNK_SIZE) break;
        }
        if (latencies.length >= count) {
          loop.removeHandler(r);
          resolve((loop.stats().ffiCalls - before.ffiCalls) / wakeups);
        }
      }, IOLoop.READ);
      writer.go();
    }), { nodeInterop });
    await writer.done;
    return { ...summarize(latencies), samples: latencies.length, ffiPerWakeup: ffi };
  } finally {
    await writer.stop();
    closeFd(r);
    closeFd(w);
  }
}

async function nodeWakeups(count: number, intervalUs: number): Promise<LatencyFigures> {
  const [r, w] = pipe();
  const writer = await startWriter(w, count, intervalUs);
  const latencies: number[] = [];
  const socket = new net.Socket({ fd: r, readable: true, writable: false });
  try {
    await new Promise<void>((resolve, reject) => {
      let pending: Buffer = Buffer.alloc(0);
      socket.on('data', (data: Buffer) => {
        const seen = nowNs();
        pending = pending.length ? Buffer.concat([pending, data]) : data;
        let at = 0;
        for (; at + 8 <= pending.length; at += 8) latencies.push(Number(seen - pending.readBigUInt64LE(at)));
        pending = pending.subarray(at);
        if (latencies.length >= count) resolve();
      });
      socket.once('error', reject);
      writer.go();
    });
    await writer.done;
    return { ...summarize(latencies), samples: latencies.length, ffiPerWakeup: NaN };
  } finally {
    await writer.stop();
    socket.destroy(); // closes r
    closeFd(w);
  }
}

// ------------------------------------------------------------ 4. I/O-driven iterations

/**
 * One thread, one pipe: the handler reads the byte and writes the next one,
 * so every iteration is woken by I/O (and, for gale, preceded by a blocking
 * wait: with Node interop, the hop into libuv's poll phase that reads Node's
 * next timer). Returns µs of process CPU per round.
 */
async function galeSelfPing(n: number, nodeInterop: boolean): Promise<{ cpuUs: number; ffi: number }> {
  const [r, w] = pipe();
  const one = Buffer.from('x');
  try {
    const [[cpuTotal, ffi]] = await onLoop((loop) => new Promise<[number, number]>((resolve) => {
      let left = n;
      const before = loop.stats();
      const cpu = process.cpuUsage();
      loop.addHandler(r, () => {
        readToChunk(r);
        if (--left === 0) {
          loop.removeHandler(r);
          resolve([cpuUs(cpu), (loop.stats().ffiCalls - before.ffiCalls) / n]);
        } else {
          writeBytes(w, one);
        }
      }, IOLoop.READ);
      writeBytes(w, one);
    }), { nodeInterop });
    return { cpuUs: cpuTotal / n, ffi };
  } finally {
    closeFd(r);
    closeFd(w);
  }
}

async function nodeSelfPing(n: number): Promise<number> {
  const [r, w] = pipe();
  const socket = new net.Socket({ fd: r, readable: true, writable: false });
  const one = Buffer.from('x');
  try {
    return await new Promise<number>((resolve, reject) => {
      let left = n;
      const cpu = process.cpuUsage();
      socket.on('data', () => {
        if (--left === 0) resolve(cpuUs(cpu) / n);
        else writeSync(w, one);
      });
      socket.once('error', reject);
      writeSync(w, one);
    });
  } finally {
    socket.destroy();
    closeFd(w);
  }
}

// ------------------------------------------------------------ 6. idle waits

/** Runs `fn` on a loop that also watches an idle socketpair (so it really blocks in its poller). */
async function onIdleLoop<T>(fn: (loop: IOLoop) => T | PromiseLike<T>, nodeInterop = true): Promise<T> {
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    const [result] = await onLoop((loop) => {
      loop.addHandler(a, () => {}, IOLoop.READ);
      return fn(loop);
    }, { nodeInterop });
    return result;
  } finally {
    closeFd(a);
    closeFd(b);
  }
}

/** ms past due of a Node setTimeout(…, 20), `n` times in a row. */
async function nodeTimerLateness(n: number): Promise<number[]> {
  const late: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
    late.push(performance.now() - start - 20);
  }
  return late;
}

/** Process CPU (µs) over a 0.5 s idle wait made with `wait` (gale's sleep on a loop, or Node's). */
async function idleCpuUs(wait: (seconds: number) => PromiseLike<unknown>): Promise<number> {
  await wait(0.01);
  const cpu = process.cpuUsage();
  await wait(0.5);
  return cpuUs(cpu);
}

const nodeSleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

// ------------------------------------------------------------ the run

/** Runs every reactor benchmark, prints the table, and returns the figures. */
export async function main(): Promise<ReactorReport> {
  const rows: ReactorRow[] = [];
  const log = (s: string) => process.stderr.write(`[reactor bench] ${s}\n`);

  // 1. callbacks: best of 3 rounds, interleaved.
  const nBatch = Math.round(100_000 * SCALE);
  const nChain = Math.round(100_000 * SCALE);
  log(`callbacks: ${nBatch} batched, ${nChain} chained, 3 rounds`);
  const batchG: number[] = [];
  const batchN: number[] = [];
  const chainG: number[] = [];
  const chainN: number[] = [];
  let chainFfi = { ffiPerCallback: NaN, ffiPerIteration: NaN };
  for (let round = 0; round < 3; round++) {
    batchG.push(await galeCallbacksBatched(nBatch));
    await settle();
    batchN.push(await nodeImmediatesBatched(nBatch));
    await settle();
    const chained = await galeCallbacksChained(nChain);
    chainG.push(chained.rate);
    chainFfi = chained;
    await settle();
    chainN.push(await nodeImmediatesChained(nChain));
    await settle();
  }
  rows.push({
    benchmark: `callbacks, ${nBatch / 1000}k queued at once: addCallback vs setImmediate`,
    gale: rate(median(batchG)), node: rate(median(batchN)), ratio: rateRatio(median(batchG), median(batchN)),
  });
  rows.push({
    benchmark: `callbacks, ${nChain / 1000}k chained (one per iteration): addCallback vs setImmediate`,
    gale: rate(median(chainG)), node: rate(median(chainN)), ratio: rateRatio(median(chainG), median(chainN)),
    note: `gale: ${fmt(chainFfi.ffiPerIteration)} FFI calls per iteration (the poll)`,
  });

  // 2. timers
  const nTimers = Math.round(100_000 * SCALE);
  log(`timers: ${nTimers} over ${SPREAD_MS} ms, 3 rounds`);
  const tg: TimerFigures[] = [];
  const tn: TimerFigures[] = [];
  for (let round = 0; round < 3; round++) {
    tg.push(await galeTimers(nTimers));
    await settle();
    tn.push(await nodeTimers(nTimers));
    await settle();
  }
  const pick = (list: TimerFigures[], key: keyof TimerFigures) => median(list.map((f) => f[key]));
  rows.push({
    benchmark: `timers, ${nTimers / 1000}k over ${SPREAD_MS} ms: scheduling, ns per timer (callAt vs setTimeout)`,
    gale: `${fmt(pick(tg, 'scheduleNsPerTimer'), 0)} ns`, node: `${fmt(pick(tn, 'scheduleNsPerTimer'), 0)} ns`,
    ratio: costRatio(pick(tg, 'scheduleNsPerTimer'), pick(tn, 'scheduleNsPerTimer')),
  });
  rows.push({
    benchmark: `timers, ${nTimers / 1000}k: process CPU per timer, scheduled and fired`,
    gale: `${fmt(pick(tg, 'cpuUsPerTimer'))} µs`, node: `${fmt(pick(tn, 'cpuUsPerTimer'))} µs`,
    ratio: costRatio(pick(tg, 'cpuUsPerTimer'), pick(tn, 'cpuUsPerTimer')),
  });
  rows.push({
    benchmark: `timers, ${nTimers / 1000}k: lateness p50 / p99`,
    gale: `${fmt(pick(tg, 'lateP50Ms'))} / ${fmt(pick(tg, 'lateP99Ms'))} ms`,
    node: `${fmt(pick(tn, 'lateP50Ms'))} / ${fmt(pick(tn, 'lateP99Ms'))} ms`,
    ratio: costRatio(pick(tg, 'lateP99Ms'), pick(tn, 'lateP99Ms')),
    note: 'ratio of p99; both have 1 ms resolution (gale rounds its poll timeout up)',
  });

  // 3. wake-up latency
  const nWake = Math.round(2000 * SCALE);
  const intervalUs = 1000;
  log(`wake-ups: ${nWake} pipe writes from a worker, one per ${intervalUs} µs, 2 rounds`);
  const wg: LatencyFigures[] = [];
  const wgo: LatencyFigures[] = [];
  const wn: LatencyFigures[] = [];
  for (let round = 0; round < 2; round++) {
    wg.push(await galeWakeups(nWake, intervalUs, true));
    await settle();
    wn.push(await nodeWakeups(nWake, intervalUs));
    await settle();
    wgo.push(await galeWakeups(nWake, intervalUs, false));
    await settle();
  }
  const lat = (list: LatencyFigures[], key: 'p50Us' | 'p99Us') => median(list.map((f) => f[key]));
  rows.push({
    benchmark: 'wake-up latency, pipe write → handler: p50 / p99 (gale, Node interop on)',
    gale: `${fmt(lat(wg, 'p50Us'), 1)} / ${fmt(lat(wg, 'p99Us'), 1)} µs`,
    node: `${fmt(lat(wn, 'p50Us'), 1)} / ${fmt(lat(wn, 'p99Us'), 1)} µs`,
    ratio: costRatio(lat(wg, 'p50Us'), lat(wn, 'p50Us')),
    note: `ratio of p50; Node: net.Socket on the pipe; gale: ${fmt(median(wg.map((f) => f.ffiPerWakeup)))} FFI calls per wake-up`,
  });
  rows.push({
    benchmark: 'wake-up latency, pipe write → handler: p50 / p99 (gale, nodeInterop: false)',
    gale: `${fmt(lat(wgo, 'p50Us'), 1)} / ${fmt(lat(wgo, 'p99Us'), 1)} µs`,
    node: `${fmt(lat(wn, 'p50Us'), 1)} / ${fmt(lat(wn, 'p99Us'), 1)} µs`,
    ratio: costRatio(lat(wgo, 'p50Us'), lat(wn, 'p50Us')),
    note: `ratio of p50; gale: ${fmt(median(wgo.map((f) => f.ffiPerWakeup)))} FFI calls per wake-up`,
  });

  // 4. I/O-driven iterations
  const nPing = Math.round(30_000 * SCALE);
  log(`self-ping over a pipe: ${nPing} rounds, 3 rounds`);
  const pg: Array<{ cpuUs: number; ffi: number }> = [];
  const pgo: Array<{ cpuUs: number; ffi: number }> = [];
  const pn: number[] = [];
  for (let round = 0; round < 3; round++) {
    pg.push(await galeSelfPing(nPing, true));
    await settle();
    pgo.push(await galeSelfPing(nPing, false));
    await settle();
    pn.push(await nodeSelfPing(nPing));
    await settle();
  }
  const pingOn = median(pg.map((p) => p.cpuUs));
  const pingOff = median(pgo.map((p) => p.cpuUs));
  rows.push({
    benchmark: 'I/O-driven iteration (pipe self-ping: read a byte, write the next): CPU per round, gale interop on / off',
    gale: `${fmt(pingOn, 1)} / ${fmt(pingOff, 1)} µs`, node: `${fmt(median(pn), 1)} µs`,
    ratio: costRatio(pingOn, median(pn)),
    note: `ratio with interop on; gale FFI calls per round: ${fmt(median(pg.map((p) => p.ffi)))} / ${fmt(median(pgo.map((p) => p.ffi)))} (poll, read, write; a hop into libuv would add one)`,
  });

  // 6. idle waits
  const nLate = Math.round(20 * SCALE);
  log(`idle waits: ${nLate} Node timers of 20 ms, 0.5 s idle CPU, 3 rounds`);
  const lateG: number[] = [];
  const lateN: number[] = [];
  const idleOn: number[] = [];
  const idleOff: number[] = [];
  const idleNode: number[] = [];
  for (let round = 0; round < 3; round++) {
    lateG.push(...await onIdleLoop(() => nodeTimerLateness(nLate)));
    await settle();
    lateN.push(...await nodeTimerLateness(nLate));
    await settle();
    idleOn.push(await onIdleLoop(() => idleCpuUs(sleep)));
    idleOff.push(await onIdleLoop(() => idleCpuUs(sleep), false));
    idleNode.push(await idleCpuUs(nodeSleep));
    await settle();
  }
  rows.push({
    benchmark: 'Node setTimeout(…, 20) while the loop waits on an idle socket: lateness p50 / p99 (vs no gale loop)',
    gale: `${fmt(percentile(lateG, 50))} / ${fmt(percentile(lateG, 99))} ms`,
    node: `${fmt(percentile(lateN, 50))} / ${fmt(percentile(lateN, 99))} ms`,
    ratio: costRatio(percentile(lateG, 99), percentile(lateN, 99)),
    note: 'ratio of p99; the gale loop has Node interop on',
  });
  rows.push({
    benchmark: 'idle 0.5 s: process CPU, gale interop on / off (vs Node idle)',
    gale: `${fmt(median(idleOn) / 1000)} / ${fmt(median(idleOff) / 1000)} ms`,
    node: `${fmt(median(idleNode) / 1000)} ms`,
    ratio: costRatio(median(idleOn), median(idleNode)),
    note: 'ratio with interop on',
  });

  const ffi = {
    perIteration: chainFfi.ffiPerIteration,
    perWakeup: median(wg.map((f) => f.ffiPerWakeup)),
    perWakeupNoInterop: median(wgo.map((f) => f.ffiPerWakeup)),
    perCallbackChained: chainFfi.ffiPerCallback,
  };
  const markdown = [
    '| benchmark | gale | Node | ratio (>1: gale better) | notes |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.benchmark} | ${r.gale} | ${r.node} | ${fmt(r.ratio)} | ${r.note ?? ''} |`),
    '',
    `FFI calls (IOLoop.stats()): ${fmt(ffi.perIteration)} per iteration with nothing to do (the poll); ` +
      `${fmt(ffi.perWakeup)} per wake-up with Node interop, ${fmt(ffi.perWakeupNoInterop)} without ` +
      `(the poll and one read; a hop into libuv's poll phase, needed only when something new may have changed ` +
      `Node's next timer, adds a uv_backend_timeout call).`,
  ].join('\n');
  process.stdout.write(`\n## Reactor: gale vs Node (${process.version}, ${process.platform}/${process.arch})\n\n${markdown}\n\n`);
  return { rows, ffi, markdown };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}
