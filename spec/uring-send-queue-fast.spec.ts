/**
 * The send queue's fast paths (reactor/uring/send-queue.ts, docs/uring.md
 * "Send queue fast paths"): one part copied whole into a fresh slot or the
 * end of the last unsubmitted one, and a quiet SEND settled in full. Each
 * must keep what the general paths do: every accepted byte once, in order,
 * the limit, the budget, and what is queued behind a quiet SEND going next.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chunk } from '../reactor/sys/arena.js';
import { readToChunk } from '../reactor/sys/libc.js';
import { fdLeakCheck } from './helpers.js';
import { pattern, withAttachedSocket, type AttachedSocket } from './uring-socket.js';
import type { URingPoller } from '../reactor/uring/poller.js';

const checkFds = fdLeakCheck();

/** Everything `fd` (a plain nonblocking peer) has to read now. */
function drainFd(fd: number): Buffer {
  const parts: Buffer[] = [];
  for (let n = readToChunk(fd, 65536); n > 0; n = readToChunk(fd, 65536)) parts.push(Buffer.from(chunk.view.subarray(0, n)));
  return Buffer.concat(parts);
}

/** Polls until `socket` has nothing queued or in flight, reading what the peer got. */
function finish(poller: URingPoller, socket: AttachedSocket, peer: number, got: Buffer[]): void {
  for (let round = 0; round < 200 && socket.sends.busy(); round++) {
    poller.poll(0);
    got.push(drainFd(peer));
  }
  assert.not.ok(socket.sends.busy(), 'everything was sent');
  got.push(drainFd(peer));
}

test('small writes queued behind a quiet SEND share one slot and go as the next SEND once it settles: every byte once, in order', () => {
  withAttachedSocket({ directSends: false }, (poller, socket, peer) => {
    const got: Buffer[] = [];
    const expected: Buffer[] = [];
    for (let round = 0; round < 20; round++) {
      // The first goes quiet when the queue is empty; the rest wait behind it, appended to one slot.
      for (let i = 0; i < 5; i++) {
        const part = pattern(64 + i, round * 8 + i);
        assert.is(socket.send([part], 0, 0), part.length);
        expected.push(part);
      }
      assert.is(socket.sends.inFlight, 1);
      assert.ok(socket.sends.quiet, 'the first SEND is quiet');
      // The quiet SEND settles in full; the four behind it (one slot) go as the next SEND.
      poller.poll(0);
      got.push(drainFd(peer));
      finish(poller, socket, peer, got);
    }
    const all = Buffer.concat(expected);
    assert.ok(Buffer.concat(got).equals(all), 'every byte once, in order');
    assert.is(socket.sends.sent, all.length);
    assert.is(poller.sendBudget.used, 0, 'the budget got every byte back');
    assert.is(poller.completionStats.quietRetries, 0);
    assert.is(poller.completionStats.sendCopiedBytes, all.length);
    assert.is(poller.completionStats.quietSends, 40, 'a quiet SEND for each round\'s first write, and one for the rest');
  });
});

test('a part that does not fit the last slot, several parts, an offset and a skip take the general path: the same bytes, in order', () => {
  withAttachedSocket({ directSends: false }, (poller, socket, peer) => {
    const got: Buffer[] = [];
    const expected: Buffer[] = [];
    const first = pattern(100, 1);
    socket.send([first], 0, 0); // quiet, in flight
    expected.push(first);
    const big = pattern(4000, 2); // a small slot, 96 bytes of room left
    socket.send([big], 0, 0);
    expected.push(big);
    const over = pattern(300, 3); // 96 into that slot, the rest into a new one
    socket.send([over], 0, 0);
    expected.push(over);
    const a = pattern(50, 4);
    const b = pattern(70, 5);
    socket.send([a, b], 0, 10); // two parts, from 10 bytes into the first
    expected.push(a.subarray(10), b);
    const c = pattern(90, 6);
    socket.send([c], 0, 25); // one part at an offset: the fast path
    expected.push(c.subarray(25));
    const d = pattern(40, 7);
    const e = pattern(40, 8);
    socket.send([d, e], 1, 0); // one part, `first` not 0
    expected.push(e);
    const queued = expected.reduce((n, part) => n + part.length, 0) - first.length;
    assert.is(socket.sends.bytes, queued + first.length);
    assert.is(poller.sendBudget.used, queued + first.length);
    // fill with a skip (what a resumed write does) copies from past it.
    const f = pattern(80, 9);
    assert.is(socket.sends.fill([f], 0, 0, 30, Number.MAX_SAFE_INTEGER), 50);
    expected.push(f.subarray(30));
    finish(poller, socket, peer, got);
    const all = Buffer.concat(expected);
    assert.ok(Buffer.concat(got).equals(all), 'every byte once, in order');
    assert.is(socket.sends.sent, all.length);
    assert.is(poller.sendBudget.used, 0);
  });
});

test('one part larger than the limit leaves: fill copies up to the limit, and the rest later', () => {
  withAttachedSocket({ directSends: false }, (poller, socket, peer) => {
    const got: Buffer[] = [];
    const part = pattern(1000, 11);
    const sends = socket.sends;
    assert.is(sends.fill([part], 0, 0, 0, 600), 600);
    assert.is(sends.bytes, 600);
    assert.is(sends.fill([part], 0, 600, 0, 600), 0, 'at the limit nothing more');
    assert.is(sends.fill([part], 0, 600, 0, 1000), 400);
    sends.submit();
    finish(poller, socket, peer, got);
    assert.ok(Buffer.concat(got).equals(part));
    assert.is(poller.sendBudget.used, 0);
  });
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
