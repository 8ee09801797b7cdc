/**
 * What a stream's close costs, in counts (issue 18, "Connect"): the
 * `StreamClosedError`s a close fails outstanding Futures with are built
 * without capturing stack frames (they are made inside the loop's handler,
 * where every frame is gale's; capturing them was ~7 % of a short
 * connection's CPU), while keeping Tornado's contract — `instanceof
 * StreamClosedError` and `OSError`, the message, `realError` — and errors
 * thrown at a caller keep their stack.
 *
 * Counted, not timed: the frames in `error.stack` are what V8 captured.
 *
 * And what a close must keep paying for: the poller is told to forget the
 * fd (`EPOLL_CTL_DEL` on epoll) before the fd is closed, even though the
 * kernel drops an epoll registration by itself once the *file* is gone.
 * gale cannot know that its fd is the file's last reference (a child it or
 * Node spawned may hold it as stdio, a worker of `process-supervisor`, an
 * fd the user passed on), and a registration left behind keeps reporting a
 * file gale no longer has under a number it may reuse (docs/streams.md,
 * "What a stream costs").
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OSError } from '../reactor/sys/errors.js';
import { AF_UNIX, SOCK_STREAM, socketpair } from '../reactor/sys/socket.js';
import { Subprocess } from '../net/subprocess.js';
import { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import type { BaseIOStream } from '../streams/base-iostream.js';
import { delay, fdLeakCheck, inLoop, rejection, thrown } from './helpers.js';
import { pipes, streamTest, tcp, unixPair } from './stream-helpers.js';

/** The stack frames an error captured (its `at …` lines). */
function frames(error: Error): number {
  return (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).length;
}

for (const transport of [tcp, unixPair, pipes]) {
  test(`${transport.name}: a read pending at EOF fails with a StreamClosedError that captured no frames`, streamTest(transport, async (ctx) => {
    const [writer, reader] = ctx.pair();
    const pending = reader.readBytes(10)!;
    writer.close();
    const error = await rejection(pending);
    assert.instance(error, StreamClosedError);
    assert.instance(error, OSError);
    assert.is(error.name, 'StreamClosedError');
    assert.is(error.message, 'Stream is closed');
    assert.is(error.code, 'ESTREAMCLOSED');
    assert.is(error.errno, 0);
    assert.is(error.realError, null);
    assert.is(frames(error), 0, error.stack);
    assert.is(error.stack, 'StreamClosedError: Stream is closed');
  }));

  test(`${transport.name}: the error of a close with a cause names it and keeps the cause's stack`, streamTest(transport, async (ctx) => {
    const [, reader] = ctx.pair();
    const pending = reader.readBytes(10)!;
    const cause = new Error('handler gave up');
    reader.close(cause);
    const error = await rejection(pending);
    assert.instance(error, StreamClosedError);
    assert.is(error.realError, cause);
    assert.is(error.message, 'Stream is closed: handler gave up');
    assert.is(frames(error), 0, error.stack);
    assert.ok(frames(cause) > 0, 'the cause keeps its own stack');
  }));

  test(`${transport.name}: an operation on a closed stream throws with the caller's stack`, streamTest(transport, async (ctx) => {
    const [writer, reader] = ctx.pair();
    writer.close();
    reader.close();
    const thrownAt = (stream: BaseIOStream): Error => thrown(function writeOnClosedStream() { stream.write('x'); });
    const error = thrownAt(writer);
    assert.instance(error, StreamClosedError);
    assert.ok(frames(error) > 0, 'a thrown error keeps its frames');
    assert.match(error.stack!, /writeOnClosedStream/);
    // The limit is restored after a close built its error without frames.
    assert.ok(Error.stackTraceLimit > 0);
  }));
}

test('Error.stackTraceLimit is the same after closes as before', streamTest(unixPair, async (ctx) => {
  const before = Error.stackTraceLimit;
  for (let i = 0; i < 3; i++) {
    const [writer, reader] = ctx.pair();
    const pending = reader.readBytes(1)!;
    const written = writer.write('')!;
    writer.close();
    await rejection(pending);
    await written;
  }
  assert.is(Error.stackTraceLimit, before);
}));

test('a stream whose fd a child also holds leaves no registration behind at close: its number is never reported ready again', async () => {
  const checkFds = fdLeakCheck();
  await inLoop(async (loop) => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
    const fd = a.fileno();
    // The child's stdin is the same file: closing our fd does not release it.
    const child = new Subprocess(['sleep', '30'], { stdin: fd, ioLoop: loop });
    try {
      const poller = (loop as unknown as { poller: { poll(t: number): number; readyFds: Int32Array } }).poller;
      const stream = new IOStream(a, { ioLoop: loop });
      const pending = stream.readBytes(4)!; // nothing there yet: the fd is registered for READ
      stream.close();
      await rejection(pending);
      let polls = 0;
      let reported = 0;
      const poll = poller.poll.bind(poller);
      poller.poll = (timeoutMs) => {
        const n = poll(timeoutMs);
        polls++;
        for (let i = 0; i < n; i++) if (poller.readyFds[i] === fd) reported++;
        return n;
      };
      // The file is readable (and stays so: the child never reads it).
      b.send(Buffer.from('late'));
      for (let i = 0; i < 50 && polls < 5; i++) await delay(2);
      poller.poll = poll;
      assert.ok(polls >= 5, `the loop polled ${polls} times`);
      assert.is(reported, 0, 'the closed stream\'s number was reported ready');
    } finally {
      process.kill(child.pid, 'SIGTERM');
      await child.waitForExit(false);
      child.close();
      b.close();
    }
  });
  checkFds();
});

test.run();
