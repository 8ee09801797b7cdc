/**
 * Quiet SENDs (reactor/uring/send-queue.ts): a chain of one SEND goes out
 * with IOSQE_CQE_SKIP_SUCCESS and MSG_DONTWAIT, so a reply that the socket
 * takes at once posts no CQE (its completion no longer ends the blocking
 * wait: one enter per ping-pong round trip), and one it cannot take at
 * once fails with a CQE and is sent again as an ordinary SEND. The poller
 * concludes a quiet SEND once the SQ head has passed it and the CQ has
 * been read to the end.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chunk } from '../reactor/sys/arena.js';
import { readToChunk, writeBytes } from '../reactor/sys/libc.js';
import { errno as E } from '../reactor/sys/errors.js';
import { fdLeakCheck } from './helpers.js';
import { pattern, withAttachedSocket } from './uring-socket.js';

const checkFds = fdLeakCheck();

/** Everything `fd` (a plain nonblocking peer) has to read now. */
function drainFd(fd: number): Buffer {
  const parts: Buffer[] = [];
  for (let n = readToChunk(fd, 65536); n > 0; n = readToChunk(fd, 65536)) parts.push(Buffer.from(chunk.view.subarray(0, n)));
  return Buffer.concat(parts);
}

test('a reply the socket takes at once posts no CQE: one enter per round trip, and the send slot is free after it', () => {
  withAttachedSocket({}, (poller, socket, b) => {
    poller.traceOn();
    const rounds = 100;
    // The peer's first request; then each poll submits the reply to the
    // last one and waits for the next, which the peer (this thread) has
    // already written: the reply's SEND must not be what ends the wait.
    writeBytes(b, Buffer.from('request 0\n'));
    const enters0 = poller.ringStats().enters;
    const quiet0 = poller.completionStats.quietSends;
    for (let i = 0; i < rounds; i++) {
      let data: Buffer | null = null;
      for (let tries = 0; tries < 50 && data === null; tries++) {
        poller.poll(1000);
        data = socket.read(65536);
      }
      assert.ok(data !== null && data.toString() === `request ${i}\n`, `request ${i}: ${data}`);
      assert.is(socket.write(data), data.length);
      // The SEND is written, not yet submitted: the next poll's enter carries it.
      assert.ok(socket.sends.busy());
      if (i + 1 < rounds) writeBytes(b, Buffer.from(`request ${i + 1}\n`));
      else {
        // A poll that does not wait skips its enter once when nothing has
        // completed (the wait plan's rule 6): the second one submits.
        poller.poll(0);
        poller.poll(0);
      }
    }
    const enters = poller.ringStats().enters - enters0;
    assert.is(poller.completionStats.quietSends - quiet0, rounds, 'every reply went quiet');
    assert.is(poller.completionStats.quietRetries, 0);
    // One enter per round trip (the last reply's own poll included), none for a SEND's CQE.
    assert.ok(enters <= rounds + 2, `${enters} enters for ${rounds} round trips`);
    assert.match(poller.traceLastPoll()!, /0 CQE\(s\); 1 quiet SEND\(s\) done without a CQE/);
    assert.not.ok(socket.sends.busy(), 'the last quiet SEND is concluded');
    assert.is(poller.sendBudget.used, 0, 'its bytes went back to the budget');
    const replies = Array.from({ length: rounds }, (_, i) => `request ${i}\n`).join('');
    assert.is(drainFd(b).toString(), replies, 'every reply once, in order');
  });
});

test('a quiet SEND the socket cannot take at once (EAGAIN, or part of it) is sent again as an ordinary SEND: every byte once, in order', () => {
  withAttachedSocket({}, (poller, socket, b) => {
    const piece = 48 * 1024;
    const payload = pattern(64 * piece, 7);
    let written = 0;
    // The peer does not read: each piece goes quiet while the queue is
    // empty, until the peer's buffer (~200 KiB) is full.
    for (let round = 0; round < 200 && poller.completionStats.quietRetries === 0 && written < payload.length; round++) {
      if (!socket.sends.busy()) written += socket.send([payload.subarray(written, written + piece)], 0, 0);
      poller.poll(0);
    }
    assert.ok(poller.completionStats.quietRetries >= 1, 'a quiet SEND found the socket full');
    assert.ok(socket.sends.busy(), 'what it could not send waits in the kernel, as an ordinary SEND');
    // Now the peer reads, and the rest is written as it drains.
    const parts: Buffer[] = [];
    let got = 0;
    for (let round = 0; round < 5000 && got < payload.length; round++) {
      if (written < payload.length) written += socket.send([payload.subarray(written, written + piece)], 0, 0);
      poller.poll(0);
      const part = drainFd(b);
      parts.push(part);
      got += part.length;
    }
    const received = Buffer.concat(parts);
    assert.is(received.length, payload.length);
    assert.ok(received.equals(payload), 'every byte once, in order');
    for (let round = 0; round < 50 && socket.sends.busy(); round++) poller.poll(10);
    assert.not.ok(socket.sends.busy());
    assert.is(socket.sends.sent, payload.length);
    assert.is(poller.sendBudget.used, 0);
    // Drained: the next reply may go quiet again.
    const quiet = poller.completionStats.quietSends;
    assert.is(socket.write(Buffer.from('again\n')), 6);
    poller.poll(0);
    poller.poll(0);
    assert.is(poller.completionStats.quietSends, quiet + 1);
    assert.is(drainFd(b).toString(), 'again\n');
  });
});

test('a quiet SEND that fails (the peer is gone) posts its CQE: the error reaches the next write, as for an ordinary SEND', () => {
  withAttachedSocket({}, (poller, socket, _peer, closePeer) => {
    closePeer();
    const quiet = poller.completionStats.quietSends;
    assert.is(socket.write(Buffer.from('nobody\n')), 7);
    for (let i = 0; i < 20 && socket.sends.errno === 0; i++) poller.poll(10);
    assert.is(poller.completionStats.quietSends, quiet + 1);
    assert.is(socket.sends.errno, E.EPIPE);
    assert.is(poller.completionStats.quietRetries, 0, 'an error is not retried');
    assert.is(socket.sends.sent, 0);
    assert.is(poller.sendBudget.used, 0);
    assert.throws(() => socket.write(Buffer.from('x')), /EPIPE/);
  });
});

test('a quiet SEND whose SQE the kernel has not consumed yet is not concluded; the enter that consumes it concludes it', () => {
  withAttachedSocket({}, (poller, socket, b) => {
    poller.poll(0); // the RECV armed
    assert.is(socket.write(Buffer.from('one\n')), 4);
    assert.ok(socket.sends.quiet);
    assert.not.ok(socket.sends.quietSettled(poller.ring), 'not consumed: nothing concludes it yet');
    // Nothing completed and nothing new armed: this poll skips its enter
    // (the wait plan's rule 6), so the SEND is still not consumed.
    poller.poll(0);
    assert.ok(socket.sends.busy(), 'not submitted yet: still in flight');
    assert.is(drainFd(b).length, 0);
    poller.poll(0);
    assert.not.ok(socket.sends.busy(), 'consumed by the enter, no CQE: concluded');
    assert.is(drainFd(b).toString(), 'one\n');
  });
});

test('quietSends: false keeps every SEND\'s CQE (the behaviour before quiet SENDs)', () => {
  withAttachedSocket({ quietSends: false }, (poller, socket, b) => {
    poller.traceOn();
    poller.poll(0);
    assert.is(socket.write(Buffer.from('one\n')), 4);
    poller.poll(0);
    poller.poll(0);
    assert.match(poller.traceLastPoll()!, /SEND 1/);
    assert.not.ok(socket.sends.busy());
    assert.is(poller.completionStats.quietSends, 0);
    assert.is(drainFd(b).toString(), 'one\n');
  });
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
