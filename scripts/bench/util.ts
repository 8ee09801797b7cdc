/**
 * Small helpers the benchmarks share: settings from the environment,
 * medians and percentiles, the ratio convention, CPU pinning and free ports.
 */
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { availableParallelism } from 'node:os';

/** Resolves after `ms` of Node time. */
export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** A positive number from the environment variable `name`, else `fallback`; garbage is an error. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${JSON.stringify(raw)}`);
  return value;
}

/** Whether `name` is a command on the PATH. */
export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export const canPin = availableParallelism() >= 2 && hasCommand('taskset');

/** Prefixes argv with `taskset -c CPU` when pinning is possible (server and load generator on their own cores). */
export function pinned(cpu: number, argv: string[]): string[] {
  return canPin ? ['taskset', '-c', String(cpu), ...argv] : argv;
}

/** The median (the mean of the middle two for an even count); NaN for no values, which tables print as n/a. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The `p`th percentile (0–100, nearest rank rounding down); NaN for no values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/*
 * Ratios, one convention for every table: a ratio above 1 means gale did
 * better, 1.00 is parity (treat 0.9–1.1 as parity on a shared machine).
 * For a rate, where higher is better, it is gale ÷ other; for a cost —
 * latency, CPU per unit of work — where lower is better, other ÷ gale.
 * NaN when either side is missing or zero.
 */

/** gale ÷ other, for rates (higher is better): above 1, gale did better. */
export function rateRatio(gale: number, other: number): number {
  return gale > 0 && other > 0 ? gale / other : NaN;
}

/** other ÷ gale, for costs (latency, CPU; lower is better): above 1, gale did better. */
export function costRatio(gale: number, other: number): number {
  return gale > 0 && other > 0 ? other / gale : NaN;
}

/** A port free right now on 127.0.0.1 (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = net.createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => done(port));
    });
  });
}

/** Whether a server accepts a connection on 127.0.0.1:`port` now (the probe is closed at once). */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}
