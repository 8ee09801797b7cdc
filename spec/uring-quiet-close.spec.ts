/**
 * A stream's close through the ring posts no CQE when it succeeds (where
 * the kernel can skip CQEs): the enter that submits the CLOSE does not
 * return for it, so a short connection costs the loop no iteration of its
 * own for the close (docs/uring.md, "Connections on the ring").
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { URingPoller } from '../reactor/uring/poller.js';
import { IOLoop } from '../reactor/ioloop.js';
import { IOStream } from '../streams/iostream.js';
import { fdLeakCheck, openFds } from './helpers.js';
import { tcpSockets } from './stream-helpers.js';

const checkFds = fdLeakCheck();

test('a stream that closes at end of file: its socket id is free at once and its CLOSE brings no CQE', async () => {
  const loop = new IOLoop({ poller: 'uring', makeCurrent: false });
  const poller = (loop as unknown as { poller: URingPoller }).poller;
  const [mine, peer] = tcpSockets();
  const stream = new IOStream(mine, { ioLoop: loop });
  try {
    const fd = stream.fileno();
    const ids = poller.socketCount();
    // What every poll harvested, in trace mode's words.
    const traces: string[] = [];
    poller.traceOn();
    const poll = poller.poll.bind(poller);
    poller.poll = (timeoutMs: number): number => {
      const n = poll(timeoutMs);
      traces.push(poller.traceLastPoll()!);
      return n;
    };
    peer.close();
    // The stream reads the end of file and closes itself; the loop's stop submits the CLOSE.
    const data = await loop.runSync(() => stream.readUntilClose()!, 10);
    assert.is(data.length, 0);
    assert.ok(stream.closed());
    assert.not.ok(openFds().has(fd), 'the CLOSE ran');
    if (!poller.ring.canSkipCqe) return; // there every CLOSE posts its CQE
    assert.is(poller.socketCount(), ids - 1, "the socket's id is free without waiting for a CQE");
    poller.poll(0); // a CQE of the CLOSE would be in the CQ by now
    assert.ok(traces.length >= 2, traces.join('\n'));
    assert.not.ok(traces.some((trace) => /CLOSE/.test(trace)), traces.join('\n'));
  } finally {
    stream.close();
    peer.close();
    loop.close();
  }
  checkFds();
});

test.run();
