/**
 * The FFI cost model: thread CPU per call of a few C functions through
 * gale's `bind()` (reactor/sys/ffi.ts), the figures docs/ffi.md quotes.
 *
 *   node dist/scripts/bench/ffi-calls.js
 *   FFI_BASELINE=/path/to/other/dist/reactor/sys/ffi.js node dist/scripts/bench/ffi-calls.js
 *
 * With FFI_BASELINE, the same calls go through another build's `bind()` too
 * (e.g. an older gale on another FFI library), interleaved with this one's
 * in the same process, so both see the same machine. Each figure is the
 * median over BENCH_ROUNDS (11) batches of BENCH_CALLS (20000) calls, timed
 * with the calling thread's CPU clock (CLOCK_THREAD_CPUTIME_ID): other
 * threads' work (GC helpers, other processes) is not counted.
 *
 * The calls: getpid (no arguments); read of an empty nonblocking pipe
 * (EAGAIN), the buffer as an address number and as a Buffer argument;
 * epoll_wait with timeout 0 on an empty set; a write of 11 bytes into a
 * pipe plus the read that drains it (two calls). The syscall's own cost,
 * the floor under all of these, is not measured here.
 */
import { allocRegion, scratch } from '../../reactor/sys/arena.js';
import { bind as galeBind, openLibrary as galeOpen, type CType, type NativeFunction } from '../../reactor/sys/ffi.js';
import { c, pipe } from '../../reactor/sys/libc.js';

type Bind = (library: string, name: string, ret: CType, params: CType[]) => NativeFunction;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const CALLS = Number(process.env.BENCH_CALLS ?? 20000);
const CLOCK_THREAD_CPUTIME_ID = 3;

const clockGettime = galeBind('libc', 'clock_gettime', 'i32', ['i32', 'ptr']);
const ts = scratch.addr;
function threadNs(): number {
  clockGettime(CLOCK_THREAD_CPUTIME_ID, ts);
  return Number(scratch.view.readBigInt64LE(0)) * 1e9 + Number(scratch.view.readBigInt64LE(8));
}

const region = allocRegion(4096);
const bytes = Buffer.alloc(4096);
const [emptyRead] = pipe(); // nonblocking, never written: read → EAGAIN
const [loopRead, loopWrite] = pipe();
const epfd = c.epollCreate1(0) as number;
region.view.write('hello world', 0, 'latin1');

/** The calls of one `bind()`, each as a function making one batch of `n` calls. */
function workloads(bind: Bind): Record<string, (n: number) => void> {
  const getpid = bind('libc', 'getpid', 'i32', []);
  const read = bind('libc', 'read', 'i64', ['i32', 'ptr', 'u64']);
  const readBuf = bind('libc', 'read', 'i64', ['i32', 'buf', 'u64']);
  const write = bind('libc', 'write', 'i64', ['i32', 'ptr', 'u64']);
  const epollWait = bind('libc', 'epoll_wait', 'i32', ['i32', 'ptr', 'i32', 'i32']);
  const at = region.addr;
  return {
    'getpid': (n) => { for (let i = 0; i < n; i++) getpid(); },
    'read → EAGAIN, address as number': (n) => { for (let i = 0; i < n; i++) read(emptyRead, at + 1024, 64); },
    'read → EAGAIN, Buffer argument': (n) => { for (let i = 0; i < n; i++) readBuf(emptyRead, bytes, 64); },
    'epoll_wait(timeout 0), empty set': (n) => { for (let i = 0; i < n; i++) epollWait(epfd, at + 2048, 8, 0); },
    'write 11 B + read it back (2 calls)': (n) => { for (let i = 0; i < n; i++) { write(loopWrite, at, 11); read(loopRead, at + 1024, 64); } },
  };
}

const sides: Array<[string, Record<string, (n: number) => void>]> = [['this build', workloads(galeBind)]];
if (process.env.FFI_BASELINE) {
  const other = await import(process.env.FFI_BASELINE) as { bind: Bind; openLibrary(library: string, path: string): void };
  other.openLibrary('libc', '');
  sides.push(['FFI_BASELINE', workloads(other.bind)]);
}
galeOpen('libc', '');

const samples = new Map<string, number[]>();
for (const [, calls] of sides) for (const run of Object.values(calls)) run(2000); // warm up (JIT)
for (let round = 0; round < ROUNDS; round++) {
  for (const [side, calls] of sides) {
    for (const [name, run] of Object.entries(calls)) {
      const start = threadNs();
      run(CALLS);
      const perCall = (threadNs() - start) / CALLS / 1000;
      const key = `${name}\t${side}`;
      if (!samples.has(key)) samples.set(key, []);
      samples.get(key)!.push(perCall);
    }
  }
}

const median = (values: number[]): number => { const s = [...values].sort((a, b) => a - b); return s[s.length >> 1]!; };
const names = Object.keys(sides[0]![1]);
process.stdout.write(`| call | ${sides.map(([side]) => side).join(' | ')} |\n|---|${sides.map(() => '---|').join('')}\n`);
for (const name of names) {
  process.stdout.write(`| ${name} | ${sides.map(([side]) => `${median(samples.get(`${name}\t${side}`)!).toFixed(2)} µs`).join(' | ')} |\n`);
}
process.stdout.write(`\nthread CPU per call, median of ${ROUNDS} interleaved batches of ${CALLS}; load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
