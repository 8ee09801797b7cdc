/**
 * What an idle server holds in native memory: regions from
 * reactor/sys/arena.ts, counted in bytes. The idle resident set of a gale
 * server is mostly Node's, koffi's and the module graph's
 * (docs/benchmarks-history.md, "Memory"); these counts keep gale's own share small,
 * so that a buffer pool or slot table made eager by mistake shows up here
 * rather than as a few MiB in a benchmark nobody reads.
 */
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

test.run();
