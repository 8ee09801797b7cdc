/**
 * The multi-process benchmark: what `TCPServer.start(2)` buys over
 * `start(1)`, and how it compares with Node's `cluster` running the same
 * number of workers, as ratios.
 *
 *   npm run bench                                  (all benchmarks)
 *   node dist/scripts/bench/multiproc.js           (this one alone, after a build)
 *
 * Servers (each a fresh process tree per sample):
 * - gale start(1) / start(2): multiproc-gale.ts, an echo TCPServer started
 *   as `server.bind(port); server.start(n)`;
 * - cluster 1 / 2: multiproc-node.ts, node:cluster with n node:net echo
 *   workers (Node's default round-robin scheduling: the primary accepts and
 *   passes each connection to a worker);
 * - cluster-shared 2: the same with NODE_CLUSTER_SCHED_POLICY=none, where
 *   the workers accept from one shared socket, as gale's do.
 *
 * Modes: `connect` (connections/s: 8 at a time, connect, echo 64 B, close)
 * and `pipeline` (msgs/s: 50 connections × 16 in flight × 64 B), with the
 * load generator of the echo benchmark (loadgen.c). Nothing is pinned: the
 * servers' workers and the load generator share the machine's cores, which
 * is what a 2-core box running a 2-worker server looks like. On a shared
 * machine the absolute rates move from run to run; read the ratios, and
 * mind that the load generator itself takes a share of the same cores.
 *
 * Environment: BENCH_ROUNDS (3), BENCH_DURATION (2 s), BENCH_WARMUP (1 s:
 * covers the workers' start-up), BENCH_MP_MODES (connect,pipeline),
 * BENCH_MP_WORKERS (2).
 */
import { envNumber, freePort, median, rateRatio, sleep } from './util.js';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findLoadgen } from './echo.js';

const here = dirname(fileURLToPath(import.meta.url));

interface ModeSpec { key: 'connect' | 'pipeline'; conns: number; size: number; depth: number; what: string }
const MODES: ModeSpec[] = [
  { key: 'connect', conns: 8, size: 64, depth: 1, what: 'connections/s' },
  { key: 'pipeline', conns: 50, size: 64, depth: 16, what: 'msgs/s' },
];

interface ServerSpec { name: string; argv: (port: number) => string[]; env?: Record<string, string> }

function servers(workers: number): ServerSpec[] {
  const gale = (n: number) => (port: number) => [process.execPath, join(here, 'multiproc-gale.js'), String(port), String(n)];
  const node = (n: number) => (port: number) => [process.execPath, join(here, 'multiproc-node.js'), String(port), String(n)];
  return [
    { name: 'gale start(1)', argv: gale(1) },
    { name: `gale start(${workers})`, argv: gale(workers) },
    { name: 'cluster 1', argv: node(1) },
    { name: `cluster ${workers}`, argv: node(workers) },
    { name: `cluster-shared ${workers}`, argv: node(workers), env: { NODE_CLUSTER_SCHED_POLICY: 'none' } },
  ];
}

/** One echo round trip: true once a worker accepts and answers (not just the kernel's backlog). */
function echoes(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => { socket.destroy(); done(false); }, 1000);
    socket.once('connect', () => socket.write('ping'));
    socket.once('data', () => { clearTimeout(timer); socket.destroy(); done(true); });
    socket.once('error', () => { clearTimeout(timer); done(false); });
  });
}

async function startServer(spec: ServerSpec, port: number): Promise<ChildProcess> {
  const argv = spec.argv(port);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...spec.env } });
  const deadline = Date.now() + 20_000;
  while (!(await echoes(port))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${spec.name} exited before serving`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${spec.name} did not serve within 20 s`);
    }
    await sleep(50);
  }
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

function runLoadgen(argv: string[], timeoutMs: number): Promise<Record<string, unknown> | null> {
  return new Promise((done) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      try {
        done(JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, unknown>);
      } catch {
        done(null);
      }
    });
  });
}

async function measure(spec: ServerSpec, mode: ModeSpec, loadgen: string, duration: number, warmup: number): Promise<number | null> {
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = await startServer(spec, port);
  } catch (error) {
    process.stderr.write(`  ${spec.name}: ${(error as Error).message}\n`);
    return null;
  }
  try {
    const result = await runLoadgen([loadgen, '127.0.0.1', String(port), mode.key, String(mode.conns), String(mode.size),
      String(mode.depth), String(duration), String(warmup)], (duration + warmup + 40) * 1000);
    if (!result?.ok) return null;
    return Number(mode.key === 'connect' ? result.conns_per_s : result.msgs_per_s);
  } finally {
    await stopServer(child);
  }
}


const fmt = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'failed');
// Every column compares rates, so every ratio is rateRatio: above 1, the first did better (util.ts).
const ratio = (a: number, b: number) => { const r = rateRatio(a, b); return Number.isFinite(r) ? r.toFixed(2) : 'n/a'; };

/** Runs the benchmark and prints its markdown table on stdout. */
export async function main(): Promise<string> {
  const rounds = Math.round(envNumber('BENCH_ROUNDS', 3));
  const duration = envNumber('BENCH_DURATION', 2);
  const warmup = envNumber('BENCH_WARMUP', 1);
  const workers = Math.round(envNumber('BENCH_MP_WORKERS', 2));
  const wanted = (process.env.BENCH_MP_MODES ?? 'connect,pipeline').split(',').map((s) => s.trim());
  const modes = MODES.filter((m) => wanted.includes(m.key));
  const specs = servers(workers);
  const loadgen = findLoadgen((line) => process.stderr.write(`${line}\n`));
  process.stderr.write(`multiproc bench: ${specs.map((s) => s.name).join(', ')}; ${rounds} round(s); ${warmup} s warm-up + ${duration} s per sample\n`);

  const loadAtStart = loadavg()[0]!;
  const rates = new Map<string, number[]>();
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? specs : [...specs].reverse();
    for (const mode of modes) {
      for (const spec of order) {
        const rate = await measure(spec, mode, loadgen, duration, warmup);
        const key = `${spec.name}|${mode.key}`;
        if (rate !== null) rates.set(key, [...(rates.get(key) ?? []), rate]);
        process.stderr.write(`  [${round}/${rounds}] ${mode.key.padEnd(8)} ${spec.name.padEnd(18)} ${rate === null ? 'failed' : fmt(rate)}\n`);
      }
    }
  }

  const cell = (name: string, mode: ModeSpec) => median(rates.get(`${name}|${mode.key}`) ?? []);
  const [g1, gN, c1, cN, cS] = specs.map((s) => s.name) as [string, string, string, string, string];
  const header = ['mode', ...specs.map((s) => s.name), `gale ${workers}/1`, `cluster ${workers}/1`, `gale ${workers} / cluster ${workers}`,
    `gale ${workers} / cluster-shared ${workers}`];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const mode of modes) {
    lines.push(`| ${mode.key} (${mode.what}) | ${specs.map((s) => fmt(cell(s.name, mode))).join(' | ')} | `
      + `${ratio(cell(gN, mode), cell(g1, mode))} | ${ratio(cell(cN, mode), cell(c1, mode))} | `
      + `${ratio(cell(gN, mode), cell(cN, mode))} | ${ratio(cell(gN, mode), cell(cS, mode))} |`);
  }
  // How busy the machine was anyway: on a shared box, the honest caveat.
  const note = `\nLoad average at the start and the end of the run: ${loadAtStart.toFixed(1)} and ${loadavg()[0]!.toFixed(1)} `
    + `on ${availableParallelism()} CPUs.\n`;
  const table = lines.join('\n') + '\n' + note;
  process.stdout.write(`\n### Multi-process echo (medians of ${rounds} rounds; nothing pinned; load generator on the same cores)\n\n${table}\n`);
  return table;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}
