/**
 * What bounds the bulk echo: where each server's kernel time per MB goes.
 *
 *   node dist/scripts/bench/bulk-bound.js          (after `npm run build`; needs `perf`)
 *
 * echo.ts's bulk mode (1 connection, 64 KiB chunks, 4 in flight) shows
 * gale's idiomatic server (`readBytes` / `await write`) spending about
 * twice uvloop's and the C server's kernel time per MB, for the same
 * system calls. This runs each server in the same fixed window under
 * `perf record` and splits its CPU per MB into the parts that explain the
 * difference:
 *
 * - **page faults** (`exc_page_fault`, inclusive) and the count of minor
 *   faults per MB (`/proc/PID/stat`): memory the process had given back,
 *   written again;
 * - **receive copy** (`_copy_to_iter`: the kernel copying a socket's bytes
 *   into the buffer the read names) and **send copy** (`_copy_from_iter`).
 *   Both copy the same bytes per MB, so their ratio says how much dearer
 *   the receive side's destination is: memory not in the cache costs more
 *   to write than memory reused chunk after chunk;
 * - user time (everything outside the kernel).
 *
 * The servers (BENCH_SERVERS; default below) are echo.ts's, with the two
 * that isolate the cause: `gale-into` / `gale-uring-into` are the same
 * gale server reading with `readInto` into one Buffer per connection (no
 * fresh memory per chunk), `c-epoll-fresh` the C server reading into a
 * fresh malloc per chunk, freed 1,024 reads later, as a collector would.
 * BENCH_ROUNDS (3; medians, servers interleaved), BENCH_DURATION (3 s).
 * Each sample: a fresh server pinned to CPU 0, `perf record -F 1999` on
 * it, the load generator on CPU 1 after 1 s of warm-up.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLoadgen, serverSpecs, startServer, stopServer, type LoadgenResult, type ServerSpec } from './echo.js';
import { envNumber, freePort, hasCommand, median, pinned, sleep } from './util.js';

const DEFAULT_SERVERS = 'gale,gale-into,gale-uring,gale-uring-into,uvloop,c-epoll,c-epoll-fresh';

/** One sample's figures, per MB (10^6 bytes) echoed. */
interface Row {
  cpu: number;
  user: number;
  kernel: number;
  faultsPerMB: number;
  faultUs: number;
  receiveCopyUs: number;
  sendCopyUs: number;
}

/** Minor page faults so far of process `pid` (field 10 of /proc/PID/stat). */
function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

/**
 * CPU nanoseconds per symbol in a perf.data file (`perf report` periods:
 * cpu-clock counts nanoseconds): each symbol's own (`self`), and with
 * what it called (`inclusive`, from the children percentages).
 */
function periods(data: string): { self: Map<string, number>; inclusive: Map<string, number> } {
  const report = (args: string[]) => spawnSync('perf', ['report', '-i', data, '--stdio', '--sort', 'sym', '-g', 'none', ...args],
    { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.split('\n');
  const self = new Map<string, number>();
  let total = 0;
  for (const line of report(['--no-children', '-F', 'period,sym'])) {
    const match = /^\s*(\d+)\s+\[(.)\]\s+(\S+)/.exec(line); // "  123456789  [k] _copy_to_iter"
    if (!match) continue;
    self.set(`${match[2]} ${match[3]}`, Number(match[1]));
    total += Number(match[1]);
  }
  const inclusive = new Map<string, number>();
  for (const line of report(['--children', '-F', 'overhead_children,sym'])) {
    const match = /^\s*([\d.]+)%\s+\[(.)\]\s+(\S+)/.exec(line); // "    12.34%  [k] asm_exc_page_fault"
    if (match) inclusive.set(`${match[2]} ${match[3]}`, (Number(match[1]) / 100) * total);
  }
  return { self, inclusive };
}

async function sample(spec: ServerSpec, loadgen: string, duration: number, dir: string): Promise<Row | null> {
  const port = await freePort();
  const server = await startServer(spec, port);
  const pid = server.child.pid!;
  try {
    await sleep(500);
    const data = join(dir, `${spec.name}.data`);
    const faults0 = minorFaults(pid);
    const perf = spawn('perf', ['record', '-F', '1999', '-g', '-o', data, '-p', String(pid), '--', 'sleep', String(duration + 1.2)], { stdio: 'ignore' });
    const perfDone = new Promise<void>((done) => perf.once('close', () => done()));
    const argv = pinned(1, [loadgen, '127.0.0.1', String(port), 'bulk', '1', '65536', '4', String(duration), '1', '--server-pid', String(pid)]);
    const run = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    await perfDone;
    const faults = minorFaults(pid) - faults0;
    let result: LoadgenResult;
    try {
      result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as LoadgenResult;
    } catch {
      return null; // no result line: the sample is left out (the progress line says so)
    }
    if (!result.ok || !result.rx_bytes || result.server_user_s === undefined || result.server_sys_s === undefined) return null;
    const mb = result.rx_bytes / 1e6;
    const { self, inclusive } = periods(data);
    const us = (ns: number | undefined) => (ns ?? 0) / 1e3 / mb;
    return {
      cpu: ((result.server_user_s + result.server_sys_s) * 1e6) / mb,
      user: (result.server_user_s * 1e6) / mb,
      kernel: (result.server_sys_s * 1e6) / mb,
      // Faults are counted over the perf window, which spans the load generator's warm-up too: per MB of the measured window, an upper bound.
      faultsPerMB: faults / mb,
      faultUs: us(inclusive.get('k asm_exc_page_fault') ?? inclusive.get('k exc_page_fault')),
      receiveCopyUs: us(self.get('k _copy_to_iter')),
      sendCopyUs: us(self.get('k _copy_from_iter')),
    };
  } finally {
    await stopServer(server);
  }
}

async function main(): Promise<void> {
  if (!hasCommand('perf')) {
    console.log('bulk-bound: `perf` is not installed (Debian: apt-get install linux-perf); nothing measured');
    return;
  }
  process.env.BENCH_SERVERS ??= DEFAULT_SERVERS;
  const specs = serverSpecs((why) => console.error(`(${why})`));
  const loadgen = findLoadgen();
  const rounds = Math.round(envNumber('BENCH_ROUNDS', 3));
  const duration = envNumber('BENCH_DURATION', 3);
  const dir = mkdtempSync(join(tmpdir(), 'gale-bulk-bound-'));
  const rows = new Map<string, Row[]>(specs.map((s) => [s.name, []]));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const spec of specs) {
        const row = await sample(spec, loadgen, duration, dir);
        if (row) rows.get(spec.name)!.push(row);
        console.error(`  [${round}/${rounds}] ${spec.name.padEnd(16)} ${row ? `${row.cpu.toFixed(0)} µs/MB, ${row.faultsPerMB.toFixed(1)} faults/MB` : 'no sample'}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  const columns: Array<[string, (r: Row) => number]> = [
    ['server CPU µs', (r) => r.cpu],
    ['user µs', (r) => r.user],
    ['kernel µs', (r) => r.kernel],
    ['page faults', (r) => r.faultsPerMB],
    ['in page faults µs', (r) => r.faultUs],
    ['receive copy µs', (r) => r.receiveCopyUs],
    ['send copy µs', (r) => r.sendCopyUs],
    ['receive ÷ send copy', (r) => r.receiveCopyUs / r.sendCopyUs],
  ];
  console.log(`\n## Bulk echo: where the CPU per MB goes (medians of ${rounds}; per MB echoed)\n`);
  console.log(`| server | ${columns.map(([name]) => name).join(' | ')} |`);
  console.log(`|---|${columns.map(() => '---:').join('|')}|`);
  for (const [name, list] of rows) {
    if (list.length === 0) continue;
    console.log(`| ${name} | ${columns.map(([, get]) => fmt(median(list.map(get)))).join(' | ')} |`);
  }
}

await main();
