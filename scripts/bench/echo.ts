/**
 * The echo benchmark: gale's echo server side by side with Node's own
 * (node:net on libuv), in one run, as ratios.
 *
 *   npm run bench                             (reactor bench, then this one)
 *   node dist/scripts/bench/echo.js           (this one alone, after a build)
 *
 * Method:
 * - a fresh server process for every measurement, pinned to CPU 0 with
 *   `taskset`; the load generator pinned to CPU 1, so the two never fight
 *   over a core and the server's figures are its own;
 * - before each measurement, wait (bounded) for the machine to go quiet,
 *   and flag the sample as noisy if it never does;
 * - the servers interleaved within every round (their order flipping from
 *   round to round), R rounds, the median per mode and server;
 * - server CPU time (utime+stime of all its threads, from /proc/PID/stat,
 *   sampled by the load generator at the edges of the measured window)
 *   divided by the work done: CPU µs per round trip, per message, per MB,
 *   per connection. On a small shared VM this is the steadiest figure, and
 *   it stays valid when the load generator, not the server, is the
 *   bottleneck.
 *
 * Servers: `gale` (gale on epoll), `gale-uring` (gale on io_uring as it
 * runs by default there: stream reads and writes through the ring,
 * GALE_POLLER=uring), `gale-uring-reads` (reads through the ring, writes
 * with write(2): GALE_URING_STREAMS=1; not in the default set),
 * `gale-uring-poll` (the ring as a poller only, GALE_URING_STREAMS=0; not
 * in the default set),
 * `node` (node:net), `floor` (`js-floor`, echo-floor.ts: the least a
 * JavaScript server executes over gale's FFI; not in the default set), `uvloop` (echo-uvloop.py: an asyncio Protocol on
 * Python's uvloop, when BENCH_PYTHON — /usr/bin/python3 by default — can
 * import it; left out with one line saying why otherwise) and, when a C
 * compiler is there, `c-epoll` (a plain C epoll echo server,
 * c-epoll-echo.c: the practical limit on this machine). Each gale column
 * gets a ratio to each of node:net, uvloop and c-epoll, and a memory row
 * (VmRSS idle before the load, VmHWM peak after it, from /proc/PID/status).
 *
 * Environment: BENCH_ROUNDS (3), BENCH_DURATION (2 s), BENCH_WARMUP (0.5 s),
 * BENCH_MODES (pingpong,pipeline,bulk,connect), BENCH_SERVERS
 * (gale,gale-uring,node,uvloop,c-epoll), BENCH_PYTHON (/usr/bin/python3),
 * BENCH_EXTRA_SERVERS ("name=command args {PORT};..."; to measure another
 * server, e.g. a C reference, in the same run), BENCH_LOADGEN (path of a
 * load generator speaking loadgen.c's CLI), BENCH_QUIET_WAIT (3 s),
 * BENCH_JSON (a file to write every sample to).
 */
import { canConnect, canPin, costRatio, envNumber, freePort, median, pinned, rateRatio, sleep } from './util.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // dist/scripts/bench
const repoRoot = resolve(here, '..', '..', '..');
const sourceDir = join(repoRoot, 'scripts', 'bench');

// ------------------------------------------------------------------ modes

export type ModeKey = 'pingpong' | 'pipeline' | 'bulk' | 'connect';

interface ModeSpec {
  key: ModeKey;
  title: string;
  conns: number;
  size: number;
  depth: number;
  /** What one unit of work is, for "server CPU µs per …". */
  unit: string;
}

const MODES: ModeSpec[] = [
  { key: 'pingpong', title: 'ping-pong (1 conn, 64 B)', conns: 1, size: 64, depth: 1, unit: 'round trip' },
  { key: 'pipeline', title: 'pipelined (50 conns × 16 in flight × 64 B)', conns: 50, size: 64, depth: 16, unit: 'msg' },
  { key: 'bulk', title: 'bulk (1 conn, 64 KiB chunks, 4 in flight)', conns: 1, size: 65536, depth: 4, unit: 'MB' },
  { key: 'connect', title: 'connect (8 at a time; connect, echo 64 B, close)', conns: 8, size: 64, depth: 1, unit: 'connection' },
];

// ------------------------------------------------------------------ samples

export interface ServerSpec {
  name: string;
  /** argv; `{PORT}` is replaced by the port. */
  argv: string[];
}

/** One measurement: one fresh server, one load-generator run. */
export interface Sample {
  server: string;
  mode: ModeKey;
  round: number;
  ok: boolean;
  error?: string;
  /** Round trips/s, msgs/s, MB/s or connections/s. */
  rate?: number;
  p50?: number;
  p99?: number;
  /** Server CPU µs per unit of work over the measured window. */
  cpuPerUnit?: number;
  /** The same split: time in user space (JS, the FFI, libc) and in the kernel (syscalls, wake-ups, TCP). */
  userPerUnit?: number;
  kernelPerUnit?: number;
  /** FFI calls (every one the server's thread made) per echoed message; gale only. */
  ffiPerMsg?: number;
  /** The same, counting only what `IOLoop.stats()` attributes to the loop. */
  loopFfiPerMsg?: number;
  /** FFI calls per loop iteration over the server's life (`IOLoop.stats()`); gale only. */
  ffiPerIteration?: number;
  /** The server's resident set (VmRSS, KiB) just before the load started: idle after start-up. */
  rssIdleKiB?: number;
  /** Its peak resident set (VmHWM, KiB) at the end of the load: the most it ever held. */
  rssPeakKiB?: number;
  /** The machine was still busy when the measurement started. */
  noisy: boolean;
}

// ------------------------------------------------------------------ small helpers

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineCpu(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal
    const idle = f[3] + (f[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/**
 * Waits until the machine as a whole is under 10 % busy over 300 ms, for at
 * most `maxWaitS`. Returns false if it never got quiet (the sample is then
 * flagged), true otherwise (or when /proc/stat is not there to ask).
 */
async function waitQuiet(maxWaitS: number): Promise<boolean> {
  const deadline = Date.now() + maxWaitS * 1000;
  for (;;) {
    const a = machineCpu();
    await sleep(300);
    const b = machineCpu();
    if (!a || !b) return true;
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy < 0.1) return true;
    if (Date.now() >= deadline) return false;
  }
}

/** A `kB` field (VmRSS, VmHWM, …) of /proc/PID/status in KiB; undefined if the process or field is gone. */
export function procStatusKiB(pid: number, field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ the load generator

/**
 * Finds a load generator: BENCH_LOADGEN if set (any program speaking the
 * same CLI and JSON); else ours, compiled on demand from loadgen.c into the
 * ignored scripts/bench/loadgen-bin.
 */
export function findLoadgen(log: (line: string) => void = () => {}): string {
  const override = process.env.BENCH_LOADGEN;
  if (override) {
    if (!isExecutable(override)) throw new Error(`BENCH_LOADGEN=${override} is not an executable file`);
    return override;
  }
  const source = join(sourceDir, 'loadgen.c');
  const binary = join(sourceDir, 'loadgen-bin');
  if (isExecutable(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  const partial = `${binary}.${process.pid}.tmp`;
  const cc = spawnSync('cc', ['-O2', '-Wall', '-o', partial, source], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc -O2 ${source} failed (is a C compiler installed?):\n${cc.stderr ?? cc.error}`);
  renameSync(partial, binary); // atomic: a concurrent run never sees half a binary
  return binary;
}

export interface LoadgenResult {
  ok?: boolean;
  error?: string | null;
  elapsed_s?: number;
  msgs?: number;
  msgs_per_s?: number;
  rx_bytes?: number;
  rx_MBps?: number;
  connections?: number;
  conns_per_s?: number;
  lat_us?: { p50: number; p99: number };
  server_cpu_s?: number;
  server_cpu_pct?: number;
  server_user_s?: number;
  server_sys_s?: number;
}

/** Runs a command to completion (killed after `timeoutMs`). */
function runCommand(argv: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      done({ code: null, stdout, stderr: stderr + String(error) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

// ------------------------------------------------------------------ servers

export interface RunningServer {
  child: ChildProcess;
  stderr: () => string;
}

/** Starts a server pinned to CPU 0 and waits until its port accepts. */
export async function startServer(spec: ServerSpec, port: number): Promise<RunningServer> {
  const argv = pinned(0, spec.argv.map((a) => a.replaceAll('{PORT}', String(port))));
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const failure: { error: Error | null } = { error: null };
  child.on('error', (error) => (failure.error = error));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (failure.error) throw failure.error;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${spec.name} server exited (${child.exitCode ?? child.signalCode}) before listening:\n${stderr.trim()}`);
    }
    if (await canConnect(port)) return { child, stderr: () => stderr };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${spec.name} server did not listen on ${port} within 15 s:\n${stderr.trim()}`);
    }
    await sleep(50);
  }
}

/**
 * Stops a server with SIGTERM (SIGKILL after 5 s) and returns the counters it
 * printed to stderr as its last JSON line, if any.
 */
export async function stopServer(server: RunningServer): Promise<Record<string, number> | null> {
  const { child } = server;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((done) => child.once('close', () => done()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  const lines = server.stderr().trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, number>;
    } catch {
      // not ours
    }
  }
  return null;
}

// ------------------------------------------------------------------ one measurement

interface RunSettings {
  loadgen: string;
  duration: number;
  warmup: number;
  quietWait: number;
}

async function measure(spec: ServerSpec, mode: ModeSpec, round: number, settings: RunSettings): Promise<Sample> {
  const sample: Sample = { server: spec.name, mode: mode.key, round, ok: false, noisy: false };
  const port = await freePort();
  let server: RunningServer;
  try {
    server = await startServer(spec, port);
  } catch (error) {
    sample.error = (error as Error).message;
    return sample;
  }
  let counters: Record<string, number> | null = null;
  try {
    sample.noisy = !(await waitQuiet(settings.quietWait));
    const pid = server.child.pid!;
    sample.rssIdleKiB = procStatusKiB(pid, 'VmRSS');
    const argv = pinned(1, [
      settings.loadgen, '127.0.0.1', String(port), mode.key, String(mode.conns), String(mode.size),
      String(mode.depth), String(settings.duration), String(settings.warmup), '--server-pid', String(pid),
    ]);
    const run = await runCommand(argv, (settings.duration + settings.warmup + 40) * 1000);
    sample.rssPeakKiB = procStatusKiB(pid, 'VmHWM');
    const line = run.stdout.trim().split('\n').pop() ?? '';
    let result: LoadgenResult;
    try {
      result = JSON.parse(line) as LoadgenResult;
    } catch {
      sample.error = `load generator printed no result (exit ${run.code}): ${(run.stderr || run.stdout).trim()}`;
      return sample;
    }
    if (!result.ok) {
      sample.error = `load generator: ${result.error ?? `exit ${run.code}`}`;
      return sample;
    }
    const elapsed = result.elapsed_s ?? 0;
    const msgs = result.msgs ?? (result.msgs_per_s ?? 0) * elapsed;
    let units: number;
    switch (mode.key) {
      case 'pingpong':
      case 'pipeline':
        sample.rate = result.msgs_per_s;
        units = msgs;
        break;
      case 'bulk':
        sample.rate = result.rx_MBps;
        units = result.rx_bytes !== undefined ? result.rx_bytes / 1e6 : (result.rx_MBps ?? 0) * elapsed;
        break;
      case 'connect':
        sample.rate = result.conns_per_s;
        units = result.connections ?? (result.conns_per_s ?? 0) * elapsed;
        break;
    }
    if (mode.key === 'pingpong' && result.lat_us) {
      sample.p50 = result.lat_us.p50;
      sample.p99 = result.lat_us.p99;
    }
    // Ours reports seconds; another load generator (BENCH_LOADGEN) may report a percentage of the window.
    const cpuS = result.server_cpu_s ?? (result.server_cpu_pct !== undefined ? (result.server_cpu_pct / 100) * elapsed : undefined);
    if (cpuS !== undefined && units > 0) sample.cpuPerUnit = (cpuS * 1e6) / units;
    if (result.server_user_s !== undefined && result.server_sys_s !== undefined && units > 0) {
      sample.userPerUnit = (result.server_user_s * 1e6) / units;
      sample.kernelPerUnit = (result.server_sys_s * 1e6) / units;
    }
    sample.ok = sample.rate !== undefined;
    if (!sample.ok) sample.error = `load generator result has no rate: ${line}`;
  } finally {
    counters = await stopServer(server);
  }
  // FFI calls per echoed message over the server's whole life (setup,
  // warm-up and drain included; they are a tiny share).
  if (counters && typeof counters.ffiCalls === 'number' && counters.bytesEchoed > 0) {
    const echoed = mode.key === 'connect' ? counters.connections : counters.bytesEchoed / mode.size;
    if (echoed > 0) {
      sample.ffiPerMsg = counters.ffiCalls / echoed;
      if (typeof counters.loopFfiCalls === 'number') sample.loopFfiPerMsg = counters.loopFfiCalls / echoed;
    }
    if (counters.iterations > 0) sample.ffiPerIteration = counters.ffiCalls / counters.iterations;
  }
  return sample;
}

// ------------------------------------------------------------------ the report

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return 'n/a';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

interface Cell {
  samples: Sample[];
  ok: Sample[];
}

function cellOf(samples: Sample[], server: string, mode: ModeKey): Cell {
  const mine = samples.filter((s) => s.server === server && s.mode === mode);
  return { samples: mine, ok: mine.filter((s) => s.ok) };
}

function med(cell: Cell, pick: (s: Sample) => number | undefined): number {
  return median(cell.ok.map(pick).filter((v): v is number => v !== undefined));
}

/** `value`, or why there is none. */
function shown(cell: Cell, value: string): string {
  if (cell.samples.length === 0) return '—';
  if (cell.ok.length === 0) return 'failed';
  return cell.ok.length < cell.samples.length ? `${value} (${cell.ok.length}/${cell.samples.length} ok)` : value;
}

/**
 * The servers every other one is compared against, in this order, when they
 * ran: node:net (the floor), uvloop (the bar) and the C epoll server (the
 * practical limit).
 */
export const REFERENCES = ['node:net', 'uvloop', 'c-epoll'];

const mib = (kib: number) => kib / 1024;

export function renderTable(samples: Sample[], servers: string[], modes: ModeSpec[]): string {
  const references = REFERENCES.filter((r) => servers.includes(r));
  const subjects = servers.filter((s) => !references.includes(s));
  // One ratio column per (subject, reference): "gale-uring vs uvloop".
  const pairs = subjects.flatMap((s) => references.map((r) => [s, r] as const));
  const gales = servers.filter((s) => s.startsWith('gale'));
  const hasGale = gales.length > 0;
  const header = ['mode', 'measure', ...servers, ...pairs.map(([s, r]) => `${s} vs ${r}`)];
  if (hasGale) header.push(`FFI calls / msg (${gales.join(', ')})`, `FFI calls / iteration (${gales.join(', ')})`);
  const rows: string[][] = [];
  const row = (cells: string[]) => rows.push(cells);
  const blanks = hasGale ? ['', ''] : [];
  const allCells = (mode: ModeKey) => Object.fromEntries(servers.map((s) => [s, cellOf(samples, s, mode)]));
  for (const mode of modes) {
    const cells = allCells(mode.key);
    const ffi = gales.map((g) => fmt(med(cells[g], (s) => s.ffiPerMsg))).join(', ');
    const perIteration = gales.map((g) => fmt(med(cells[g], (s) => s.ffiPerIteration))).join(', ');
    // The benchmarks' one convention (util.ts): above 1, the subject did better than the reference.
    const ratios = (pick: (s: Sample) => number | undefined, of: typeof rateRatio) =>
      pairs.map(([s, r]) => fmt(of(med(cells[s], pick), med(cells[r], pick))));
    const cpu = (s: Sample) => s.cpuPerUnit;
    if (mode.key === 'pingpong') {
      row([
        mode.title, 'latency p50 / p99 (µs)',
        ...servers.map((s) => shown(cells[s], `${fmt(med(cells[s], (x) => x.p50))} / ${fmt(med(cells[s], (x) => x.p99))}`)),
        ...ratios((x) => x.p99, costRatio).map((r) => `${r} (p99)`),
        ...(hasGale ? [ffi, perIteration] : []),
      ]);
    } else {
      const what = mode.key === 'pipeline' ? 'msgs/s' : mode.key === 'bulk' ? 'MB/s' : 'connections/s';
      row([
        mode.title, what,
        ...servers.map((s) => shown(cells[s], fmt(med(cells[s], (x) => x.rate)))),
        ...ratios((x) => x.rate, rateRatio),
        ...(hasGale ? [mode.key === 'connect' ? `${ffi} per connection` : ffi, perIteration] : []),
      ]);
    }
    row([
      '', `server CPU µs per ${mode.unit}`,
      ...servers.map((s) => shown(cells[s], fmt(med(cells[s], cpu)))),
      ...ratios(cpu, costRatio),
      ...blanks,
    ]);
    // Where that CPU went: what every server pays in the kernel for the same
    // syscalls and wake-ups, and what its own code costs (ratios: user time).
    const user = (s: Sample) => s.userPerUnit;
    row([
      '', `  of which user / kernel µs`,
      ...servers.map((s) => shown(cells[s], `${fmt(med(cells[s], user))} / ${fmt(med(cells[s], (x) => x.kernelPerUnit))}`)),
      ...ratios(user, costRatio).map((r) => `${r} (user)`),
      ...blanks,
    ]);
  }
  // Memory, from the pipelined samples (every sample when pipelined did not
  // run): VmRSS just before the load (idle after start-up) and VmHWM after it
  // (the peak). A cost: reference ÷ subject.
  const memoryFrom = modes.some((m) => m.key === 'pipeline') ? 'pipeline' : null;
  const memory = Object.fromEntries(servers.map((s) => {
    const mine = samples.filter((x) => x.server === s && (memoryFrom === null || x.mode === memoryFrom));
    return [s, { samples: mine, ok: mine.filter((x) => x.rssIdleKiB !== undefined && x.rssPeakKiB !== undefined) }];
  }));
  const idle = (s: string) => mib(med(memory[s], (x) => x.rssIdleKiB));
  const peak = (s: string) => mib(med(memory[s], (x) => x.rssPeakKiB));
  row([
    'memory', `RSS MiB: idle / peak (${memoryFrom ? 'pipelined' : 'any load'})`,
    ...servers.map((s) => shown(memory[s], `${fmt(idle(s))} / ${fmt(peak(s))}`)),
    ...pairs.map(([s, r]) => `${fmt(costRatio(idle(s), idle(r)))} / ${fmt(costRatio(peak(s), peak(r)))}`),
    ...blanks,
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Notes under the table: sample counts, noisy samples, wide spreads, failures. */
function renderNotes(samples: Sample[], servers: string[], modes: ModeSpec[], rounds: number, extra: string[]): string[] {
  const notes: string[] = [...extra];
  const noisy = samples.filter((s) => s.noisy).length;
  notes.push(
    `Medians of ${rounds} round(s); each sample a fresh server${canPin ? ' on CPU 0, load generator on CPU 1' : ' (not pinned: taskset or a second CPU is missing)'}.` +
      ' "A vs B" ratios: above 1, A did better (rates: A ÷ B; latency, CPU and RSS: B ÷ A). Treat 0.9–1.1 as parity;' +
      ' ping-pong latency is mostly VM wake-up time, so compare its CPU per round trip.',
  );
  if (noisy) notes.push(`${noisy} of ${samples.length} samples started while the machine was still busy (other processes); read them with care.`);
  for (const server of servers) {
    for (const mode of modes) {
      const cell = cellOf(samples, server, mode.key);
      const cpus = cell.ok.map((s) => s.cpuPerUnit).filter((v): v is number => v !== undefined);
      const mid = median(cpus);
      if (mid && cpus.length > 1 && (Math.max(...cpus) - Math.min(...cpus)) / mid > 0.2) {
        notes.push(`${server} ${mode.key}: CPU per ${mode.unit} spread ${fmt(Math.min(...cpus))}–${fmt(Math.max(...cpus))} across rounds.`);
      }
      const failed = cell.samples.filter((s) => !s.ok);
      if (failed.length) notes.push(`${server} ${mode.key}: ${failed.length} failed, e.g. ${failed[0].error?.split('\n')[0]}`);
    }
  }
  return notes;
}

// ------------------------------------------------------------------ main

/**
 * The C epoll reference server, compiled on demand from c-epoll-echo.c
 * into the ignored scripts/bench/c-epoll-echo-bin; null when a C compiler
 * is missing (the column is then left out).
 */
function cEpollServer(leaveOut: (why: string) => void): string | null {
  const source = join(sourceDir, 'c-epoll-echo.c');
  const binary = join(sourceDir, 'c-epoll-echo-bin');
  if (isExecutable(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  const partial = `${binary}.${process.pid}.tmp`;
  const cc = spawnSync('cc', ['-O2', '-o', partial, source], { encoding: 'utf8' });
  if (cc.status !== 0) {
    leaveOut(`the C epoll server did not compile; leaving it out: ${(cc.stderr ?? String(cc.error)).split('\n')[0]}`);
    return null;
  }
  renameSync(partial, binary);
  return binary;
}

/**
 * The Python that runs uvloop's echo server when it can import uvloop
 * (BENCH_PYTHON, else Debian's /usr/bin/python3 with `python3-uvloop`);
 * otherwise null and one line saying why (the column is then left out: a
 * machine without uvloop still runs the rest of the benchmark).
 */
function uvloopPython(leaveOut: (why: string) => void): string | null {
  const python = process.env.BENCH_PYTHON || '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import uvloop'], { encoding: 'utf8' });
  if (probe.status === 0) return python;
  const why = probe.error ? String(probe.error.message) : (probe.stderr ?? '').trim().split('\n').pop();
  leaveOut(`uvloop left out: ${python} cannot import uvloop (${why}); on Debian/Ubuntu: apt-get install python3-uvloop`);
  return null;
}

/**
 * The servers BENCH_SERVERS names (gale on epoll and io_uring, node:net,
 * uvloop, the C server) and BENCH_EXTRA_SERVERS adds; instructions.ts runs
 * the same set under callgrind.
 */
export function serverSpecs(leaveOut: (why: string) => void): ServerSpec[] {
  const gale = (poller: string, streams = '2', read = 'bytes'): string[] =>
    ['env', `GALE_POLLER=${poller}`, `GALE_URING_STREAMS=${streams}`, `GALE_ECHO_READ=${read}`, process.execPath, join(here, 'echo-gale.js'), '{PORT}'];
  const known: Record<string, () => ServerSpec | null> = {
    gale: () => ({ name: 'gale', argv: gale('epoll') }),
    'gale-uring': () => ({ name: 'gale-uring', argv: gale('uring') }),
    'gale-uring-reads': () => ({ name: 'gale-uring-reads', argv: gale('uring', '1') }),
    'gale-uring-poll': () => ({ name: 'gale-uring-poll', argv: gale('uring', '0') }),
    // readInto into one Buffer per connection instead of a fresh Buffer per chunk (not in the default set)
    'gale-into': () => ({ name: 'gale-into', argv: gale('epoll', '2', 'into') }),
    'gale-uring-into': () => ({ name: 'gale-uring-into', argv: gale('uring', '2', 'into') }),
    node: () => ({ name: 'node:net', argv: [process.execPath, join(here, 'echo-node.js'), '{PORT}'] }),
    // echo-floor.ts: JavaScript over gale's FFI with none of gale's machinery (not in the default set)
    floor: () => ({ name: 'js-floor', argv: [process.execPath, join(here, 'echo-floor.js'), '{PORT}'] }),
    uvloop: () => {
      const python = uvloopPython(leaveOut);
      return python ? { name: 'uvloop', argv: [python, join(sourceDir, 'echo-uvloop.py'), '{PORT}'] } : null;
    },
    'c-epoll': () => {
      const binary = cEpollServer(leaveOut);
      return binary ? { name: 'c-epoll', argv: [binary, '{PORT}'] } : null;
    },
    // the C server reading into a fresh buffer per chunk, freed 1,024 reads later, as a collector would (not in the default set)
    'c-epoll-fresh': () => {
      const binary = cEpollServer(leaveOut);
      return binary ? { name: 'c-epoll-fresh', argv: ['env', 'ECHO_FRESH_BUFFERS=1024', binary, '{PORT}'] } : null;
    },
  };
  const chosen = (process.env.BENCH_SERVERS ?? 'gale,gale-uring,node,uvloop,c-epoll').split(',').map((s) => s.trim()).filter(Boolean);
  const specs: ServerSpec[] = [];
  for (const name of chosen) {
    const make = known[name];
    if (!make) throw new Error(`BENCH_SERVERS: unknown server ${JSON.stringify(name)} (known: ${Object.keys(known).join(', ')})`);
    const spec = make();
    if (spec) specs.push(spec);
  }
  for (const entry of (process.env.BENCH_EXTRA_SERVERS ?? '').split(';')) {
    const at = entry.indexOf('=');
    if (at <= 0) continue;
    const argv = entry.slice(at + 1).trim().split(/\s+/);
    if (!argv.some((a) => a.includes('{PORT}'))) throw new Error(`BENCH_EXTRA_SERVERS: ${entry} has no {PORT}`);
    specs.push({ name: entry.slice(0, at).trim(), argv });
  }
  return specs;
}

export interface EchoReport {
  table: string;
  notes: string[];
  samples: Sample[];
}

export async function main(): Promise<EchoReport> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const leftOut: string[] = [];
  const leaveOut = (why: string) => {
    log(`(${why})`);
    leftOut.push(why); // and under the table, so every report says what it lacks
  };
  const rounds = Math.round(envNumber('BENCH_ROUNDS', 3));
  const settings: RunSettings = {
    loadgen: findLoadgen(log),
    duration: envNumber('BENCH_DURATION', 2),
    warmup: envNumber('BENCH_WARMUP', 0.5),
    quietWait: envNumber('BENCH_QUIET_WAIT', 3),
  };
  const wanted = (process.env.BENCH_MODES ?? MODES.map((m) => m.key).join(',')).split(',').map((s) => s.trim());
  const modes = MODES.filter((m) => wanted.includes(m.key));
  if (modes.length === 0) throw new Error(`BENCH_MODES selects no mode (known: ${MODES.map((m) => m.key).join(', ')})`);
  const specs = serverSpecs(leaveOut);
  log(`echo bench: ${specs.map((s) => s.name).join(' vs ')}; ${rounds} round(s) × ${modes.length} mode(s); ` +
      `${settings.warmup} s warm-up + ${settings.duration} s per sample; load generator ${settings.loadgen}`);

  const loadBefore = loadavg();
  const samples: Sample[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? specs : [...specs].reverse();
    for (const mode of modes) {
      for (const spec of order) {
        const sample = await measure(spec, mode, round, settings);
        samples.push(sample);
        log(`  [${round}/${rounds}] ${mode.key.padEnd(8)} ${spec.name.padEnd(8)} ${describe(sample, mode)}`);
      }
    }
  }

  const names = specs.map((s) => s.name);
  const table = renderTable(samples, names, modes);
  const loadAfter = loadavg();
  const load = `Load average (1, 5, 15 min) ${loadBefore.map((x) => x.toFixed(2)).join(', ')} before the run, ${loadAfter.map((x) => x.toFixed(2)).join(', ')} after.`;
  const notes = renderNotes(samples, names, modes, rounds, [...leftOut, load]);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(samples, null, 1) + '\n');
  process.stdout.write(`\n## Echo benchmark\n\n${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
  return { table, notes, samples };
}

function describe(s: Sample, mode: ModeSpec): string {
  if (!s.ok) return `FAILED: ${s.error?.split('\n')[0]}`;
  const rate = mode.key === 'pingpong' ? `p50 ${fmt(s.p50)} µs p99 ${fmt(s.p99)} µs` : `${fmt(s.rate)} ${mode.key === 'bulk' ? 'MB/s' : mode.key === 'connect' ? 'conn/s' : 'msg/s'}`;
  const ffi = s.ffiPerMsg !== undefined ? `, ${fmt(s.ffiPerMsg)} FFI calls/msg, ${fmt(s.ffiPerIteration)} per iteration` : '';
  return `${rate}, ${fmt(s.cpuPerUnit)} CPU µs/${mode.unit}${ffi}${s.noisy ? ' (noisy)' : ''}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}
