/**
 * What TLS adds per message, counted (never timed): the deferrals
 * (`process.nextTick`, `setImmediate`) a round trip costs both ends, and
 * the batches of records the engine hands gale per write.
 *
 * Per engine write Node's JSStreamSocket itself takes one immediate (it
 * reports the write done from one). gale adds none: the duplex hands the
 * records over and runs the engine's callbacks directly (no Writable
 * buffering, whose callback took a nextTick, no Readable push, whose
 * `maybeReadMore` took another), and the engine's own callback for the
 * plaintext write ends gale's write cycle (no immediate of gale's).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CipherPipe } from '../ssl/cipher-pipe.js';
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
    // Per round trip, both ends together: 2 nextTicks and 2 immediates
    // (JSStreamSocket's, one per end) — before, gale added a nextTick and an
    // immediate per engine write and two nextTicks per feed (8 and 4).
    assert.ok(counts.ticks / trips <= 3, `${counts.ticks / trips} nextTicks per round trip`);
    assert.ok(counts.immediates / trips <= 3, `${counts.immediates / trips} immediates per round trip`);
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
    // out: 14 nextTicks and 4 immediates on every backend, measured (with a
    // stream.Duplex as the cipher pipe, whose resume deferred the flow a
    // tick whether or not anything waited, two more nextTicks). One more of
    // each is allowed: a record split differently by the kernel can cost
    // the engine one more read.
    const perConnection = `${counts.ticks / connections} nextTicks, ${counts.immediates / connections} immediates per connection`;
    assert.ok(counts.ticks / connections <= 15, perConnection);
    assert.ok(counts.immediates / connections <= 5, perConnection);
    // Loop callbacks: one per end (the close that follows the peer's EOF).
    // The end of each handshake queued one more, which ran the WRITE path
    // for a `write('')` that might be waiting; now only when one is.
    assert.ok(counts.callbacks / connections <= 2, `${counts.callbacks / connections} loop callbacks per connection`);
  });
  leaks();
});

test('CipherPipe: a flowing engine takes fed bytes inside the call; records written between cork and uncork reach the sink as one batch', () => {
  const batches: Buffer[][] = [];
  let finish: (() => void) | null = null;
  const pipe = new CipherPipe({ sendCiphertext: (chunks, done) => { batches.push(chunks); finish = done; } });
  const seen: Buffer[] = [];
  // Before anyone reads, the duplex keeps what it is fed (a copy is needed).
  assert.is(pipe.takesAtOnce(), false);
  const early = Buffer.from('early');
  pipe.feed(early);
  pipe.on('data', (d: Buffer) => seen.push(d));
  // The engine starts and stops reading (JSStreamSocket's readStart and
  // readStop): with nothing waiting that defers nothing.
  const idle = new CipherPipe({ sendCiphertext: (_chunks, done) => done() });
  let ticks = 0;
  const nextTick = process.nextTick;
  process.nextTick = ((...args: Parameters<typeof process.nextTick>) => { ticks++; nextTick(...args); }) as typeof process.nextTick;
  try {
    idle.resume();
    idle.pause();
    idle.resume();
  } finally {
    process.nextTick = nextTick;
  }
  assert.is(ticks, 0);
  assert.is(idle.takesAtOnce(), true);
  idle.destroy();
  pipe.resume(); // with 'early' waiting: handed over a tick later
  assert.is(pipe.takesAtOnce(), false); // 'early' still waits for the flow to start
  assert.equal(seen, []); // not re-entering the engine's read start
  return new Promise<void>((resolve) => setImmediate(() => {
    assert.equal(seen.map(String), ['early']);
    assert.is(pipe.takesAtOnce(), true);
    pipe.feed(Buffer.from('now'));
    assert.equal(seen.map(String), ['early', 'now']); // inside the call
    const calls: string[] = [];
    pipe.cork();
    pipe.write(Buffer.from('a'), () => calls.push('a'));
    pipe.write(Buffer.from('b'), () => calls.push('b'));
    assert.is(batches.length, 0);
    pipe.uncork();
    assert.equal(batches.map((b) => b.map(String)), [['a', 'b']]);
    assert.equal(calls, []);
    finish!();
    assert.equal(calls, ['a', 'b']); // the sink's word runs the callbacks at once
    pipe.write(Buffer.from('c'));
    assert.equal(batches.length, 2);
    assert.instance((() => { try { pipe.write('text'); } catch (e) { return e; } })(), TypeError);
    pipe.destroy();
    assert.is(pipe.takesAtOnce(), false);
    pipe.on('close', () => resolve()); // a tick later, as a stream's
  }));
});

test.run();
