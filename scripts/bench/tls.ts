/**
 * The TLS benchmark: gale's TLS echo server (TCPServer + SSLIOStream over
 * Node's TLS engine) against a node:tls echo server, in one run, as ratios.
 *
 *   npm run bench                       (after the other benchmarks)
 *   node dist/scripts/bench/tls.js      (this one alone, after a build)
 *
 * Modes, each against a fresh server process (pinned to CPU 0 with taskset
 * when there are two CPUs; the load generator, a node:tls client in its own
 * process, to CPU 1), the servers interleaved within each round, the median
 * over rounds:
 * - bulk: one connection, 64 MiB sent in 64 KiB writes while the echo
 *   comes back, repeated for the mode's duration; MB/s of echoed data;
 * - pipelined: 10 connections × 16 messages of 64 B in flight; messages/s;
 * - handshakes: 8 connections at a time, each handshake + 64 B echo +
 *   close; connections/s. Every handshake is a fresh (full) one;
 * - resume: the same, each client resuming with the session ticket of its
 *   previous connection (less crypto: the per-connection overhead shows).
 * Besides the rate, the server's CPU time (all threads, from /proc) per unit
 * of work: on a shared machine the steadiest figure. Each server first
 * serves the same load for BENCH_TLS_WARMUP seconds, unmeasured: a fresh
 * process spends its first seconds compiling its hot JavaScript (gale has
 * more of it), and the figures are for a server that is up and running.
 * In the handshake modes the warm-up also lasts until the server has done
 * BENCH_TLS_WARMUP_HANDSHAKES handshakes (the same count for every
 * server): V8 goes on compiling per-connection code for the first 4,000-
 * 5,000 handshakes (docs/tls.md, "Handshake cost"), and a warm-up in
 * seconds gives the slower server fewer of them.
 *
 * Also run in-process (`role` argv): `serve gale|node` and `load MODE PORT`.
 * Environment: BENCH_ROUNDS (3), BENCH_DURATION (2 s per timed mode),
 * BENCH_TLS_WARMUP (1 s), BENCH_TLS_WARMUP_HANDSHAKES (0: none),
 * BENCH_TLS_MODES (bulk,pipeline,handshake,resume),
 * BENCH_TLS_SERVERS ("gale,node"; an entry `name=DIST` adds another build's
 * gale server, DIST its dist/ directory, for an A/B run: e.g.
 * `gale,main=/work/main/dist,node`). Ratios are against node:tls.
 */
import { canPin, costRatio, envNumber, median, pinned, rateRatio } from './util.js';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tls from 'node:tls';

const self = fileURLToPath(import.meta.url);

type Mode = 'bulk' | 'pipeline' | 'handshake' | 'resume';
const MODES: Array<{ key: Mode; title: string; unit: string }> = [
  { key: 'bulk', title: 'bulk echo (1 conn, 64 KiB writes)', unit: 'MB' },
  { key: 'pipeline', title: 'pipelined (10 conns × 16 in flight × 64 B)', unit: 'msg' },
  { key: 'handshake', title: 'handshakes (8 at a time; handshake, echo 64 B, close)', unit: 'handshake' },
  { key: 'resume', title: 'resumed handshakes (as above, TLS 1.3 session tickets)', unit: 'handshake' },
];

/**
 * CPU seconds a process has used, all its threads (V8's compiler and GC
 * threads count): the sum of its threads' run time from
 * /proc/PID/task/TID/schedstat, in ns (utime+stime in /proc/PID/stat moves
 * in 10 ms ticks, a step of several percent in a 2 s sample). Falls back to
 * /proc/PID/stat where schedstat is missing.
 */
function cpuSeconds(pid: number): number | null {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    if (Number.isFinite(ns) && ns > 0) return ns / 1e9;
  } catch {
    // no schedstat (or the process is gone): the coarse figure below
  }
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ the servers

async function serve(kind: string, cert: string, key: string): Promise<void> {
  // SIGTERM ends the process normally (so `node --cpu-prof` writes its profile).
  if (!process.env.BENCH_TLS_STATS) process.on('SIGTERM', () => process.exit(0));
  if (kind === 'node') {
    const server = tls.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (socket) => {
      socket.on('error', () => socket.destroy());
      socket.pipe(socket);
    });
    server.listen(0, '127.0.0.1', () => console.log(`PORT ${(server.address() as { port: number }).port}`));
    return;
  }
  const { IOLoop } = await import('../../reactor/ioloop.js');
  const { TCPServer } = await import('../../net/tcpserver.js');
  const { bindSockets } = await import('../../net/netutil.js');
  const { StreamClosedError } = await import('../../streams/errors.js');
  type Stream = import('../../streams/iostream.js').IOStream;
  class Echo extends TCPServer {
    override async handleStream(stream: Stream): Promise<void> {
      try {
        for (;;) stream.write((await stream.readBytes(65536, { partial: true }))!);
      } catch (error) {
        if (!(error instanceof StreamClosedError)) throw error;
      }
    }
  }
  const server = new Echo({ sslOptions: { certfile: cert, keyfile: key } });
  const sockets = bindSockets(0, '127.0.0.1');
  server.addSockets(sockets);
  console.log(`PORT ${(sockets[0]!.getsockname() as [string, number])[1]}`);
  const loop = IOLoop.current()!;
  if (process.env.BENCH_TLS_STATS) process.on('SIGTERM', () => { process.stderr.write(`${JSON.stringify(loop.stats())}\n`); process.exit(0); });
  await loop.start();
}

// ------------------------------------------------------------------ the load generator (node:tls)

function connect(port: number, ca: Buffer, session?: Buffer): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, session }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Runs `mode`'s load for `seconds`; in the handshake modes, also until
 * `minHandshakes` handshakes are done (at most 5 minutes: a bound, not a
 * figure).
 */
async function load(mode: Mode, port: number, ca: Buffer, seconds: number, minHandshakes = 0): Promise<{ units: number; elapsed: number }> {
  if (mode === 'bulk') {
    // 64 MiB echoed at a time, again until `seconds` have passed: one 64 MiB
    // pass takes about 0.3 s here, too short for the server's CPU time to be
    // read steadily.
    const pass = 64 * 1024 * 1024;
    const socket = await connect(port, ca);
    const chunk = Buffer.alloc(65536, 0x61);
    let got = 0;
    let wanted = 0;
    let arrived: (() => void) | null = null;
    socket.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= wanted && arrived) arrived();
    });
    const deadline = Date.now() + seconds * 1000;
    const start = process.hrtime.bigint();
    do {
      wanted += pass;
      const received = new Promise<void>((resolve) => { arrived = resolve; });
      for (let sent = 0; sent < pass; sent += chunk.length) {
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      }
      await received;
    } while (Date.now() < deadline);
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    socket.destroy();
    return { units: wanted / 1e6, elapsed };
  }
  if (mode === 'pipeline') {
    const sockets = await Promise.all(Array.from({ length: 10 }, () => connect(port, ca)));
    const message = Buffer.alloc(64, 0x62);
    let done = 0;
    let stop = false;
    const start = process.hrtime.bigint();
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => {
      let pendingBytes = 0;
      socket.on('data', (d: Buffer) => {
        pendingBytes += d.length;
        while (pendingBytes >= 64) {
          pendingBytes -= 64;
          done++;
          if (!stop) socket.write(message);
        }
        if (stop && pendingBytes === 0) resolve();
      });
      for (let i = 0; i < 16; i++) socket.write(message);
      setTimeout(() => { stop = true; }, seconds * 1000);
      setTimeout(resolve, seconds * 1000 + 2000); // bounded drain
    })));
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    for (const socket of sockets) socket.destroy();
    return { units: done, elapsed };
  }
  // handshakes, 8 at a time (resume: each with its previous connection's ticket)
  let done = 0;
  let resumed = 0;
  const deadline = Date.now() + seconds * 1000;
  const bound = Date.now() + 300_000;
  const more = (): boolean => Date.now() < bound && (Date.now() < deadline || done < minHandshakes);
  const start = process.hrtime.bigint();
  const message = Buffer.alloc(64, 0x63);
  await Promise.all(Array.from({ length: 8 }, async () => {
    let session: Buffer | undefined;
    while (more()) {
      const socket = await connect(port, ca, mode === 'resume' ? session : undefined);
      if (socket.isSessionReused()) resumed++;
      if (mode === 'resume') socket.on('session', (s: Buffer) => { session = s; });
      await new Promise<void>((resolve) => {
        let got = 0;
        socket.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= 64) resolve();
        });
        socket.write(message);
      });
      socket.destroy();
      done++;
    }
  }));
  if (mode === 'resume' && resumed < done / 2) throw new Error(`only ${resumed} of ${done} handshakes resumed a session`);
  return { units: done, elapsed: Number(process.hrtime.bigint() - start) / 1e9 };
}

// ------------------------------------------------------------------ the driver

interface Sample { rate: number; cpuPerUnit: number | null }

/** The server kinds to run: `gale`, `node`, or `name=DIST` (another build's gale server). */
function serverKinds(): Map<string, { script: string; kind: string }> {
  const kinds = new Map<string, { script: string; kind: string }>();
  for (const entry of (process.env.BENCH_TLS_SERVERS ?? 'gale,node').split(',').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq < 0) kinds.set(entry, { script: self, kind: entry });
    else kinds.set(entry.slice(0, eq), { script: `${entry.slice(eq + 1)}/scripts/bench/tls.js`, kind: 'gale' });
  }
  if (!kinds.has('node')) throw new Error('BENCH_TLS_SERVERS must include node (the ratios are against it)');
  return kinds;
}

function startServer(name: string, cert: string, key: string): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const { script, kind } = serverKinds().get(name)!;
  const argv = pinned(0, [process.execPath, script, 'serve', kind, cert, key]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = (): Promise<void> => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { void stop(); reject(new Error(`${kind} server did not start`)); }, 15_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const match = /PORT (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ port: Number(match[1]), pid: child.pid!, stop });
      }
    });
  });
}

function runLoad(mode: Mode, port: number, ca: string, seconds: number, minUnits = 0): Promise<{ units: number; elapsed: number }> {
  const argv = pinned(1, [process.execPath, self, 'load', mode, String(port), ca, String(seconds), String(minUnits)]);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`load ${mode} timed out`)); }, (seconds + 330) * 1000);
    child.stdout!.on('data', (d) => { out += d; });
    child.on('exit', (code) => {
      clearTimeout(timer);
      const match = /RESULT (\S+) (\S+)/.exec(out);
      if (code !== 0 || !match) reject(new Error(`load ${mode} failed (exit ${code}): ${out}`));
      else resolve({ units: Number(match[1]), elapsed: Number(match[2]) });
    });
  });
}

async function measure(kind: string, mode: Mode, certs: { cert: string; key: string; ca: string }, seconds: number,
  warmup: { seconds: number; handshakes: number }): Promise<Sample> {
  const server = await startServer(kind, certs.cert, certs.key);
  try {
    const handshakes = mode === 'handshake' || mode === 'resume' ? warmup.handshakes : 0;
    await runLoad(mode, server.port, certs.ca, warmup.seconds, handshakes);
    const before = cpuSeconds(server.pid);
    const { units, elapsed } = await runLoad(mode, server.port, certs.ca, seconds);
    const after = cpuSeconds(server.pid);
    const cpu = before !== null && after !== null ? after - before : null;
    return { rate: units / elapsed, cpuPerUnit: cpu === null || units === 0 ? null : (cpu * 1e6) / units };
  } finally {
    await server.stop();
  }
}

function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–';
}

/** Runs the benchmark and prints its markdown table. */
export async function main(): Promise<void> {
  const rounds = envNumber('BENCH_ROUNDS', 3);
  const seconds = envNumber('BENCH_DURATION', 2);
  const warmup = { seconds: envNumber('BENCH_TLS_WARMUP', 1), handshakes: envNumber('BENCH_TLS_WARMUP_HANDSHAKES', 0) };
  const wanted = (process.env.BENCH_TLS_MODES ?? 'bulk,pipeline,handshake,resume').split(',');
  const { testCerts } = await import('../../spec/tls-certs.js');
  const made = testCerts();
  const certs = { cert: made.server.cert, key: made.server.key, ca: made.ca.cert };
  const modes = MODES.filter((m) => wanted.includes(m.key));
  const samples = new Map<string, Sample[]>();
  const kinds = [...serverKinds().keys()];
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      const order = round % 2 ? [...kinds].reverse() : kinds;
      for (const kind of order) {
        process.stderr.write(`tls bench: round ${round + 1}/${rounds} ${mode.key} ${kind}\n`);
        const sample = await measure(kind, mode.key, certs, seconds, warmup);
        const key = `${mode.key}/${kind}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
      }
    }
  }
  const lines = [
    `### TLS echo: gale vs node:tls (median of ${rounds} rounds, ${warmup.seconds} s warm-up each`
      + `${warmup.handshakes ? `, and at least ${warmup.handshakes} handshakes in the handshake modes` : ''}`
      + `${canPin ? ', server on CPU 0, load on CPU 1' : ''})`,
    '',
    '| mode | server | rate | ÷ node:tls rate | server CPU µs per unit | node:tls ÷ this CPU |',
    '|---|---|---|---|---|---|',
  ];
  for (const mode of modes) {
    const node = samples.get(`${mode.key}/node`) ?? [];
    const n = median(node.map((s) => s.rate));
    const nc = median(node.map((s) => s.cpuPerUnit).filter((v): v is number => v !== null));
    const unit = mode.key === 'bulk' ? 'MB/s' : mode.key === 'pipeline' ? 'msg/s' : 'conn/s';
    const digits = mode.key === 'bulk' ? 1 : 0;
    for (const kind of kinds) {
      const runs = samples.get(`${mode.key}/${kind}`) ?? [];
      const g = median(runs.map((s) => s.rate));
      const gc = median(runs.map((s) => s.cpuPerUnit).filter((v): v is number => v !== null));
      const name = kind === 'node' ? 'node:tls' : kind;
      lines.push(`| ${mode.title} | ${name} | ${fmt(g, digits)} ${unit} | **${fmt(rateRatio(g, n), 2)}×** | `
        + `${fmt(gc, 1)} / ${mode.unit} | ${fmt(costRatio(gc, nc), 2)}× |`);
    }
  }
  console.log(lines.join('\n'));
}

const [role, ...args] = process.argv.slice(2);
if (role === 'serve') {
  await serve(args[0]!, args[1]!, args[2]!);
} else if (role === 'load') {
  const result = await load(args[0] as Mode, Number(args[1]), readFileSync(args[2]!), Number(args[3]), Number(args[4] ?? 0));
  console.log(`RESULT ${result.units} ${result.elapsed}`);
  process.exit(0);
} else if (process.argv[1] && existsSync(process.argv[1]) && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}
