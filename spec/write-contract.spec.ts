/**
 * The write contract (Tornado's, which users rely on): a write that throws
 * sent nothing, and every accepted byte reaches the peer exactly once, in
 * order. Each write carries its own tag (its index in every byte group), so
 * a mismatch says which write's bytes arrived where. Runs on whichever
 * poller the suite runs with (GALE_POLLER), over TCP, a Unix socketpair and
 * (where the case needs no reply) a pipe; on io_uring that is ring sends,
 * the default stream mode. The uring-only paths (chains longer than the SQ,
 * the ring-wide send budget) have their own cases in uring-streams.spec.ts.
 *
 * The bug this file was written for: on io_uring, 8 MiB queued as 1000-byte
 * writes went out as one linked chain of 2,049 SENDs through a 1,024-entry
 * SQ; the SQ-full flush split it in two chains that ran side by side, and
 * the peer received bytes out of order and 4,096 bytes twice
 * (docs/uring.md, "The write contract").
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Future } from '../reactor/future.js';
import type { OSError } from '../reactor/sys/errors.js';
import { StreamBufferFullError, StreamClosedError } from '../streams/errors.js';
import type { BaseIOStream } from '../streams/base-iostream.js';
import { thrown } from './helpers.js';
import { MIN_SEND_SHARE, SendBudget } from '../reactor/uring/send-memory.js';
import { onRingSends, pipes, streamTest, tcp, turns, unixPair, type Transport } from './stream-helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** `size` bytes that say they belong to write `index`: its index, as u32 LE, over and over. */
function tagged(index: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  const tag = Buffer.alloc(4);
  tag.writeUInt32LE(index >>> 0);
  for (let i = 0; i < size; i += 4) tag.copy(out, i, 0, Math.min(4, size - i));
  return out;
}

/** The writes made to one stream: which were accepted and which threw, and what the peer must get. */
class Ledger {
  readonly accepted: Buffer[] = [];
  /** Where each accepted write starts in the stream of accepted bytes. */
  private readonly starts: number[] = [];
  acceptedBytes = 0;
  refused = 0;
  private next = 0;

  constructor(private readonly stream: BaseIOStream) {}

  /** Writes `size` tagged bytes: their Future, or the error the write threw. */
  write(size: number): Future<void> | Error {
    const data = tagged(this.next++, size);
    let future: Future<void> | null;
    try {
      future = this.stream.write(data);
    } catch (error) {
      this.refused++;
      return error as Error;
    }
    this.starts.push(this.acceptedBytes);
    this.accepted.push(data);
    this.acceptedBytes += data.length;
    return future!;
  }

  /** Writes `size`-byte chunks until one is refused (at most `max`); returns the refusal. */
  fillUntilRefused(size: number | ((i: number) => number), max = 100_000): Error {
    for (let i = 0; i < max; i++) {
      const result = this.write(typeof size === 'number' ? size : size(i));
      if (result instanceof Error) return result;
    }
    throw new Error(`no write refused in ${max}`);
  }

  /** Asserts `received` is exactly the accepted bytes (or, with `prefix`, a prefix of them). */
  check(received: Buffer, options: { prefix?: boolean; length?: number } = {}): void {
    const expected = Buffer.concat(this.accepted);
    // Where the bytes differ says more than the count: check it first.
    const at = firstDifference(received, expected);
    if (at >= 0) assert.unreachable(`byte ${at} differs: ${this.describe(received, at)}`);
    assert.ok(received.length <= expected.length, `${received.length - expected.length} bytes more than were accepted`);
    const length = options.length ?? (options.prefix ? received.length : expected.length);
    assert.is(received.length, length, `${received.length} bytes received, ${length} expected (${this.accepted.length} writes accepted, ${this.refused} refused)`);
  }

  private describe(received: Buffer, at: number): string {
    let write = this.starts.length - 1;
    while (write > 0 && this.starts[write]! > at) write--;
    const word = at - (at % 4);
    const found = word + 4 <= received.length ? received.readUInt32LE(word) : -1;
    return `it belongs to write ${write} (offset ${at - this.starts[write]!}) but carries write ${found}'s tag`;
  }
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let at = 0; at < n; at += 64 * KiB) {
    const end = Math.min(n, at + 64 * KiB);
    if (a.subarray(at, end).equals(b.subarray(at, end))) continue;
    for (let i = at; i < end; i++) if (a[i] !== b[i]) return i;
  }
  return -1;
}

/** Reads from `r` until `length` bytes came (or it closed); returns them. */
async function receive(r: BaseIOStream, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < length) {
    const data = await r.readBytes(Math.min(256 * KiB, length - got), { partial: true })!;
    parts.push(data);
    got += data.length;
  }
  return Buffer.concat(parts);
}

/**
 * Lets `w` flush everything it accepted, closes it, and returns what `r`
 * reads until the close (a close discards what the stream still holds:
 * Tornado's rule, and not what these cases test).
 */
async function flushAndClose(w: BaseIOStream, r: BaseIOStream): Promise<Buffer> {
  const rest = r.readUntilClose()!;
  await w.write(Buffer.alloc(0));
  w.close();
  return rest;
}

/** Bytes still in the stream's own write buffer (what the kernel, or the ring, has not taken). */
function unflushed(stream: BaseIOStream): number {
  return (stream as unknown as { writeBuffer: { size: number } }).writeBuffer.size;
}

/** Sizes that cross every boundary: 0, 1, odd, a send slot's (4 KiB, 64 KiB) and just past them. */
const SIZES = [1, 1000, 4095, 4096, 4097, 0, 65535, 65536, 65537, 100_000, 3, 250_000];

function define(transport: Transport): void {
  const s = suite(`the write contract over ${transport.name}`);

  s('a write refused by maxWriteBufferSize sent nothing: the peer gets exactly the accepted writes (issue 16)', streamTest(transport, async ({ pair }) => {
    const [w, r] = pair({ writer: { maxWriteBufferSize: 1024 } });
    const ledger = new Ledger(w);
    // The peer does not read: 1000-byte writes until one is refused.
    assert.instance(ledger.fillUntilRefused(1000), StreamBufferFullError);
    assert.ok(!w.closed());
    const before = ledger.acceptedBytes;
    const received = await receive(r, before);
    // The next write's bytes come right after the accepted ones.
    ledger.write(1000);
    ledger.check(Buffer.concat([received, await flushAndClose(w, r)]));
  }, 60));

  s('refused and accepted writes of every size, round after round: the peer gets exactly the accepted ones', streamTest(transport, async ({ pair }) => {
    const [w, r] = pair({ writer: { maxWriteBufferSize: 128 * KiB } });
    const ledger = new Ledger(w);
    let received = 0;
    const parts: Buffer[] = [];
    for (let round = 0; round < 4; round++) {
      const error = ledger.fillUntilRefused((i) => SIZES[(i + round) % SIZES.length]!);
      assert.instance(error, StreamBufferFullError);
      // Read part of what was accepted, then write more into the room made.
      const part = await receive(r, Math.min(ledger.acceptedBytes - received, 3 * MiB + round * 777));
      parts.push(part);
      received += part.length;
    }
    parts.push(await flushAndClose(w, r));
    ledger.check(Buffer.concat(parts));
    assert.ok(ledger.refused >= 4);
  }, 60));

  s('0-byte writes are accepted anywhere, even at the limit, and add nothing', streamTest(transport, async ({ pair }) => {
    const [w, r] = pair({ writer: { maxWriteBufferSize: 64 * KiB } });
    const ledger = new Ledger(w);
    assert.instance(ledger.fillUntilRefused(4096), StreamBufferFullError);
    // Exactly at the limit: top it up, then an empty write still fits.
    const room = 64 * KiB - unflushed(w);
    if (room > 0) assert.not.instance(ledger.write(room), Error);
    const empty = ledger.write(0);
    assert.not.instance(empty, Error, 'a 0-byte write at the limit is accepted');
    assert.not.instance(w.write(''), Error);
    assert.instance(ledger.write(1), StreamBufferFullError, 'one byte more is not');
    const received = await receive(r, ledger.acceptedBytes);
    await (empty as Future<void>);
    for (let i = 0; i < 50; i++) ledger.write(i % 3 === 0 ? 0 : i);
    ledger.check(Buffer.concat([received, await flushAndClose(w, r)]));
  }, 60));

  s('writes larger than every limit: refused whole past maxWriteBufferSize, delivered whole without it', streamTest(transport, async ({ pair }) => {
    const [w, r] = pair({ writer: { maxWriteBufferSize: 64 * KiB } });
    const ledger = new Ledger(w);
    // Larger than the write limit, the ring's send buffer (8 MiB) and its
    // read-ahead: refused though the buffer is empty (Tornado's rule).
    assert.instance(ledger.write(20 * MiB), StreamBufferFullError);
    assert.is(unflushed(w), 0);
    ledger.write(10);
    w.maxWriteBufferSize = null;
    const big = ledger.write(20 * MiB + 3) as Future<void>;
    ledger.write(5);
    const received = await receive(r, ledger.acceptedBytes);
    await big;
    ledger.check(received);
  }, 60));

  s('write() then close(): the peer gets exactly what the kernel (or the ring) took, then EOF', streamTest(transport, async ({ pair }) => {
    const [w, r] = pair();
    const ledger = new Ledger(w);
    // More than the kernel's buffers and the ring's send buffer take while nobody reads.
    for (let i = 0; ledger.acceptedBytes < 12 * MiB; i++) ledger.write(SIZES[i % SIZES.length]! * 3 + 1);
    const flushed = ledger.acceptedBytes - unflushed(w);
    assert.ok(flushed > 0 && flushed < ledger.acceptedBytes, 'some bytes were taken, the rest waits in the stream');
    // The bytes the stream still held are discarded by the close (Tornado's rule); the rest lingers out.
    w.close();
    const received = await r.readUntilClose()!;
    ledger.check(received, { prefix: true, length: flushed });
  }, 60));

  s('several streams past the ring-wide send budget: each peer gets exactly its accepted writes', streamTest(transport, async ({ loop, pair }) => {
    // On io_uring with ring sends, a budget of 512 KiB for the whole ring:
    // past it each socket takes only MIN_SEND_SHARE and its stream keeps the
    // rest (refusing writes past maxWriteBufferSize). Elsewhere: several
    // streams at once.
    const poller = (loop as unknown as { poller: { sendBudget?: SendBudget } }).poller;
    const budget = 512 * KiB;
    if (poller.sendBudget !== undefined) (poller as { sendBudget: SendBudget }).sendBudget = new SendBudget(budget);
    const pairs = Array.from({ length: 4 }, () => pair({ writer: { maxWriteBufferSize: 256 * KiB } }));
    const ledgers = pairs.map(([w]) => new Ledger(w));
    const received: Buffer[][] = pairs.map(() => []);
    for (let round = 0; round < 3; round++) {
      for (const [k, ledger] of ledgers.entries()) ledger.fillUntilRefused((i) => SIZES[(i + k + round) % SIZES.length]!);
      if (round === 0 && poller.sendBudget !== undefined && onRingSends(pairs[0]![0])) {
        // Without the budget the ring would have taken 8 MiB per socket.
        assert.ok(poller.sendBudget.used <= budget + pairs.length * MIN_SEND_SHARE, `the ring holds ${poller.sendBudget.used} bytes`);
      }
      // Each reader takes part of its backlog; the next round fills the room made.
      await Promise.all(pairs.map(async ([, r], k) => {
        const got = received[k]!.reduce((n, b) => n + b.length, 0);
        received[k]!.push(await receive(r, Math.min(ledgers[k]!.acceptedBytes - got, 2 * MiB)));
      }));
    }
    const rests = await Promise.all(pairs.map(([w, r]) => flushAndClose(w, r)));
    for (const [k, ledger] of ledgers.entries()) ledger.check(Buffer.concat([...received[k]!, rests[k]!]));
  }, 60));

  if (transport.duplex) {
    s('writes after the peer resets: the peer got a prefix of the accepted bytes, later writes throw StreamClosedError', streamTest(transport, async ({ pair }) => {
      const [w, r] = pair();
      const ledger = new Ledger(w);
      for (let i = 0; i < 64; i++) ledger.write(64 * KiB);
      const received = await receive(r, 1 * MiB + 5);
      // The reader goes away with bytes unread: TCP and Unix sockets answer with a reset.
      transport.arrangeReset?.(r, w);
      r.close();
      let last: Error | null = null;
      for (let i = 0; i < 10_000 && !w.closed(); i++) {
        const result = ledger.write(SIZES[i % SIZES.length]!);
        if (result instanceof Error) last = result;
        await turns(1);
      }
      assert.ok(w.closed(), 'the writer learned of the reset');
      assert.ok(['EPIPE', 'ECONNRESET'].includes((w.error as OSError).code), String(w.error));
      assert.is(last, null, 'no write threw before the stream closed');
      const after = thrown(() => w.write('x'));
      assert.instance(after, StreamClosedError);
      ledger.check(received, { prefix: true });
    }, 60));
  }
  s.run();
}

define(tcp);
define(unixPair);
define(pipes);
