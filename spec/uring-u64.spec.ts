/**
 * storeU64 (reactor/uring/u64.ts): the two u32 words an SQE or a provided
 * buffer's entry holds for a native address, low word first, checked
 * against BigInt arithmetic at the edges of the range. Pure JS: no fd.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { storeU64 } from '../reactor/uring/u64.js';
import { fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();

test('every value splits into its low and high words, as BigInt says', () => {
  const values = [0, 1, 0xffffffff, 0x100000000, 0x100000001, 0x7fff_ffff_f000, 0x7f12_3456_789a, Number.MAX_SAFE_INTEGER];
  const words = new Uint32Array(4).fill(0xdeadbeef);
  for (const value of values) {
    storeU64(words, 1, value);
    const big = BigInt(value);
    assert.is(words[1], Number(big & 0xffffffffn), `low word of ${value}`);
    assert.is(words[2], Number(big >> 32n), `high word of ${value}`);
    assert.is(words[0], 0xdeadbeef, 'nothing before');
    assert.is(words[3], 0xdeadbeef, 'nothing after');
  }
});

test('no fd left open', () => {
  checkFds();
});

test.run();
