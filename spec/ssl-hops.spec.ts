/**
 * What TLS adds per message, counted (never timed): the deferrals
 * (`process.nextTick`, `setImmediate`) and loop work a round trip and a
 * connection cost both ends, and how the cipher pipe drives Node's engine.
 *
 * Every deferral that takes a Node async id (a nextTick, an immediate)
 * makes gale's loop hand the rest of its turn to Node (docs/reactor.md),
 * unless the TLS layer declared it Node's bookkeeping (the TLSSocket's own
 * nextTicks and write requests: spec/ssl-bookkeeping.spec.ts); they are
 * still counted here, as work.
 * The cipher pipe drives Node's `JSStream` handle itself (ssl/cipher-pipe.ts):
 * no JSStreamSocket, whose per-write immediate and `net.Socket` were
 * per-connection and per-write cost; the engine learns its records were
 * written from a microtask, and decrypted data is taken from the
 * TLSSocket before its Readable (whose `maybeReadMore` took a nextTick per
 * delivery). What remains is Node's: the TLSSocket's start takes a nextTick
 * (`initRead`), its close a few.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AsyncResource } from 'node:async_hooks';
import { Socket as NetSocket } from 'node:net';
import { CipherPipe } from '../ssl/cipher-pipe.js';
import { nodeTls } from '../ssl/node-tls.js';
import { clientContext, connectTls, EchoTlsServer, serverContext } from './tls-certs.js';
import { fdLeakCheck, inLoop } from './helpers.js';
import { countLoopWork } from './loop-work.js';

test('a TLS echo round trip, both ends gale: bounded nextTicks and immediates', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async (loop) => {
    const server = new EchoTlsServer(serverContext());
    const client = await connectTls(server.port, clientContext());
    // Warm up: the session tickets and the first reads are behind us.
    for (let i = 0; i < 3; i++) {
      await client.write('warm\n');
      await client.readUntil('\n');
    }
    const trips = 40;
    // The loop's own hand-overs (a nextTick per iteration it runs in the
    // same Node turn, an immediate per yield: docs/reactor.md) are not TLS's.
    const counts = await countLoopWork(loop, async () => {
      for (let i = 0; i < trips; i++) {
        await client.write(`ping ${i}\n`);
        assert.is((await client.readUntil('\n'))!.toString(), `ping ${i}\n`);
      }
    });
    client.close();
    server.stop();
    // Per round trip, both ends together: no nextTick and no immediate,
    // measured on every backend. Before: 2 and 2 with JSStreamSocket (its
    // write-done immediate, one per end) and the TLSSocket's Readable (its
    // `maybeReadMore`, one per end); before that, 8 and 4 (a Writable and a
    // Readable as the pipe).
    assert.is(counts.ticks, 0, `${counts.ticks / trips} nextTicks per round trip`);
    assert.is(counts.immediates, 0, `${counts.immediates / trips} immediates per round trip`);
  });
  leaks();
});

test('a TLS connection (handshake, echo, close), both ends gale: bounded nextTicks and immediates', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async (loop) => {
    const server = new EchoTlsServer(serverContext());
    const context = clientContext();
    const once = async (): Promise<void> => {
      const client = await connectTls(server.port, context);
      await client.write('hello\n');
      assert.is((await client.readUntil('\n'))!.toString(), 'hello\n');
      client.close();
      // Until the server has seen the close (its read fails and it closes).
      for (let i = 0; i < 200 && server.streams.some((s) => !s.closed()); i++) await new Promise((r) => setTimeout(r, 5));
    };
    await once(); // warm up
    const connections = 8;
    // The loop's own hand-overs are not TLS's: a nextTick per iteration run
    // in the same Node turn, an immediate per yield to Node
    // (docs/reactor.md). How many iterations the waits above take depends
    // on timing (on a busy machine the count moved by two), so they are
    // left out, as in the round-trip test.
    const counts = await countLoopWork(loop, async () => {
      for (let i = 0; i < connections; i++) await once();
    });
    server.stop();
    // Per connection, both ends together, the loop's own hand-overs left
    // out, measured on every backend: 4 nextTicks (the TLSSocket's start
    // and close, Node's), no immediate, 3 loop callbacks, 6 fd events (7 on
    // epoll and poll). Before, with JSStreamSocket: 14 nextTicks, 4
    // immediates, 2 callbacks (with a stream.Duplex as the pipe, 16
    // nextTicks). One more of each is allowed: a record split differently
    // by the kernel can cost the engine one more read.
    const perConnection = JSON.stringify(Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / connections])));
    assert.ok(counts.ticks / connections <= 5, perConnection);
    assert.ok(counts.immediates / connections <= 1, perConnection);
    assert.ok(counts.events / connections <= 8, perConnection);
    // Loop callbacks: one per end (the close that follows the peer's EOF),
    // and one for the server's session tickets, which wait for a reply to
    // go along with (`SSLSocket.runSoon`); here the client sends nothing
    // with its Finished, so they go alone, an iteration later (it was an
    // immediate). A `write('')` made during the handshake adds one only
    // when there is one.
    assert.ok(counts.callbacks / connections <= 3, perConnection);
  });
  leaks();
});

test('CipherPipe: keeps what is fed before the engine reads; passes for a connected net.Socket; reports an engine write done in a microtask, with no nextTick or immediate', async () => {
  const batches: Buffer[][] = [];
  let written: (() => void) | null = null;
  const pipe = new CipherPipe({ sendCiphertext: (chunks, done) => { batches.push(chunks); written = done; } });
  // Before the engine reads, the pipe keeps what it is fed (a copy is needed).
  assert.is(pipe.takesAtOnce(), false);
  pipe.feed(Buffer.from('early'));
  pipe.feed(Buffer.from('later'));
  assert.is(pipe.readableLength, 10);
  assert.is(String(pipe.read()), 'early');
  assert.is(String(pipe.read()), 'later');
  assert.is(pipe.read(), null);
  // What Node's TLSSocket checks to sit on the handle directly (no JSStreamSocket).
  assert.ok((pipe as object) instanceof NetSocket);
  assert.ok(pipe._handle !== null);
  assert.is(pipe.connecting, false);
  assert.is(pipe.allowHalfOpen, false);
  assert.is(pipe._parent, null);
  const handle = pipe._handle!;
  const finished: number[] = [];
  const finishWrite = handle.finishWrite;
  handle.finishWrite = function (this: typeof handle, req: object, status: number) {
    finished.push(status);
    return finishWrite.call(this, req, status);
  };
  // A client engine sends its ClientHello inside connect: one batch.
  const engine = nodeTls().connect({ socket: pipe as unknown as NetSocket, servername: 'localhost' });
  engine.on('error', () => {});
  assert.is(batches.length, 1);
  assert.ok(batches[0]!.length >= 1 && batches[0]![0]![0] === 0x16, 'a handshake record');
  let ticks = 0;
  let immediates = 0;
  const nextTick = process.nextTick;
  const setImmediate = globalThis.setImmediate;
  process.nextTick = ((...args: Parameters<typeof process.nextTick>) => { ticks++; nextTick(...args); }) as typeof process.nextTick;
  globalThis.setImmediate = ((...args: Parameters<typeof globalThis.setImmediate>) => { immediates++; return setImmediate(...args); }) as typeof globalThis.setImmediate;
  // Async ids taken meanwhile (each is what makes gale's loop hand its turn
  // to Node): a probe resource's id, before and after, less the probe's own.
  const asyncIdMark = (): number => new AsyncResource('SPEC_PROBE').asyncId();
  let idsTaken = -1;
  try {
    const before = asyncIdMark();
    written!();
    assert.equal(finished, []); // not inside the sink's call: the engine's own call may be on the stack
    await Promise.resolve();
    assert.equal(finished, [0]); // a microtask later
    idsTaken = asyncIdMark() - before - 1;
  } finally {
    process.nextTick = nextTick;
    globalThis.setImmediate = setImmediate;
  }
  assert.is(ticks, 0);
  assert.is(immediates, 0);
  // Not even a queueMicrotask's (an AsyncResource per call; regression:
  // it took one per engine write, which made every TLS iteration a hand-over).
  assert.is(idsTaken, 0);
  // The engine's read start (a tick after it was made) lets fed bytes through at once.
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(pipe.takesAtOnce(), true);
  const closed = new Promise<void>((resolve) => engine.on('close', () => resolve()));
  engine.destroy();
  await closed;
  assert.is(pipe.destroyed, true);
  assert.is(pipe._handle, null);
  assert.is(pipe.takesAtOnce(), false);
});

test.run();
