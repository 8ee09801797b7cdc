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

/** Counts the nextTicks and immediates queued while `fn` runs (all of them, on this thread). */
async function countDeferrals(fn: () => Promise<void>): Promise<{ ticks: number; immediates: number }> {
  const counts = { ticks: 0, immediates: 0 };
  const nextTick = process.nextTick;
  const setImmediate = globalThis.setImmediate;
  process.nextTick = function countedNextTick(this: unknown, ...args: unknown[]) {
    counts.ticks++;
    return (nextTick as (...a: unknown[]) => void).apply(this, args);
  } as typeof process.nextTick;
  globalThis.setImmediate = function countedSetImmediate(this: unknown, ...args: unknown[]) {
    counts.immediates++;
    return (setImmediate as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof globalThis.setImmediate;
  try {
    await fn();
  } finally {
    process.nextTick = nextTick;
    globalThis.setImmediate = setImmediate;
  }
  return counts;
}

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
    const batchedBefore = loop.stats().batched;
    const counts = await countDeferrals(async () => {
      for (let i = 0; i < trips; i++) {
        await client.write(`ping ${i}\n`);
        assert.is((await client.readUntil('\n'))!.toString(), `ping ${i}\n`);
      }
    });
    // The loop's own nextTicks (one per iteration it runs in the same Node
    // turn: docs/reactor.md) are not TLS's.
    counts.ticks -= loop.stats().batched - batchedBefore;
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
  assert.is(pipe.takesAtOnce(), false); // 'early' still waits for the flow to start
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
    resolve();
  }));
});

test.run();
