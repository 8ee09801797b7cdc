/**
 * What an idle server holds in native memory: regions from
 * reactor/sys/arena.ts, counted in bytes. The idle resident set of a gale
 * server is mostly Node's, koffi's and the module graph's
 * (docs/benchmarks-history.md, "Memory"); these counts keep gale's own share small,
 * so that a buffer pool or slot table made eager by mistake shows up here
 * rather than as a few MiB in a benchmark nobody reads.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { liveRegionBytes, liveRegions } from '../reactor/sys/arena.js';
import { sleep } from '../reactor/gen.js';
import { bindSockets } from '../net/netutil.js';
import { TCPServer } from '../net/tcpserver.js';
import type { IOStream } from '../streams/iostream.js';
import { fdLeakCheck, inLoop } from './helpers.js';

/**
 * One arena chunk: what a single read buffer costs. An idle loop with a
 * listener held 12 KiB on epoll (its event array), 4.5 KiB on io_uring (the
 * ring's parameters and accept slots; the ring's own mmaps and the
 * provided-buffer slab are not arena regions) and 0.5 KiB on poll when this
 * was written.
 */
const IDLE_BUDGET = 64 * 1024;

class Idle extends TCPServer {
  override async handleStream(_stream: IOStream): Promise<void> {}
}

test('an idle loop with a listening server holds little native memory and frees it on close', async () => {
  const leaks = fdLeakCheck();
  const regionsBefore = liveRegions();
  const bytesBefore = liveRegionBytes();
  let held = -1;
  let poller = '';
  await inLoop(async (loop) => {
    poller = loop.pollerName;
    const server = new Idle();
    server.addSockets(bindSockets(0, '127.0.0.1'));
    for (let i = 0; i < 3; i++) await sleep(0.002); // a few idle iterations, with polls
    held = liveRegionBytes() - bytesBefore;
    server.stop();
  });
  assert.ok(held >= 0 && held <= IDLE_BUDGET, `an idle ${poller} loop and listener hold ${held} bytes of native regions (budget ${IDLE_BUDGET})`);
  assert.is(liveRegions(), regionsBefore, 'every region the loop and server took is freed');
  assert.is(liveRegionBytes(), bytesBefore);
  leaks();
});

/**
 * What a connection waiting in `await stream.readBytes(...)` keeps alive of
 * what that read made: the Future (a native Promise), its resolving
 * functions and their context, the pending-read record, and the `await`'s
 * reaction, closures and context. Under a load all of it is young at every
 * scavenge, and those bytes are what makes V8 double the young generation
 * again and again (docs/memory.md, "Under load (seventh session)"), where
 * node:net keeps nothing young between reads. A count, not bytes (object
 * sizes are V8's): one object more per pending read is ~10 % faster growth.
 */
const WAITING_READ_OBJECTS = 8;

test('a connection waiting for its next read keeps few objects of that read alive', () => {
  const child = spawnSync(process.execPath, [fileURLToPath(new URL('./fixtures/read-wait-objects.js', import.meta.url))],
    { encoding: 'utf8', timeout: 60_000 });
  assert.is(child.status, 0, child.stderr);
  const report = JSON.parse(child.stdout.trim()) as { poller: string; handlers: number; totals: number[]; bytes: number[]; kinds: Record<string, number> };
  assert.is(report.handlers, 8, `${report.poller}: ${report.handlers} waiting handlers found in the heap snapshot`);
  const [first] = report.totals;
  assert.ok(report.totals.every((n) => n === first), `${report.poller}: handlers differ: ${report.totals.join(' ')}`);
  assert.ok(first! > 0, `${report.poller}: nothing found: the measurement saw no Future`);
  assert.ok(first! <= WAITING_READ_OBJECTS,
    `${report.poller}: a waiting connection keeps ${first} objects (${report.bytes[0]} bytes) of its read alive (budget ${WAITING_READ_OBJECTS}): ${JSON.stringify(report.kinds)}`);
});

test.run();
