/**
 * reactor/fd-io.ts's readChunk: a small read is copied out of the thread's
 * spare Buffer through a view it keeps while reads have the same length
 * (one typed array per length, not per read), and a large one takes the
 * spare itself. Whatever the sequence of lengths, each result holds exactly
 * the bytes of its own read and is never changed by a later one. A spare
 * that outlived a read is read into at its address (koffi's cheap
 * argument), a fresh one as a Buffer, and either counts as a call straight
 * into a JS Buffer (`ffiCounter.bufferCalls`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EOF, readChunk } from '../reactor/fd-io.js';
import { CHUNK_SIZE } from '../reactor/sys/arena.js';
import { c, close as closeFd, pipe, writeBytes } from '../reactor/sys/libc.js';
import { ffiCounter, type NativeFunction } from '../reactor/sys/ffi.js';
import { fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();

/** `n` bytes, each the low byte of `seed` plus its index. */
function pattern(n: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) bytes[i] = (seed + i) & 0xff;
  return bytes;
}

test('reads of varying lengths, small and large, each return their own bytes and keep them', () => {
  const [r, w] = pipe();
  let writerOpen = true;
  try {
    // Same length twice (the kept view), another length, back again; then
    // a read that takes the spare itself (at least half a chunk) between
    // two of one length: the one after must be copied from the new spare,
    // not through the view kept of the old one.
    const lengths = [64, 64, 17, 64, 1, 64, CHUNK_SIZE / 2, 64, 64, 300, CHUNK_SIZE, 300];
    const results: Array<[Buffer, Buffer]> = [];
    lengths.forEach((n, i) => {
      const sent = pattern(n, i * 31);
      let written = 0;
      while (written < n) written += writeBytes(w, written ? sent.subarray(written) : sent);
      const got = readChunk(r, CHUNK_SIZE);
      assert.ok(got !== null, `read ${i} found the bytes`);
      results.push([sent, got!]);
    });
    results.forEach(([sent, got], i) => {
      assert.is(got.length, sent.length, `read ${i}: its length`);
      assert.ok(got.equals(sent), `read ${i} (${sent.length} bytes) kept its own bytes after the later reads`);
    });
    assert.is(readChunk(r, CHUNK_SIZE), null, 'an empty pipe would block');
    closeFd(w);
    writerOpen = false;
    assert.is(readChunk(r, CHUNK_SIZE), EOF);
  } finally {
    if (writerOpen) closeFd(w);
    closeFd(r);
  }
});

test('a spare that outlived a read is read into at its address; a fresh one as a Buffer', () => {
  const [r, w] = pipe();
  // The table's slots are what every wrapper reads at each call: spied on here.
  const table = c as unknown as Record<'read' | 'readBuf', NativeFunction>;
  const original = { read: table.read, readBuf: table.readBuf };
  const calls = { read: 0, readBuf: 0 };
  table.read = (...args) => { calls.read++; return original.read(...args); };
  table.readBuf = (...args) => { calls.readBuf++; return original.readBuf(...args); };
  try {
    let seed = 0;
    const roundTrip = (n: number): void => {
      const sent = pattern(n, seed += 7);
      let written = 0;
      while (written < n) written += writeBytes(w, written ? sent.subarray(written) : sent);
      const buffersBefore = ffiCounter.bufferCalls;
      const got = readChunk(r, CHUNK_SIZE);
      assert.ok(got !== null && got.equals(sent), `${n} bytes read back`);
      assert.is(ffiCounter.bufferCalls - buffersBefore, 1, 'a read straight into a JS Buffer, counted as one');
    };
    roundTrip(CHUNK_SIZE / 2); // hands whatever spare there was over: the next read has a fresh one
    calls.read = calls.readBuf = 0;
    roundTrip(64);
    assert.equal(calls, { read: 0, readBuf: 1 }, 'the first read into a fresh spare passes the Buffer');
    roundTrip(64);
    roundTrip(100);
    assert.equal(calls, { read: 2, readBuf: 1 }, 'then reads pass its address');
    roundTrip(CHUNK_SIZE / 2); // into the spare at its address, which it then hands over
    assert.equal(calls, { read: 3, readBuf: 1 });
    roundTrip(64);
    assert.equal(calls, { read: 3, readBuf: 2 }, 'a fresh spare again: its first read passes the Buffer');
  } finally {
    table.read = original.read;
    table.readBuf = original.readBuf;
    closeFd(w);
    closeFd(r);
  }
});

test('no fd leaked', () => {
  checkFds();
});

test.run();
