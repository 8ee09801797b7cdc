/**
 * The stream buffers on their own: ReadBuffer's chunk-walking search
 * checked against a plain `Buffer.indexOf` over the concatenation (random
 * data, random chunking, delimiters straddling several chunks), its
 * consumption and compaction; WriteBuffer's gather decisions and per-write
 * Futures.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Future } from '../reactor/future.js';
import { ReadBuffer } from '../streams/read-buffer.js';
import { GATHER_LIMIT, WriteBuffer, type WriteSink } from '../streams/write-buffer.js';

// A small deterministic PRNG, so a failure reproduces.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 0x100000000;
  };
}

function randomBytes(random: () => number, n: number, alphabet = 3): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = 0x61 + Math.floor(random() * alphabet);
  return out;
}

function fill(buffer: ReadBuffer, data: Buffer, random: () => number, maxChunk: number): void {
  for (let i = 0; i < data.length;) {
    const n = 1 + Math.floor(random() * maxChunk);
    buffer.push(data.subarray(i, i + n));
    i += n;
  }
}

test('indexOf matches Buffer.indexOf over random chunkings, with and without a start hint', () => {
  const random = rng(42);
  for (let round = 0; round < 400; round++) {
    const data = randomBytes(random, 1 + Math.floor(random() * 200));
    const needle = randomBytes(random, 1 + Math.floor(random() * 5));
    const buffer = new ReadBuffer();
    fill(buffer, data, random, 1 + Math.floor(random() * 8));
    // Consume a prefix sometimes, so the head chunk has an offset.
    const eaten = random() < 0.5 ? Math.floor(random() * Math.min(10, data.length)) : 0;
    const prefix = buffer.consume(eaten);
    assert.ok(prefix.equals(data.subarray(0, eaten)));
    const rest = data.subarray(eaten);
    assert.is(buffer.indexOf(needle), rest.indexOf(needle), `round ${round}`);
    const from = Math.floor(random() * (rest.length + 1));
    // The hint promises nothing matches before it: compare with a search from there.
    const expected = rest.indexOf(needle, from);
    if (rest.indexOf(needle) >= from || rest.indexOf(needle) === -1) {
      assert.is(buffer.indexOf(needle, from), expected, `round ${round} from ${from}`);
    }
  }
});

test('searches that resume where the last one failed, as a stream makes them', () => {
  const random = rng(7);
  for (let round = 0; round < 200; round++) {
    const needle = randomBytes(random, 1 + Math.floor(random() * 4));
    const data = Buffer.concat([randomBytes(random, Math.floor(random() * 300)), needle, randomBytes(random, 5)]);
    const expected = data.indexOf(needle);
    const buffer = new ReadBuffer();
    let scanned = 0;
    let found = -1;
    for (let i = 0; i < data.length && found < 0;) {
      const n = 1 + Math.floor(random() * 3);
      buffer.push(data.subarray(i, i + n));
      i += n;
      found = buffer.indexOf(needle, scanned);
      scanned = Math.max(0, buffer.size - needle.length + 1);
      if (round % 3 === 0 && found < 0 && buffer.size > 8) {
        // A consumed prefix (a streaming read) invalidates the resume point.
        buffer.consume(1);
        const rest = data.subarray(i - buffer.size, i);
        found = buffer.indexOf(needle);
        assert.is(found, rest.indexOf(needle), `round ${round}`);
        scanned = Math.max(0, buffer.size - needle.length + 1);
        if (found >= 0) break;
      }
    }
    if (round % 3 !== 0) assert.is(found, expected, `round ${round}`);
  }
});

test('a delimiter spread over one-byte chunks is found', () => {
  const buffer = new ReadBuffer();
  for (const byte of Buffer.from('xx\r\n\r\nyy')) buffer.push(Buffer.from([byte]));
  assert.is(buffer.indexOf(Buffer.from('\r\n\r\n')), 2);
  assert.is(buffer.indexOf(Buffer.from('\n\ry')), -1);
  assert.is(buffer.indexOf(Buffer.from('\ny')), 5);
  assert.is(buffer.consume(6).toString(), 'xx\r\n\r\n');
  assert.is(buffer.size, 2);
});

test('consume returns whole chunks without copying and copies across chunks', () => {
  const buffer = new ReadBuffer();
  const a = Buffer.from('hello');
  const b = Buffer.from('world');
  buffer.push(a);
  buffer.push(Buffer.alloc(0));
  buffer.push(b);
  assert.is(buffer.consume(5), a, 'the very chunk');
  buffer.push(Buffer.from('!!'));
  const across = buffer.consume(6);
  assert.is(across.toString(), 'world!');
  assert.is(buffer.consume(0).length, 0);
  assert.instance((() => { try { buffer.consume(5); } catch (e) { return e; } })(), RangeError);
  const target = Buffer.alloc(4, '.');
  assert.instance((() => { try { buffer.consumeInto(target, 0, 2); } catch (e) { return e; } })(), RangeError);
  buffer.consumeInto(target, 1, 1);
  buffer.consumeInto(target, 0, 0);
  assert.is(target.toString(), '.!..');
  assert.is(buffer.size, 0);
});

test('many small chunks are compacted away as they are consumed', () => {
  const buffer = new ReadBuffer();
  const data = Buffer.from('0123456789'.repeat(50));
  for (const byte of data) buffer.push(Buffer.from([byte]));
  let out = '';
  while (buffer.size > 3) out += buffer.consume(3).toString();
  out += buffer.consume(buffer.size).toString();
  assert.is(out, data.toString());
  const internal = buffer as unknown as { chunks: Buffer[]; head: number };
  assert.is(internal.chunks.length, 0);
  // Compaction in the middle of a long run keeps the live chunks.
  for (const byte of data) buffer.push(Buffer.from([byte]));
  buffer.consume(400);
  assert.ok(internal.chunks.length - internal.head === 100 && internal.chunks.length < 500);
  assert.is(buffer.consume(100).toString(), data.subarray(400).toString());
});

test('searchRegex keeps a latin1 view in step with pushes and consumes', () => {
  const buffer = new ReadBuffer();
  assert.is(buffer.searchRegex(/x/), -1, 'empty');
  buffer.push(Buffer.from([0xe9, 0x41]));
  buffer.consume(1);
  buffer.push(Buffer.from('BC\n'));
  assert.is(buffer.searchRegex(/C\n/), 4);
  buffer.push(Buffer.from([0xff, 0x0a]));
  assert.is(buffer.searchRegex(/\xff\n/), 6);
  buffer.consume(2);
  assert.is(buffer.searchRegex(/\xff\n/), 4);
  buffer.forgetText();
  buffer.push(Buffer.from('tail'));
  assert.is(buffer.searchRegex(/tail/), 8);
});

function recordingSink(accept: (offered: number) => number): WriteSink & { calls: string[]; out: Buffer[] } {
  const calls: string[] = [];
  const out: Buffer[] = [];
  return {
    calls,
    out,
    writeToFd(data) {
      const n = accept(data.byteLength);
      calls.push(`one ${data.byteLength}->${n}`);
      out.push(Buffer.from(data.subarray(0, n)));
      return n;
    },
    writeManyToFd(parts, first, offset) {
      const joined = Buffer.concat(parts.slice(first).map((p, i) => (i === 0 ? p.subarray(offset) : p))).subarray(0, GATHER_LIMIT);
      const n = accept(joined.length);
      calls.push(`many ${joined.length}->${n}`);
      out.push(Buffer.from(joined.subarray(0, n)));
      return n;
    },
  };
}

test('WriteBuffer: one write at a time (an echo) reuses its arrays, a lone part is written alone and partly, and a burst lets its arrays go', () => {
  type Internals = { single: Uint8Array | null; parts: Uint8Array[]; waitIndex: number[]; waitFutures: unknown[] };
  const buffer = new WriteBuffer();
  const inside = buffer as unknown as Internals;
  const arrays = [inside.parts, inside.waitIndex, inside.waitFutures];
  const half = recordingSink((offered) => Math.ceil(offered / 2));
  for (let i = 0; i < 100; i++) {
    const data = Buffer.from(`message ${i}`);
    const future = new Future<void>();
    buffer.append(data);
    buffer.addWaiter(future);
    assert.is(inside.single, data, 'a lone part waits outside the array of parts');
    buffer.writeOnce(half);
    buffer.resolveFlushed();
    assert.not.ok(future.done(), 'half written');
    while (buffer.size) buffer.writeOnce(half);
    buffer.resolveFlushed();
    assert.ok(future.done());
    assert.is(inside.single, null, "the caller's buffer is let go");
  }
  // Emptying an array (length = 0) frees its backing store: none was emptied or replaced.
  assert.equal([inside.parts, inside.waitIndex, inside.waitFutures], arrays);
  assert.is(inside.parts.length, 0);
  assert.is(Buffer.concat(half.out).toString(), Array.from({ length: 100 }, (_, i) => `message ${i}`).join(''));
  // A burst of 100 waiters grows the waiters' arrays; once flushed they are let go.
  const burst = Array.from({ length: 100 }, () => new Future<void>());
  for (const future of burst) {
    buffer.append(Buffer.from('y'));
    buffer.addWaiter(future);
  }
  assert.is(buffer.waiting, 100);
  while (buffer.size) buffer.writeOnce(recordingSink((offered) => offered));
  buffer.resolveFlushed();
  assert.ok(burst.every((future) => future.done()));
  assert.is(inside.waitFutures.length, 0);
  assert.is.not(inside.waitFutures, arrays[2]);
});

test('WriteBuffer gathers small parts, writes big ones alone, and resolves each Future in turn', () => {
  const buffer = new WriteBuffer();
  const f1 = new Future<void>();
  const f2 = new Future<void>();
  const f3 = new Future<void>();
  buffer.append(Buffer.from('ab'));
  buffer.addWaiter(f1);
  buffer.append(Buffer.alloc(0));
  buffer.append(Buffer.alloc(GATHER_LIMIT + 10, 1));
  buffer.addWaiter(f2);
  buffer.append(Buffer.from('cd'));
  buffer.addWaiter(f3);
  assert.is(buffer.waiting, 3);
  const sink = recordingSink((offered) => Math.min(offered, 1000));
  buffer.writeOnce(sink);
  assert.equal(sink.calls, ['many 65536->1000']);
  assert.ok(buffer.lastWasShort);
  buffer.resolveFlushed();
  assert.ok(f1.done() && !f2.done());
  const all = recordingSink((offered) => offered);
  while (buffer.size) buffer.writeOnce(all);
  // What is left of the big part is now under the gather limit: it goes out with 'cd'.
  assert.equal(all.calls, [`many ${GATHER_LIMIT + 10 - 998 + 2}->${GATHER_LIMIT + 10 - 998 + 2}`]);
  assert.is(Buffer.concat([...sink.out, ...all.out]).length, 2 + GATHER_LIMIT + 10 + 2);
  buffer.resolveFlushed();
  assert.ok(f2.done() && f3.done());
  assert.is(buffer.waiting, 0);
  // A head part at least as big as a gather is written alone, zero-copy.
  buffer.append(Buffer.alloc(GATHER_LIMIT, 2));
  buffer.append(Buffer.from('x'));
  const big = recordingSink((offered) => offered);
  buffer.writeOnce(big);
  buffer.writeOnce(big);
  assert.equal(big.calls, [`one ${GATHER_LIMIT}->${GATHER_LIMIT}`, 'one 1->1']);
  const late = new Future<void>();
  buffer.addWaiter(late);
  assert.ok(late.done(), 'nothing pending: resolved at once');
  const blocked = recordingSink(() => 0);
  buffer.append(Buffer.from('zz'));
  assert.is(buffer.writeOnce(blocked), 0);
  const failing = new Future<void>();
  buffer.addWaiter(failing);
  const cancelled = new Future<void>();
  buffer.addWaiter(cancelled);
  cancelled.cancel();
  buffer.failAll(new Error('closed'));
  assert.is((failing.exception() as Error).message, 'closed');
  assert.is(buffer.size, 0);
});

test.run();
