/**
 * The wait plan's rule 9 (reactor/wait-plan.ts): a blocking wait that only
 * internal completions ended — ping-pong's reply SEND, which completes
 * inside the enter that submits it — waits again inside the same poll, so
 * a round trip costs one loop iteration, not two, and still two enters.
 * Counted, not timed: loop iterations, enters and FFI calls per round trip,
 * with the client in another process so that nothing but the server's
 * own completions reaches this loop's ring.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { URingPoller } from '../reactor/uring/poller.js';
import { planRingWait, ringWaitAgainMs, type RingWaitPlan } from '../reactor/wait-plan.js';
import { bindSockets } from '../net/netutil.js';
import { TCPServer } from '../net/tcpserver.js';
import { StreamClosedError } from '../streams/errors.js';
import type { IOStream } from '../streams/iostream.js';
import { fdLeakCheck } from './helpers.js';

const ROUND_TRIPS = 200;
const WARM_UP = 20;

/**
 * The client: connects, then sends 64 bytes and waits for their echo
 * ROUND_TRIPS + WARM_UP times, one at a time, and closes. A plain Node
 * process: its sockets live in its own epoll, never in the server's ring.
 */
const CLIENT = `
const net = require('node:net');
const [port, total] = process.argv.slice(1).map(Number);
const message = Buffer.alloc(64, 0x61);
const socket = net.connect(port, '127.0.0.1', () => { socket.setNoDelay(true); socket.write(message); });
let got = 0, done = 0;
socket.on('data', (data) => {
  got += data.length;
  if (got < 64) return;
  got -= 64;
  if (++done === total) socket.end();
  else socket.write(message);
});
socket.on('end', () => process.exit(0));
socket.on('error', () => process.exit(2));
setTimeout(() => process.exit(3), 20000).unref();
`;

/** An echo server counting, from the WARM_UP-th message to the last, what the loop did. */
class CountingEcho extends TCPServer {
  readonly ended = new Future<void>();
  counted: { iterations: number; enters: number; ffi: number; waitedAgain: number } | null = null;
  private marks: { iterations: number; enters: number; ffi: number; waitedAgain: number } | null = null;

  constructor(private readonly loop: IOLoop, private readonly poller: URingPoller) {
    super();
  }

  private snapshot(): { iterations: number; enters: number; ffi: number; waitedAgain: number } {
    return {
      iterations: this.loop.stats().iterations, enters: this.poller.ringStats().enters,
      ffi: ffiCounter.calls, waitedAgain: this.poller.waitedAgain,
    };
  }

  override async handleStream(stream: IOStream): Promise<void> {
    let echoed = 0;
    try {
      for (;;) {
        const data = await stream.readBytes(64)!;
        await stream.write(data)!;
        echoed++;
        if (echoed === WARM_UP) this.marks = this.snapshot();
        if (echoed === WARM_UP + ROUND_TRIPS) {
          const now = this.snapshot();
          const marks = this.marks!;
          this.counted = {
            iterations: now.iterations - marks.iterations, enters: now.enters - marks.enters,
            ffi: now.ffi - marks.ffi, waitedAgain: now.waitedAgain - marks.waitedAgain,
          };
        }
      }
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
    }
    this.ended.setResult();
  }
}

test('ping-pong on a ring: one loop iteration and two enters per round trip (the reply SEND does not end the wait)', async () => {
  const checkFds = fdLeakCheck();
  // No Node interop: the loop's waits are its own, and the count is exact.
  const loop = new IOLoop({ poller: 'uring', nodeInterop: false, makeCurrent: false });
  const poller = (loop as unknown as { poller: URingPoller }).poller;
  if (!(poller instanceof URingPoller)) {
    loop.close();
    return; // the ring was refused: nothing of this rule to count
  }
  const server = new CountingEcho(loop, poller);
  server.ioLoop = loop;
  const listeners = bindSockets(0, '127.0.0.1');
  const port = (listeners[0]!.getsockname() as [string, number])[1];
  try {
    server.addSockets(listeners);
    const child = spawn(process.execPath, ['-e', CLIENT, String(port), String(WARM_UP + ROUND_TRIPS)], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    await loop.runSync(() => server.ended, 30);
    const [code] = await exited;
    assert.is(code, 0, 'the client got every echo');
    const counted = server.counted;
    assert.ok(counted !== null, 'every round trip was echoed');
    // Each round trip: the enter that submits the reply (its SEND's CQE
    // alone ends that wait), the enter that waits for the next request
    // (rule 9: inside the same poll), then one iteration's handlers.
    assert.ok(counted.iterations <= ROUND_TRIPS + 4, `${counted.iterations} loop iterations for ${ROUND_TRIPS} round trips`);
    assert.ok(counted.waitedAgain >= ROUND_TRIPS - 4, `${counted.waitedAgain} waits made again for ${ROUND_TRIPS} round trips`);
    assert.ok(counted.enters >= 2 * ROUND_TRIPS - 4 && counted.enters <= 2 * ROUND_TRIPS + 4, `${counted.enters} enters`);
    assert.ok(counted.ffi <= counted.enters + 4, `${counted.ffi} FFI calls, ${counted.enters} of them enters`);
  } finally {
    server.stop();
    loop.close();
  }
  checkFds();
});

test('rule 9 decides: wait again only after a blocking enter that internal CQEs alone ended, for what is left', () => {
  const plan: RingWaitPlan = { skip: false, minComplete: 0, timeoutMs: null };
  const facts = { endpointReady: false, armedNow: true, completed: false, cqesPosted: false, skippedLast: false, backlog: false };
  planRingWait(plan, 100, facts, 128); // a blocking wait of 100 ms (rule 7)
  assert.is(plan.minComplete, 1);
  assert.is(ringWaitAgainMs(plan, 100, 0, 1, false, 30), 70, 'internal CQEs only: the 70 ms left');
  assert.is(ringWaitAgainMs(plan, 100, 0, 1, false, 29.5), 71, 'rounded up: never a zero wait while time is left');
  assert.is(ringWaitAgainMs(plan, 100, 1, 1, false, 30), null, 'something reported: back to the loop');
  assert.is(ringWaitAgainMs(plan, 100, 0, 0, false, 100), null, 'nothing completed: the timeout ran out');
  assert.is(ringWaitAgainMs(plan, 100, 0, 1, true, 30), null, 'a signal: back to the loop (its handler runs in Node)');
  assert.is(ringWaitAgainMs(plan, 100, 0, 1, false, 100), null, 'no time left by the clock');
  planRingWait(plan, -1, facts, 128);
  assert.is(ringWaitAgainMs(plan, -1, 0, 3, false, 5000), -1, 'an idle wait waits again for ever');
  planRingWait(plan, 0, facts, 128); // a batch (rule 8): it never blocked
  assert.is(ringWaitAgainMs(plan, 0, 0, 1, false, 0), null);
  planRingWait(plan, 100, { ...facts, endpointReady: true }, 128); // rule 5: no wait
  assert.is(ringWaitAgainMs(plan, 100, 0, 1, false, 0), null);
});

test.run();
