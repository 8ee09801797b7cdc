/**
 * A blocking wait on a uring loop that completions end with nothing to
 * report (the SEND of a request the stream counted written at once) is
 * entered again inside the same poll (reactor/uring/poller.ts, `poll`),
 * as a readiness poller would simply not have woken: a round trip against
 * a peer in another process costs one loop iteration, not two; and the
 * re-entered wait still ends for the loop's own timer.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { IOLoop } from '../reactor/ioloop.js';
import { URingPoller } from '../reactor/uring/poller.js';
import { AF_INET, SOCK_STREAM } from '../reactor/sys/constants.js';
import { Socket } from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';
import { fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();

/** A node:net echo server in a child process (so its replies arrive while our loop waits); its port. */
async function echoPeer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', `
    const server = require('node:net').createServer((c) => { c.setNoDelay(true); c.pipe(c); });
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
  `], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout!, 'data') as [Buffer];
  return {
    port: Number(line.toString().trim()),
    stop: async () => {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

function uringLoop(): { loop: IOLoop; poller: URingPoller } {
  const loop = new IOLoop({ poller: 'uring', makeCurrent: false, nodeInterop: false, uring: { streams: 'ring' } });
  const poller = (loop as unknown as { poller: URingPoller }).poller;
  assert.ok(poller instanceof URingPoller);
  return { loop, poller };
}

test('a round trip with a peer in another process: one loop iteration, the SEND\'s CQE re-enters the wait', async () => {
  const peer = await echoPeer();
  const { loop, poller } = uringLoop();
  const stream = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  try {
    let iterations = 0;
    let rewaits = 0;
    await loop.runSync(async () => {
      await stream.connect(['127.0.0.1', peer.port]);
      stream.setNodelay(true);
      await stream.write('warm-up\n');
      await stream.readUntil('\n');
      const it0 = loop.stats().iterations;
      const re0 = poller.rewaits;
      for (let i = 0; i < 50; i++) {
        await stream.write(`line ${i}\n`);
        assert.is((await stream.readUntil('\n')!).toString(), `line ${i}\n`);
      }
      iterations = loop.stats().iterations - it0;
      rewaits = poller.rewaits - re0;
    }, 30);
    // Without the re-entered wait each round trip took two iterations: one
    // ended by the request's SEND completing, one by the reply.
    assert.ok(iterations <= 50 + 5, `${iterations} iterations for 50 round trips`);
    assert.ok(rewaits >= 1, `${rewaits} waits re-entered`);
  } finally {
    stream.close();
    loop.close();
    await peer.stop();
  }
});

test('a re-entered wait still ends for the loop\'s timer', async () => {
  const peer = await echoPeer();
  const { loop, poller } = uringLoop();
  const stream = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  try {
    let fired = false;
    const rewaits = await loop.runSync(async () => {
      await stream.connect(['127.0.0.1', peer.port]);
      const re0 = poller.rewaits;
      // The write's SEND completes and ends the blocking wait with nothing
      // to report; the reply is never read (READ is not watched), so only
      // the timer can end the re-entered wait.
      await new Promise<void>((resolve) => {
        loop.callLater(0.05, () => {
          fired = true;
          resolve();
        });
        void stream.write('ping\n');
      });
      return poller.rewaits - re0;
    }, 30);
    assert.ok(fired, 'the timer fired');
    assert.ok(rewaits >= 1, `${rewaits} waits re-entered`);
  } finally {
    stream.close();
    loop.close();
    await peer.stop();
  }
});

test('no fd left open', () => {
  checkFds();
});

test.run();
