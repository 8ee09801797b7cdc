/**
 * The Promises an echo round trip makes (issue 18: the JS per read and per
 * write), counted with async_hooks, which sees every Promise V8 creates:
 * the idiomatic loop — `await stream.readBytes(65536, { partial: true })`,
 * `await stream.write(data)` — made 10 per round trip before the Future's
 * `then` lost its extra `catch` and a done `Future<void>` got a shared
 * fulfilled Promise (reactor/future.ts), 7 until a Future became a
 * native Promise that `await` takes as it is (no thenable job, no Promise
 * behind `then`), and 4 until a write the kernel took at once returned the
 * thread's one done Future instead of a new one; it makes 3 now, on every
 * backend: the read's Future, a Promise, and per `await` the throwaway
 * Promise V8 makes only while a promise hook (this count's async_hooks) is on.
 * Each is an allocation and most a microtask, so fewer is less JS per
 * message.
 *
 * The peer is a plain handler on the loop (no Promise of its own), so only
 * the stream's side is counted — and the loop's own: an iteration that
 * hands over to the next one inside a batch (reactor/ioloop.ts, phase 5)
 * does so with one `then` on a settled Promise, counted apart through
 * `stats().batched`.
 */
import { createHook } from 'node:async_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { AF_UNIX, SOCK_STREAM, socketpair } from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { fdLeakCheck } from './helpers.js';

const ROUND_TRIPS = 200;
const PING = Buffer.from('ping');

test('an echo round trip (await readBytes, await write) makes 3 Promises', async () => {
  const checkFds = fdLeakCheck();
  let created = 0;
  const hook = createHook({ init(_id, type) { if (type === 'PROMISE') created++; } });
  const loop = new IOLoop({ makeCurrent: false, nodeInterop: false });
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
  b.setBlocking(false);
  const stream = new IOStream(a, { ioLoop: loop });
  try {
    const perRoundTrip = await loop.runSync(async () => {
      const peerDone = new Future<void>();
      let received = 0;
      // The peer: sends the next ping once the last one's echo is back.
      loop.addHandler(b.fileno(), () => {
        received += b.recv(64).length;
        if (received === ROUND_TRIPS * PING.length) {
          loop.removeHandler(b.fileno());
          peerDone.setResult();
        } else if (received % PING.length === 0) {
          b.send(PING);
        }
      }, IOLoop.READ);
      created = 0;
      const batchedBefore = loop.stats().batched;
      hook.enable();
      try {
        const server = (async () => {
          for (let i = 0; i < ROUND_TRIPS; i++) {
            const data = await stream.readBytes(65536, { partial: true })!;
            await stream.write(data)!;
          }
        })();
        b.send(PING);
        await server;
      } finally {
        hook.disable();
      }
      // The loop's hand-overs inside a batch, one Promise each, are not the stream's.
      const loopsOwn = loop.stats().batched - batchedBefore;
      await peerDone;
      return (created - loopsOwn) / ROUND_TRIPS;
    }, 20);
    assert.is(Math.round(perRoundTrip), 3, `${perRoundTrip} Promises per round trip`);
  } finally {
    stream.close();
    b.close();
    loop.close();
  }
  checkFds();
});

test('a write\'s Future: done at once when the kernel took every byte, pending while it cannot, failed when the attempt closed the stream', async () => {
  // write() makes its Future after trying to write (streams/base-iostream.ts,
  // writeFuture): a Future done at birth when nothing is left, else one
  // waiting in the buffer; each must be what the Future made before the
  // attempt would have been by the time write() returns.
  const checkFds = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false, nodeInterop: false });
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
  b.setBlocking(false);
  const stream = new IOStream(a, { ioLoop: loop });
  try {
    await loop.runSync(async () => {
      const small = stream.write(PING)!;
      assert.instance(small, Future);
      assert.ok(small.done(), 'a small write is done when write() returns');
      assert.is(small.result(), undefined);
      assert.is(await small, undefined);
      let seen = 0;
      small.addDoneCallback(() => { seen++; });
      assert.is(seen, 1, 'a done callback on it runs at once');
      assert.throws(() => small.setResult(undefined), /already done/);
      assert.not.ok(small.cancel(), 'nor cancelled');
      const next = stream.write(PING)!;
      assert.ok(next.done() && next.result() === undefined && (await next) === undefined, 'the next small write: done as well');
      // More than the socket pair can hold: the Future waits for the peer to read.
      const big = Buffer.alloc(8 << 20, 1);
      const pending = stream.write(big)!;
      const after = stream.write(PING)!;
      assert.not.ok(pending.done());
      assert.not.ok(after.done(), 'a later write waits behind the earlier bytes');
      let drained = 0;
      loop.addHandler(b.fileno(), () => { drained += b.recv(1 << 20).length; }, IOLoop.READ);
      await pending;
      await after;
      loop.removeHandler(b.fileno());
      const total = 2 * PING.length + big.length;
      while (drained < total) {
        await new Promise<void>((resolve) => loop.addCallback(resolve));
        try {
          drained += b.recv(1 << 20).length;
        } catch {
          // nothing there yet (a ring sends at its next enter)
        }
      }
      // The peer gone: on readiness the write's own attempt fails and closes
      // the stream (a ring learns it from the send's completion, later).
      if ((stream as unknown as { transport: { mode: string } }).transport.mode !== 'readiness') return;
      b.close();
      const failed = stream.write(PING)!;
      assert.ok(stream.closed(), 'the attempt closed the stream');
      const error = await failed.then(() => null, (e: unknown) => e);
      assert.instance(error, StreamClosedError);
      assert.ok(['EPIPE', 'ECONNRESET'].includes(((error as StreamClosedError).realError as NodeJS.ErrnoException | null)?.code ?? ''), String((error as StreamClosedError).realError));
    }, 20);
  } finally {
    stream.close();
    b.close();
    loop.close();
  }
  checkFds();
});

test.run();
