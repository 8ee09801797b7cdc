/**
 * The resolver and connect benchmark: gale's resolvers and TCPClient side by
 * side with Node's `dns.lookup` and `net.connect`, in one run, as ratios.
 *
 *   node dist/scripts/bench/resolvers.js      (after `npm run build`)
 *
 * 1. Lookups per second, 32 in flight, for a literal and for `localhost`
 *    (answered from /etc/hosts, so no network is involved), on each gale
 *    resolver and on `dns.lookup` (libuv's thread pool). What it shows: the
 *    literal fast path (no thread hop), and the cost of the worker round
 *    trip (post, waker, receiveMessageOnPort) against libuv's.
 * 2. Connect + close latency, one connection at a time, to the same
 *    node:net server in a child process (so neither client serves it):
 *    `TCPClient.connect` then `stream.close()`, against `net.connect` then
 *    `destroy()`, for a literal and for `localhost`.
 *
 * Rates are medians of 3 short runs; the whole benchmark takes about 15 s.
 * Speed is evidence on a shared machine, never a pass/fail criterion.
 * Environment: BENCH_RESOLVER_SECONDS (0.4 per run), BENCH_CONNECTS (400).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lookup as dnsLookup } from 'node:dns';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { IOLoop } from '../../reactor/ioloop.js';
import { defaultExecutor, type ThreadPoolExecutor } from '../../reactor/executor-pool.js';
import {
  BlockingResolver, ExecutorResolver, OverrideResolver, ThreadedResolver, type Resolver,
} from '../../resolvers/resolver.js';
import { TCPClient } from '../../net/tcpclient.js';
import { costRatio, envNumber, median, percentile, rateRatio } from './util.js';

const CONCURRENCY = 32;
const RUNS = 3;

/** `promise`, or a rejection after `seconds`: a stuck phase fails the benchmark instead of hanging it. */
async function bounded<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(value >= 10 ? 1 : 2);
}

// ------------------------------------------------------------ lookups

/** Lookups/s with CONCURRENCY in flight for `seconds`, on a gale loop. */
async function galeLookupRate(loop: IOLoop, resolver: Resolver, host: string, seconds: number): Promise<number> {
  return loop.runSync(async () => {
    let done = 0;
    const started = performance.now();
    const end = started + seconds * 1000;
    const lane = async (): Promise<void> => {
      while (performance.now() < end) {
        await resolver.resolve(host, 80);
        done++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    return done / ((performance.now() - started) / 1000);
  }, seconds + 30);
}

/** The same with Node's dns.lookup (all addresses, as a resolver returns). */
async function nodeLookupRate(host: string, seconds: number): Promise<number> {
  let done = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const once = () => new Promise<void>((resolve, reject) => {
    dnsLookup(host, { all: true }, (error) => (error ? reject(error) : resolve()));
  });
  const lane = async (): Promise<void> => {
    while (performance.now() < end) {
      await once();
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  return done / ((performance.now() - started) / 1000);
}

interface LookupRow { resolver: string; host: string; rate: number; node: number }

async function benchLookups(seconds: number, log: (line: string) => void): Promise<LookupRow[]> {
  const loop = new IOLoop({ makeCurrent: false });
  const resolvers: Array<[string, Resolver]> = [
    ['BlockingResolver', new BlockingResolver()],
    ['ThreadedResolver', new ThreadedResolver()],
    ['ExecutorResolver (default executor)', new ExecutorResolver()],
    ['OverrideResolver → ThreadedResolver', new OverrideResolver({ resolver: new ThreadedResolver(), mapping: { 'bench.test': 'localhost' } })],
  ];
  const rows: LookupRow[] = [];
  try {
    for (const host of ['127.0.0.1', 'localhost']) {
      // A name starts the pools' workers, each loading its modules: keep that out of the runs.
      await nodeLookupRate(host, 0.1);
      for (const [, resolver] of resolvers) await galeLookupRate(loop, resolver, host, host === 'localhost' ? 0.5 : 0.05);
      // Rounds interleave every contender, so a drift in machine load hits them alike.
      const rates = new Map<string, number[]>([['node', []], ...resolvers.map(([name]) => [name, []] as [string, number[]])]);
      for (let run = 0; run < RUNS; run++) {
        rates.get('node')!.push(await bounded(nodeLookupRate(host, seconds), seconds + 30, 'dns.lookup'));
        for (const [name, resolver] of resolvers) rates.get(name)!.push(await galeLookupRate(loop, resolver, host, seconds));
      }
      const node = median(rates.get('node')!);
      for (const [name] of resolvers) {
        const rate = median(rates.get(name)!);
        rows.push({ resolver: name, host, rate, node });
        log(`  ${name} ${host}: ${fmt(rate)} lookups/s (node ${fmt(node)})`);
      }
    }
  } finally {
    for (const [, resolver] of resolvers) resolver.close();
    loop.close();
  }
  return rows;
}

// ------------------------------------------------------------ connect + close

/** A node:net server in a child process that accepts and drops connections; resolves with its port. */
function startServer(): Promise<{ child: ChildProcess; port: number }> {
  const source = `
    const net = require('node:net');
    const server = net.createServer((s) => { s.on('error', () => {}); s.resume(); });
    server.listen(0, '127.0.0.1', 1024, () => process.stdout.write(server.address().port + '\\n'));
    process.on('SIGTERM', () => process.exit(0));`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    child.stdout!.once('data', (data) => resolve({ child, port: Number(String(data).trim()) }));
  });
}

/** Latencies (µs) of `count` sequential TCPClient connect + close. */
async function galeConnects(client: TCPClient, host: string, port: number, count: number): Promise<number[]> {
  const loop = new IOLoop({ makeCurrent: false });
  try {
    return await loop.runSync(async () => {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const started = performance.now();
        const stream = await client.connect(host, port);
        stream.close();
        times.push((performance.now() - started) * 1000);
      }
      return times;
    }, 60);
  } finally {
    loop.close();
  }
}

/** Latencies (µs) of `count` sequential net.connect + destroy. */
async function nodeConnects(host: string, port: number, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host, port }, () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
    });
    times.push((performance.now() - started) * 1000);
  }
  return times;
}

interface ConnectRow { host: string; gale: number[]; node: number[] }

async function benchConnects(count: number, log: (line: string) => void): Promise<ConnectRow[]> {
  const { child, port } = await bounded(startServer(), 10, 'starting the node:net server');
  const client = new TCPClient();
  const rows: ConnectRow[] = [];
  try {
    for (const host of ['127.0.0.1', 'localhost']) {
      await galeConnects(client, host, port, 20); // warm-up, both sides
      await bounded(nodeConnects(host, port, 20), 30, 'net.connect warm-up');
      // Interleaved halves, so a drift in machine load hits both alike.
      const half = Math.ceil(count / 2);
      const gale = [...await galeConnects(client, host, port, half)];
      const node = [...await bounded(nodeConnects(host, port, half), 60, 'net.connect')];
      node.push(...await bounded(nodeConnects(host, port, half), 60, 'net.connect'));
      gale.push(...await galeConnects(client, host, port, half));
      rows.push({ host, gale, node });
      log(`  connect ${host}: TCPClient p50 ${fmt(median(gale))} µs, net.connect p50 ${fmt(median(node))} µs`);
    }
  } finally {
    client.close();
    child.kill('SIGTERM');
  }
  return rows;
}

// ------------------------------------------------------------ report

/** What `main()` measured, and its markdown. */
export interface ResolverBenchReport {
  markdown: string;
  lookups: Array<{ resolver: string; host: string; rate: number; node: number }>;
  connects: Array<{ host: string; galeP50: number; galeP99: number; nodeP50: number; nodeP99: number }>;
}

/** Runs the benchmark, prints its markdown tables on stdout, and returns them. */
export async function main(): Promise<ResolverBenchReport> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const seconds = envNumber('BENCH_RESOLVER_SECONDS', 0.4);
  const count = Math.round(envNumber('BENCH_CONNECTS', 400));
  log(`resolver bench: lookups ${RUNS} × ${seconds} s per cell, ${CONCURRENCY} in flight; ${count} sequential connects per client and host`);
  const started = performance.now();
  const lookups = await benchLookups(seconds, log);
  const connectRows = await benchConnects(count, log);
  // The benchmark's pools are done; leave no worker behind for whoever runs next.
  await bounded((ThreadedResolver.createThreadpool(1) as ThreadPoolExecutor).shutdown().then(() => {}), 20, 'stopping the lookup pool');
  await bounded(defaultExecutor().shutdown().then(() => {}), 20, 'stopping the default executor');

  const lines: string[] = [];
  lines.push('## Resolver and connect benchmark', '');
  lines.push(`Lookups per second, ${CONCURRENCY} in flight (median of ${RUNS} runs of ${seconds} s); node = \`dns.lookup(host, { all: true })\`.`, '');
  lines.push('| resolver | host | gale lookups/s | node lookups/s | ratio |');
  lines.push('|---|---|---:|---:|---:|');
  for (const row of lookups) {
    lines.push(`| ${row.resolver} | \`${row.host}\` | ${fmt(row.rate)} | ${fmt(row.node)} | ${fmt(rateRatio(row.rate, row.node))} |`);
  }
  lines.push('', `Connect + close, one at a time, ${count} per cell, to one node:net server in another process.`, '');
  lines.push('| host | TCPClient p50 µs | net.connect p50 µs | ratio of p50 | TCPClient p99 µs | net.connect p99 µs |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  const connects = connectRows.map((row) => ({
    host: row.host,
    galeP50: median(row.gale), galeP99: percentile(row.gale, 99),
    nodeP50: median(row.node), nodeP99: percentile(row.node, 99),
  }));
  for (const row of connects) {
    lines.push(`| \`${row.host}\` | ${fmt(row.galeP50)} | ${fmt(row.nodeP50)} | ${fmt(costRatio(row.galeP50, row.nodeP50))} | ${fmt(row.galeP99)} | ${fmt(row.nodeP99)} |`);
  }
  lines.push('', `(${((performance.now() - started) / 1000).toFixed(1)} s. Ratios above 1: gale did better (lookups: gale ÷ node; connect times: node ÷ gale).)`);
  const markdown = lines.join('\n');
  process.stdout.write(`\n${markdown}\n`);
  return { markdown, lookups, connects };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}
