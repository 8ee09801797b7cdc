/**
 * Pipes on a ring (reactor/uring/pipe-transport.ts): a pipe's read end
 * reads with one single-shot READ kept in flight, readiness emulated from
 * what it brought. Bytes in order over many chunks with no read(2) once the
 * READ is armed, EOF as epoll reports it, close with a READ in flight (the
 * file really closed, the native buffer freed after the cancel's CQE),
 * the read-ahead bound, and fd reuse (a stale CQE never reaches a new
 * endpoint). No fd leaks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { URingPoller } from '../reactor/uring/poller.js';
import { CompletionPipe, PIPE_HIGH_WATER, PIPE_READ_SIZE } from '../reactor/uring/pipe-transport.js';
import { READ, ERROR } from '../reactor/poller.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { liveRegions } from '../reactor/sys/arena.js';
import { c, close as closeFd, pipe, setNonblocking, writeBytes } from '../reactor/sys/libc.js';
import { PipeIOStream } from '../streams/pipe-iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { EACH_TURN, fdLeakCheck, openFds, rejection, thrown, until } from './helpers.js';
import { turns } from './stream-helpers.js';

const checkFds = fdLeakCheck();

// This file tests the ring path itself, whatever mode the environment asks the suite for.
const RING = { streams: 'ring', pipes: true } as const;

function pattern(length: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function pipeOf(stream: PipeIOStream): CompletionPipe | null {
  const transport = (stream as unknown as { transport: unknown }).transport;
  return transport instanceof CompletionPipe ? transport : null;
}

function pollerOf(loop: IOLoop): URingPoller {
  return (loop as unknown as { poller: URingPoller }).poller;
}

/** Counts read(2) calls (both bindings) made on `fd` until `stop()`. */
function countReads(fd: number): { count: () => number; stop: () => void } {
  const lib = c as unknown as Record<'read' | 'readBuf', (...args: unknown[]) => unknown>;
  const read = lib.read;
  const readBuf = lib.readBuf;
  let n = 0;
  lib.read = (...args: unknown[]) => { if (args[0] === fd) n++; return read(...args); };
  lib.readBuf = (...args: unknown[]) => { if (args[0] === fd) n++; return readBuf(...args); };
  return { count: () => n, stop: () => { lib.read = read; lib.readBuf = readBuf; } };
}

/** Attaches a pipe endpoint to `poller` directly (what PipeIOStream does on a uring loop). */
function attachPipe(poller: URingPoller, fd: number): CompletionPipe {
  return poller.attachEndpoint(fd, (id, gen) => new CompletionPipe(poller, fd, id, gen))!;
}

/** Polls until `fd` is reported, at most `rounds` times; returns its events (0: never). */
function pollFor(poller: URingPoller, fd: number, rounds = 50): number {
  for (let i = 0; i < rounds; i++) {
    const n = poller.poll(100);
    for (let j = 0; j < n; j++) if (poller.readyFds[j] === fd) return poller.readyEvents[j]!;
  }
  return 0;
}

test('a PipeIOStream read end on a uring loop reads through the ring; a write end and uring.pipes false stay on readiness', () => {
  const loop = new IOLoop({ poller: 'uring', uring: RING, makeCurrent: false });
  const [r, w] = pipe();
  const reader = new PipeIOStream(r, { ioLoop: loop });
  const writer = new PipeIOStream(w, { ioLoop: loop });
  assert.instance(pipeOf(reader), CompletionPipe);
  assert.is(pipeOf(writer), null, 'write ends write with write(2) on readiness');
  reader.close();
  writer.close();
  loop.close();
  // A loop whose options keep pipes off the ring, and a readiness loop: read(2) on readiness.
  for (const options of [{ poller: 'uring', uring: { ...RING, pipes: false } }, { poller: 'epoll' }] as const) {
    const other = new IOLoop({ ...options, makeCurrent: false });
    const [r2, w2] = pipe();
    const polled = new PipeIOStream(r2, { ioLoop: other });
    assert.is(pipeOf(polled), null, options.poller);
    polled.close();
    closeFd(w2);
    other.close();
  }
});

test('the endpoint: READ while bytes wait (level-triggered), read with no FFI call, EOF as a hang-up', () => {
  const poller = new URingPoller();
  const [r, w] = pipe();
  setNonblocking(r, true);
  try {
    const endpoint = attachPipe(poller, r);
    poller.register(r, READ | ERROR);
    assert.is(poller.poll(0), 0);
    assert.ok(endpoint.readOp.armed, 'the READ is in flight');
    const enters = poller.ringStats().enters;
    assert.is(poller.poll(20), 0, 'an empty pipe lets the poll block');
    assert.is(poller.ringStats().enters, enters + 1);
    writeBytes(w, Buffer.from('hello'));
    assert.is(pollFor(poller, r), READ);
    assert.is(pollFor(poller, r, 1), READ, 'reported again while unread');
    const before = ffiCounter.calls;
    assert.is(endpoint.read(1024)!.toString(), 'hello');
    assert.is(endpoint.read(1024), null, 'nothing more yet, and no read(2) with the READ armed');
    assert.is(ffiCounter.calls, before, 'no FFI call to read what the ring read');
    closeFd(w);
    assert.is(pollFor(poller, r), ERROR, 'the writer gone: a hang-up (EPOLLHUP), as epoll reports a pipe');
    assert.is(endpoint.read(1024)!.length, 0, 'EOF');
    assert.not.ok(endpoint.readOp.armed, 'no READ after EOF');
    poller.unregister(r);
    assert.is(poller.socketCount(), 0);
  } finally {
    poller.close();
    closeFd(r);
  }
});

test('many chunks arrive in order, with no read(2) on the pipe once the READ is armed', async () => {
  const loop = new IOLoop({ poller: 'uring', uring: RING, makeCurrent: false });
  const [r, w] = pipe();
  const reader = new PipeIOStream(r, { ioLoop: loop });
  const writer = new PipeIOStream(w, { ioLoop: loop });
  const payload = pattern(4 * 1024 * 1024 + 123, 5);
  let reads = countReads(-2);
  try {
    const got = await loop.runSync(async () => {
      // The first read finds the pipe empty (one read(2), before any READ is armed), then waits on the READ.
      const first = reader.readBytes(1)!;
      await turns(2);
      assert.ok(pipeOf(reader)!.readOp.armed);
      reads.stop();
      reads = countReads(r);
      const calls0 = ffiCounter.calls;
      const it0 = loop.stats().iterations;
      const written = writer.write(payload)!;
      const head = await first;
      const parts: Buffer[] = [head];
      let total = 1;
      while (total < payload.length) {
        const part = await reader.readBytes(Math.min(100_000, payload.length - total), { partial: true })!;
        parts.push(part);
        total += part.length;
      }
      await written;
      const iterations = loop.stats().iterations - it0;
      const calls = ffiCounter.calls - calls0;
      assert.ok(calls <= iterations * 3, `${calls} FFI calls in ${iterations} iterations (enter + the writer's write(2)s)`);
      return Buffer.concat(parts);
    }, 30);
    assert.is(reads.count(), 0, 'no read(2) on the read end');
    assert.ok(got.equals(payload), 'every byte, in order');
    assert.ok(pipeOf(reader)!.stats.reads >= payload.length / PIPE_READ_SIZE, 'the ring did the reading');
    assert.is(pipeOf(reader)!.stats.direct, 1, 'one direct read(2): the first, before any READ was armed');
  } finally {
    reads.stop();
    reader.close();
    writer.close();
    loop.close();
  }
});

test('EOF: the rest is read, readUntilClose ends, an idle reader notices, a read EOF cannot satisfy fails', async () => {
  const loop = new IOLoop({ poller: 'uring', uring: RING, makeCurrent: false });
  const streams: PipeIOStream[] = [];
  const stream = (fd: number) => {
    const made = new PipeIOStream(fd, { ioLoop: loop });
    streams.push(made);
    return made;
  };
  try {
    await loop.runSync(async () => {
      const [r, w] = pipe();
      const reader = stream(r);
      const writer = stream(w);
      const all = reader.readUntilClose()!;
      await writer.write('last words');
      writer.close();
      assert.is((await all).toString(), 'last words');
      assert.ok(reader.closed());

      const [r2, w2] = pipe();
      const idle = stream(r2);
      let closed = false;
      idle.setCloseCallback(() => { closed = true; });
      await turns(2);
      assert.ok(pipeOf(idle)!.readOp.armed, 'an idle reader with a close callback watches READ: the READ is armed');
      closeFd(w2);
      await until(() => closed, 'the close', EACH_TURN);
      assert.ok(idle.closed());

      const [r3, w3] = pipe();
      const short = stream(r3);
      const pending = short.readBytes(10)!;
      writeBytes(w3, Buffer.from('abc'));
      closeFd(w3);
      assert.instance(await rejection(pending), StreamClosedError);
      assert.ok(short.closed());
    }, 10);
  } finally {
    for (const s of streams) s.close();
    loop.close();
  }
});

test('close with a READ in flight: the READ is cancelled first, the file really closes (EPIPE), the buffer is freed after the CQE', async () => {
  const loop = new IOLoop({ poller: 'uring', uring: RING, makeCurrent: false });
  const poller = pollerOf(loop);
  const regions = liveRegions();
  const [r, w] = pipe();
  try {
    const reader = new PipeIOStream(r, { ioLoop: loop });
    const endpoint = pipeOf(reader)!;
    assert.is(liveRegions(), regions + 1, 'the endpoint owns one native buffer');
    await loop.runSync(async () => {
      const pending = reader.readBytes(100)!;
      await turns(2);
      assert.ok(endpoint.readOp.armed, 'a READ is in flight');
      reader.close();
      assert.instance(await rejection(pending), StreamClosedError);
    }, 10);
    assert.not.ok(openFds().has(r), 'the read end is closed');
    const error = thrown(() => writeBytes(w, Buffer.from('anyone?')));
    assert.is(error.code, 'EPIPE', 'no reader left: the READ did not hold the file open');
    poller.poll(0);
    assert.not.ok(endpoint.readOp.armed);
    assert.is(liveRegions(), regions, 'the native buffer freed once the READ\'s CQE was in');
    assert.is(poller.socketCount(), 0, 'the endpoint id freed');
  } finally {
    loop.close();
    closeFd(w);
  }
});

test('read-ahead is bounded: a reader that does not read stops re-arming the READ, the pipe pushes back, every byte arrives later', async () => {
  const loop = new IOLoop({ poller: 'uring', uring: RING, makeCurrent: false });
  const [r, w] = pipe();
  setNonblocking(w, true);
  const reader = new PipeIOStream(r, { ioLoop: loop });
  const endpoint = pipeOf(reader)!;
  const sent: Buffer[] = [];
  try {
    const got = await loop.runSync(async () => {
      const first = reader.readBytes(1)!;
      await turns(2);
      // Write until the pipe refuses while the stream reads nothing more.
      let refused = 0;
      for (let round = 0; round < 400 && refused < 3; round++) {
        const block = pattern(16 * 1024, round);
        const n = writeBytes(w, block);
        if (n > 0) sent.push(block.subarray(0, n));
        if (n < 0 && !endpoint.readOp.armed) refused++;
        await turns(1);
      }
      assert.not.ok(endpoint.readOp.armed, 'no READ in flight at the bound');
      assert.ok(endpoint.buffered >= PIPE_HIGH_WATER - PIPE_READ_SIZE, `buffered ${endpoint.buffered}`);
      assert.ok(endpoint.buffered < PIPE_HIGH_WATER + PIPE_READ_SIZE, `buffered ${endpoint.buffered}`);
      const total = sent.reduce((sum, b) => sum + b.length, 0);
      assert.ok(total > endpoint.buffered + 1, 'the rest waits in the pipe');
      const head = await first;
      const rest = await reader.readBytes(total - 1)!;
      return Buffer.concat([head, rest]);
    }, 20);
    assert.ok(got.equals(Buffer.concat(sent)), 'every byte, in order');
  } finally {
    reader.close();
    loop.close();
    closeFd(w);
  }
});

test('fd reuse: a new endpoint on a closed pipe\'s fd number never sees the old one\'s completions', () => {
  const poller = new URingPoller();
  const regions = liveRegions();
  const [r1, w1] = pipe();
  setNonblocking(r1, true);
  try {
    const first = attachPipe(poller, r1);
    poller.register(r1, READ);
    assert.is(poller.poll(0), 0);
    assert.ok(first.readOp.armed);
    writeBytes(w1, Buffer.from('old'));
    poller.unregister(r1); // cancelled before the data's CQE was read
    closeFd(r1);
    closeFd(w1);
    const [r2, w2] = pipe();
    try {
      assert.is(r2, r1, 'the fd number is reused');
      setNonblocking(r2, true);
      const second = attachPipe(poller, r2);
      assert.is.not(second, first);
      poller.register(r2, READ);
      writeBytes(w2, Buffer.from('new'));
      assert.is(pollFor(poller, r2), READ);
      assert.is(second.read(1024)!.toString(), 'new');
      assert.is(second.read(1024), null);
      assert.is(first.buffered, 0, 'the old endpoint kept nothing');
      poller.unregister(r2);
    } finally {
      closeFd(r2);
      closeFd(w2);
    }
    poller.poll(0);
    assert.is(poller.socketCount(), 0);
    assert.is(liveRegions(), regions, 'both native buffers freed');
  } finally {
    poller.close();
  }
});

test('closing the loop with a READ in flight frees the buffer', () => {
  const regions = liveRegions();
  const loop = new IOLoop({ poller: 'uring', uring: RING, makeCurrent: false });
  const [r, w] = pipe();
  const reader = new PipeIOStream(r, { ioLoop: loop });
  reader.setCloseCallback(() => {});
  const poller = pollerOf(loop);
  poller.poll(0);
  assert.ok(pipeOf(reader)!.readOp.armed);
  loop.close(true); // closes the stream's fd too
  assert.is(liveRegions(), regions);
  assert.not.ok(openFds().has(r));
  closeFd(w);
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
