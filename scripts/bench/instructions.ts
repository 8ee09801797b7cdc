/**
 * Instructions per unit of work: the echo servers of echo.ts, each run
 * under callgrind, counted on their main thread.
 *
 *   node dist/scripts/bench/instructions.js          (after `npm run build`)
 *
 * Why: on a small shared VM a timing swings with whatever else runs, so an
 * A/B of two builds needs many interleaved rounds to see a 5 % change.
 * callgrind counts the instructions a process executes in user space,
 * which do not depend on load: the same build gives the same count per
 * round trip within about half a per cent. It does not count the kernel's
 * work (syscalls, wake-ups, TCP) — that is what echo.ts's "kernel" column
 * shows is the same for every server — so this is the measure of the
 * *user* share, the part gale's own code decides.
 *
 * Method, per server and mode: start the server under
 * `valgrind --tool=callgrind --separate-threads=yes`, run WARM units of
 * load from this process (not measured) so V8 has optimised the hot code,
 * zero the counters (`callgrind_control -z`), run a quarter of WARM again
 * (the pause lets the server's wait time out, which V8 deoptimises on
 * once), zero them again, run N units, dump
 * (`callgrind_control -d`), and divide the main thread's total by N. The
 * warm-up runs on the same connection as the measured units (ping-pong,
 * chunk): a closed connection makes V8 deoptimise the stream code once, and
 * a count taken while it re-optimises would be mostly baseline code.
 * The table also gives all threads' total, which adds V8's background
 * compiler (still working after the warm-up, and under valgrind more slowly
 * than natively): it varies from run to run, the main thread does not.
 *
 * Modes (COUNT_MODES, default all):
 * - `pingpong`: 1 connection, one 64-byte message at a time; per round trip.
 * - `pipeline`: 50 connections, each with 16 64-byte messages in flight
 *   (echo.ts's pipelined load); per message.
 * - `chunk`: 1 connection, one 64 KiB message at a time; per MB (10^6 B).
 * - `connect`: connect, send 64 bytes, read the echo, close; per connection.
 *
 * Servers: as echo.ts (BENCH_SERVERS, BENCH_EXTRA_SERVERS), with `floor`
 * (echo-floor.ts: JavaScript over gale's FFI and epoll with none of gale's
 * machinery) in the default set. Other settings:
 * COUNT_UNITS (scales every mode's N: 1 = 5000 round trips, 100,000
 * pipelined messages, 1000 chunks,
 * 1000 connections), COUNT_WARMUP (scales every mode's warm-up the same
 * way: 1 = 20,000 round trips, 200,000 messages, 2000 chunks, 3000
 * connections; an A/B of two builds wants 3 for ping-pong, so that
 * TurboFan has settled, and 2 for connect), COUNT_PROFILE=SERVER (after the table, the
 * functions that cost most in that server, with gale's JIT
 * code named from `node --perf-basic-prof`'s map), for every mode.
 *
 * Not part of `npm run bench`: it needs valgrind and takes several minutes
 * (every server runs 20-50× slower under it). When valgrind is missing it
 * says so and exits 0.
 */
import { serverSpecs, type ServerSpec } from './echo.js';
import { canConnect, costRatio, envNumber, freePort, hasCommand, sleep } from './util.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type ModeKey = 'pingpong' | 'pipeline' | 'chunk' | 'connect';

interface CountMode {
  key: ModeKey;
  title: string;
  size: number;
  warmup: number;
  units: number;
  /** What one count is divided by: round trips, MB, connections. */
  unit: string;
  /** Units of work per measured unit of load (a 64 KiB chunk is 0.065536 MB). */
  perUnit: number;
  /** Connections kept open, each with `depth` messages in flight (pipelined); 1 otherwise. */
  conns: number;
  depth: number;
}

function countModes(scale: number, warmScale: number): CountMode[] {
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  const modes: CountMode[] = [
    { key: 'pingpong', title: 'ping-pong (64 B)', size: 64, warmup: 20_000, units: n(5000), unit: 'round trip', perUnit: 1, conns: 1, depth: 1 },
    { key: 'pipeline', title: 'pipelined (50 conns × 16 × 64 B)', size: 64, warmup: 200_000, units: n(100_000), unit: 'msg', perUnit: 1, conns: 50, depth: 16 },
    { key: 'chunk', title: 'chunk ping-pong (64 KiB)', size: 65536, warmup: 2000, units: n(1000), unit: 'MB', perUnit: 65536 / 1e6, conns: 1, depth: 1 },
    { key: 'connect', title: 'connect, echo 64 B, close', size: 64, warmup: 3000, units: n(1000), unit: 'connection', perUnit: 1, conns: 1, depth: 1 },
  ];
  for (const mode of modes) mode.warmup = Math.max(1, Math.round(mode.warmup * warmScale));
  return modes;
}

// ------------------------------------------------------------------ the load (this process)

/** One connection's echo reader: resolves when `bytes` more have come back. */
class EchoClient {
  private received = 0;
  private wanted = 0;
  private arrived: (() => void) | null = null;
  private failure: Error | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      if (this.arrived) this.settle(); // echoed() checks whether it is enough
    });
    socket.on('error', (error) => { this.failure = error; this.settle(); });
    socket.on('close', () => { this.failure ??= new Error('the server closed the connection'); this.settle(); });
  }

  static connect(port: number): Promise<EchoClient> {
    return new Promise((done, fail) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.off('error', fail); done(new EchoClient(socket)); });
      socket.once('error', fail);
    });
  }

  /** Sends `message` and waits for its echo. */
  async roundTrip(message: Buffer): Promise<void> {
    this.send(message);
    await this.echoed(this.sent);
  }

  /** Bytes sent so far. */
  get sent(): number {
    return this.wanted;
  }

  send(message: Buffer): void {
    this.wanted += message.length;
    this.socket.write(message);
  }

  /** Resolves once `bytes` bytes in all have come back. */
  async echoed(bytes: number): Promise<void> {
    while (this.received < bytes) {
      if (this.failure) throw this.failure;
      await new Promise<void>((done) => (this.arrived = done));
    }
  }

  close(): Promise<void> {
    return new Promise((done) => { this.socket.once('close', () => done()); this.socket.end(); });
  }

  private settle(): void {
    const arrived = this.arrived;
    this.arrived = null;
    arrived?.();
  }
}

/**
 * Runs `count` units of `mode`'s load on `clients`, the connections kept
 * open between the warm-up and the measured window (none in connect mode:
 * each unit opens its own).
 */
async function runLoad(mode: CountMode, port: number, clients: EchoClient[], count: number): Promise<void> {
  const message = Buffer.alloc(mode.size, 0x78);
  if (mode.key === 'connect') {
    for (let i = 0; i < count; i++) {
      const fresh = await EchoClient.connect(port);
      await fresh.roundTrip(message);
      await fresh.close();
    }
    return;
  }
  // Every connection keeps `depth` messages in flight until `count` have been echoed in all.
  let unsent = count;
  await Promise.all(clients.map(async (client) => {
    let inFlight = 0;
    while (unsent > 0 || inFlight > 0) {
      for (; inFlight < mode.depth && unsent > 0; inFlight++, unsent--) client.send(message);
      await client.echoed(client.sent - (inFlight - 1) * mode.size);
      inFlight--;
    }
  }));
}

// ------------------------------------------------------------------ the server under callgrind

/** `env A=1 prog args` becomes `env A=1 valgrind … prog args`: valgrind must wrap the program, not env. */
function underCallgrind(argv: string[], outFile: string, profile: boolean): string[] {
  let at = 0;
  if (argv[0] === 'env') for (at = 1; at < argv.length && argv[at]!.includes('='); at++);
  const program = argv.slice(at);
  const isNode = /(^|\/)node$/.test(program[0]!) || program[0] === process.execPath;
  const valgrind = ['valgrind', '--tool=callgrind', `--callgrind-out-file=${outFile}`, '--separate-threads=yes',
    // JIT code is written and rewritten at run time: callgrind must notice.
    '--smc-check=all-non-file'];
  const nodeFlags = isNode && profile ? ['--perf-basic-prof'] : [];
  return [...argv.slice(0, at), ...valgrind, program[0]!, ...nodeFlags, ...program.slice(1)];
}

function callgrindControl(flag: '-z' | '-d', pid: number): void {
  const result = spawnSync('callgrind_control', [flag, String(pid)], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`callgrind_control ${flag} ${pid} failed: ${result.stderr || result.error}`);
}

async function waitForPort(port: number, child: ChildProcess, name: string, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 120_000; // node under valgrind takes ~10 s to start
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited before listening:\n${stderr()}`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen within 120 s under valgrind:\n${stderr()}`);
    await sleep(200);
  }
}

/** The `totals:` (or `summary:`) line of one callgrind dump file. */
function totalOf(file: string): number {
  const match = /^(?:totals|summary): (\d+)/m.exec(readFileSync(file, 'utf8'));
  return match ? Number(match[1]) : 0;
}

interface Count {
  main: number;
  all: number;
  /** The main thread's dump, for a profile. */
  mainFile: string;
  pid: number;
}

async function countOne(spec: ServerSpec, mode: CountMode, dir: string, profile: boolean): Promise<Count> {
  const port = await freePort();
  const outFile = join(dir, `${spec.name.replace(/[^\w-]/g, '_')}.${mode.key}.out`);
  const argv = underCallgrind(spec.argv.map((a) => a.replaceAll('{PORT}', String(port))), outFile, profile);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  try {
    await waitForPort(port, child, spec.name, () => stderr.slice(-2000));
    const clients = mode.key === 'connect' ? [] : await Promise.all(Array.from({ length: mode.conns }, () => EchoClient.connect(port)));
    await runLoad(mode, port, clients, mode.warmup);
    // The pause callgrind_control makes lets the server's wait time out, a
    // branch its optimised loop code had not seen: V8 deoptimises it there
    // and re-optimises it a little later. A second, shorter warm-up after a
    // first pause takes that out of the measured window (without it the
    // same build's count moved by ~1,000-1,400 instructions per round trip).
    callgrindControl('-z', child.pid!);
    await runLoad(mode, port, clients, Math.ceil(mode.warmup / 4));
    callgrindControl('-z', child.pid!);
    await runLoad(mode, port, clients, mode.units);
    callgrindControl('-d', child.pid!);
    await Promise.all(clients.map((client) => client.close()));
  } finally {
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(30_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  // The dump callgrind_control asked for: OUT.1-01 (main thread), OUT.1-02, …
  const dumps = readdirSync(dir).filter((f) => f.startsWith(`${outFile.split('/').pop()}.1-`)).map((f) => join(dir, f)).sort();
  if (dumps.length === 0) throw new Error(`${spec.name}: callgrind wrote no dump for the measured window`);
  const scale = mode.units * mode.perUnit;
  return { main: totalOf(dumps[0]!) / scale, all: dumps.reduce((sum, f) => sum + totalOf(f), 0) / scale, mainFile: dumps[0]!, pid: child.pid! };
}

// ------------------------------------------------------------------ a profile of one dump

/** JIT code's names from `node --perf-basic-prof`'s /tmp/perf-PID.map: [start, size, name], sorted. */
function perfMap(pid: number): Array<[number, number, string]> {
  try {
    return readFileSync(`/tmp/perf-${pid}.map`, 'utf8').split('\n').filter(Boolean).map((line) => {
      const [start, size, ...name] = line.split(' ');
      return [parseInt(start!, 16), parseInt(size!, 16), name.join(' ')] as [number, number, string];
    }).sort((a, b) => a[0] - b[0]);
  } catch {
    return [];
  }
}

function nameOf(raw: string, map: Array<[number, number, string]>): string {
  const hex = /^0x([0-9a-f]+)$/.exec(raw);
  if (!hex) return raw;
  const address = parseInt(hex[1]!, 16);
  let lo = 0;
  let hi = map.length - 1;
  while (lo <= hi) { // the last entry starting at or below the address
    const mid = (lo + hi) >> 1;
    if (map[mid]![0] <= address) lo = mid + 1; else hi = mid - 1;
  }
  const entry = map[hi];
  return entry && address < entry[0] + entry[1] ? entry[2] : raw;
}

/** One function's self cost and the object file its code is in. */
interface FunctionCost {
  name: string;
  object: string;
  cost: number;
}

/**
 * Self cost per function of one callgrind dump (the format's `fn=(id) name`
 * blocks, in the object of the last `ob=`; cost lines after a `calls=` line
 * belong to the callee and are skipped), JIT addresses named from the perf
 * map.
 */
function selfCosts(file: string, map: Array<[number, number, string]>): FunctionCost[] {
  const names = new Map<string, string>();
  const objects = new Map<string, string>();
  const costs = new Map<string, FunctionCost>();
  let current: FunctionCost | null = null;
  let object = '';
  let skipNext = false;
  const compressed = (table: Map<string, string>, line: string): string => {
    const match = /^\w+=\((\d+)\)(?: (.*))?$/.exec(line);
    if (!match) return line.slice(line.indexOf('=') + 1);
    if (match[2] !== undefined) table.set(match[1]!, match[2]);
    return table.get(match[1]!) ?? '';
  };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('ob=')) {
      object = compressed(objects, line);
    } else if (line.startsWith('cob=')) {
      compressed(objects, line);
    } else if (line.startsWith('fn=')) {
      const name = nameOf(compressed(names, line), map);
      const key = `${object}\u0000${name}`;
      current = costs.get(key) ?? { name, object, cost: 0 };
      costs.set(key, current);
    } else if (line.startsWith('cfn=')) {
      compressed(names, line);
    } else if (line.startsWith('calls=')) {
      skipNext = true;
    } else if (/^[\d+*-]/.test(line)) {
      if (skipNext) { skipNext = false; continue; }
      const cost = Number(line.split(' ')[1] ?? 0);
      if (cost && current) current.cost += cost;
    }
  }
  return [...costs.values()].sort((a, b) => b.cost - a.cost);
}

/**
 * What kind of work a function is, for the profile's summary: the FFI's
 * crossing, Promise machinery, generic property lookups (loads V8 could not
 * inline, and `Builtins_GetProperty`, which on these servers is the `then`
 * lookup of resolving a Promise with an object), the garbage collector,
 * JavaScript (the server's and gale's, or Node's own), libc, the rest of V8.
 */
export function categoryOf({ name, object }: { name: string; object: string }): string {
  if (name.startsWith('JS:')) return name.includes('file://') ? 'JavaScript: the server and gale' : 'JavaScript: Node\'s own (node:*)';
  if (/koffi/.test(object) || /^napi_|v8impl|HandleApiCall|FunctionCallback|CEntry|^v8::(Value|Number|ArrayBufferView|Object|Integer|BigInt)::|JSTypedArray::GetBuffer|AdaptorWithBuiltinExitFrame/.test(name)) {
    return 'FFI crossing (koffi, N-API, V8\'s API calls)';
  }
  if (/^Builtins_.*(Promise|Microtask|AsyncFunction|Await|Thenable)/.test(name)) return 'Promises, await, microtasks';
  if (/^Builtins_(Load|Store|KeyedLoad|KeyedStore|Get|Set|Define)\w*(IC|Property|Handler)|^Builtins_LoadIC|^Builtins_StoreIC/.test(name)) return 'generic property lookups (ICs V8 could not inline; GetProperty: a resolved object\'s `then`)';
  if (/Scaveng|Heap::|Visitor|IterateObjectCache|Sweep|MarkCompact|Marking|Evacuat|MemoryChunk|MemoryAllocator|RecordWrite|ObjectCache/.test(name)) return 'garbage collection, write barriers';
  if (/libc\.so|libstdc\+\+|libm\.so|ld-linux/.test(object)) return 'libc (syscall stubs, malloc, memcpy)';
  if (/^0x[0-9a-f]+$/.test(name)) return 'unnamed code (JIT code not in the map)';
  return 'the rest of V8 and Node (builtins, runtime)';
}

function renderProfile(count: Count, mode: CountMode, top = 30): string {
  const costs = selfCosts(count.mainFile, perfMap(count.pid));
  const total = costs.reduce((sum, c) => sum + c.cost, 0);
  const scale = mode.units * mode.perUnit;
  const perUnit = (c: number) => (c / scale).toFixed(0);
  const share = (c: number) => `${(100 * c / total).toFixed(1)} %`;
  const byCategory = new Map<string, number>();
  for (const c of costs) byCategory.set(categoryOf(c), (byCategory.get(categoryOf(c)) ?? 0) + c.cost);
  const categories = [...byCategory].sort((a, b) => b[1] - a[1]).map(([what, c]) => `| ${perUnit(c)} | ${share(c)} | ${what} |`);
  const rows = costs.slice(0, top).map((c) => `| ${perUnit(c.cost)} | ${share(c.cost)} | \`${c.name.replace(/\|/g, '\\|').slice(0, 140)}\` |`);
  return [
    `| instructions per ${mode.unit} | share | kind of work |`, '|---|---|---|', ...categories, '',
    `| instructions per ${mode.unit} | share | function (self cost; \`*\` TurboFan, \`^\` baseline) |`, '|---|---|---|', ...rows,
  ].join('\n');
}

// ------------------------------------------------------------------ main

/** Ratio columns: gale against each of these that ran (js-floor: how much of gale's count is the floor). */
const REFERENCES = ['js-floor', 'node:net', 'uvloop', 'c-epoll'];
const fmt = (x: number) => (Number.isFinite(x) ? (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2)) : 'n/a');

export async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  for (const tool of ['valgrind', 'callgrind_control']) {
    if (!hasCommand(tool)) {
      process.stdout.write(`\n## Instructions per unit\n\n(left out: ${tool} is not installed; on Debian: apt-get install valgrind)\n`);
      return;
    }
  }
  const leftOut: string[] = [];
  process.env.BENCH_SERVERS ??= 'gale,gale-uring,floor,node,uvloop,c-epoll';
  const specs = serverSpecs((why) => { log(`(${why})`); leftOut.push(why); });
  const wanted = (process.env.COUNT_MODES ?? 'pingpong,pipeline,chunk,connect').split(',').map((s) => s.trim());
  const modes = countModes(envNumber('COUNT_UNITS', 1), envNumber('COUNT_WARMUP', 1)).filter((m) => wanted.includes(m.key));
  if (modes.length === 0) throw new Error('COUNT_MODES selects no mode (known: pingpong, pipeline, chunk, connect)');
  const profiled = process.env.COUNT_PROFILE;
  const dir = mkdtempSync(join(tmpdir(), 'gale-callgrind-'));
  const counts = new Map<string, Count>();
  const key = (server: string, mode: ModeKey) => `${server}\u0000${mode}`;
  const profiles: string[] = [];
  try {
    for (const mode of modes) {
      for (const spec of specs) {
        const profile = spec.name === profiled;
        const count = await countOne(spec, mode, dir, profile);
        counts.set(key(spec.name, mode.key), count);
        log(`  ${mode.key.padEnd(8)} ${spec.name.padEnd(12)} ${fmt(count.main)} instructions per ${mode.unit} (main thread), ${fmt(count.all)} all threads`);
        if (profile) profiles.push(`### Where ${spec.name}'s instructions go: ${mode.title} (main thread)\n\n${renderProfile(count, mode)}`);
        rmSync(`/tmp/perf-${count.pid}.map`, { force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const servers = specs.map((s) => s.name);
  const references = REFERENCES.filter((r) => servers.includes(r));
  const subjects = servers.filter((s) => !references.includes(s));
  const pairs = subjects.flatMap((s) => references.map((r) => [s, r] as const));
  const header = ['mode', ...servers.map((s) => `${s}`), ...pairs.map(([s, r]) => `${s} vs ${r}`)];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const rows = modes.map((mode) => {
    const main = (s: string) => counts.get(key(s, mode.key))?.main ?? NaN;
    const all = (s: string) => counts.get(key(s, mode.key))?.all ?? NaN;
    return line([`${mode.title}, per ${mode.unit}`, ...servers.map((s) => `${fmt(main(s))} (${fmt(all(s))})`),
      ...pairs.map(([s, r]) => fmt(costRatio(main(s), main(r))))]);
  });
  const notes = [
    'Instructions executed in user space by the server\'s main thread per unit of work (in brackets: all its threads, which adds V8\'s background compiler); callgrind, after a warm-up, load-independent. Ratios: reference ÷ gale on the main thread (above 1: gale executed fewer).',
    ...leftOut,
  ];
  process.stdout.write(`\n## Instructions per unit\n\n${[line(header), line(header.map(() => '---')), ...rows].join('\n')}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
  if (profiles.length) process.stdout.write(`\n${profiles.join('\n\n')}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}
