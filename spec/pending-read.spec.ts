/**
 * streams/pending-read.ts on its own: where each kind of read completes in a
 * read buffer, how far a read looks ahead, the `maxBytes` check, and what
 * releasing a read lets go of. (The streams run these through the whole
 * iostream suite; here each rule is pinned down without an fd.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UnsatisfiableReadError } from '../streams/errors.js';
import { ReadBuffer } from '../streams/read-buffer.js';
import {
  findReadPos, readAheadTarget, releaseRead, searchable, streamingCallbackOf,
  type BytesRead, type DelimiterRead, type IntoRead, type RegexRead, type UntilCloseRead,
} from '../streams/pending-read.js';

const done = { callback: null, future: null };

function buffer(...chunks: string[]): ReadBuffer {
  const b = new ReadBuffer();
  for (const chunk of chunks) b.push(Buffer.from(chunk, 'latin1'));
  return b;
}

const bytes = (left: number, partial = false): BytesRead => ({ kind: 'bytes', ...done, left, partial, streamingCallback: null });
const delimiter = (d: string, maxBytes: number | null = null): DelimiterRead =>
  ({ kind: 'delimiter', ...done, delimiter: Buffer.from(d), scanned: 0, maxBytes });
const regex = (r: RegExp, maxBytes: number | null = null): RegexRead => ({ kind: 'regex', ...done, regex: searchable(r), maxBytes });
const into = (length: number, filled: number, partial = false): IntoRead =>
  ({ kind: 'into', ...done, target: new Uint8Array(length), filled, partial });
const untilClose: UntilCloseRead = { kind: 'untilClose', ...done, streamingCallback: null };

test('a byte read completes once enough is buffered, or with partial once anything is', () => {
  assert.is(findReadPos(bytes(5), buffer('abc')), null);
  assert.is(findReadPos(bytes(5), buffer('abc', 'defg')), 5);
  assert.is(findReadPos(bytes(5, true), buffer('abc')), 3);
  assert.is(findReadPos(bytes(5, true), buffer()), null);
  assert.is(findReadPos(bytes(2, true), buffer('abc')), 2, 'never more than asked for');
  assert.is(findReadPos(bytes(0), buffer()), 0, 'a zero-byte read completes at once');
});

test('a delimiter read ends after the delimiter, also across chunks', () => {
  assert.is(findReadPos(delimiter('\r\n'), buffer('GET /\r', '\nHost')), 7);
  assert.is(findReadPos(delimiter('\n'), buffer()), null);
});

test('a delimiter read resumes its search where a match could still begin', () => {
  const read = delimiter('\r\n');
  const b = buffer('abcd\r');
  assert.is(findReadPos(read, b), null);
  assert.is(read.scanned, 4, 'the trailing \\r may start the delimiter');
  b.push(Buffer.from('\nrest'));
  assert.is(findReadPos(read, b), 6);
});

test('a regex read ends at the end of the first match; g and y flags are dropped', () => {
  assert.is(findReadPos(regex(/\d+;/), buffer('ab12', '3;x')), 6);
  assert.is(findReadPos(regex(/z/), buffer('abc')), null);
  const sticky = searchable(/b/gy);
  assert.is(sticky.flags, '');
  const b = buffer('abab');
  assert.is(findReadPos({ kind: 'regex', ...done, regex: sticky, maxBytes: null }, b), 2);
  assert.is(findReadPos({ kind: 'regex', ...done, regex: sticky, maxBytes: null }, b), 2, 'searched from the start again');
  assert.throws(() => searchable('b' as unknown as RegExp), TypeError);
});

test('maxBytes fails a delimiter or regex read once it is passed without a match', () => {
  assert.is(findReadPos(delimiter('\n', 4), buffer('abc\n')), 4, 'a match ending at maxBytes is fine');
  const error = (() => {
    try {
      findReadPos(delimiter('\n', 4), buffer('abcde'));
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.instance(error, UnsatisfiableReadError);
  assert.match((error as Error).message, 'delimiter "\\n" not found within 4 bytes');
  assert.throws(() => findReadPos(delimiter('\n', 4), buffer('abcdef\n')), (e: unknown) => e instanceof UnsatisfiableReadError);
  assert.throws(() => findReadPos(regex(/;/, 2), buffer('abc')), (e: unknown) => e instanceof UnsatisfiableReadError && /\/;\//.test(e.message));
  assert.is(findReadPos(delimiter('\n', 4), buffer('abc')), null, 'not yet past the limit');
});

test('a readInto completes when its target is full, or with partial once a byte is in', () => {
  assert.is(findReadPos(into(4, 3), buffer('zzzz')), null, 'the read buffer does not count');
  assert.is(findReadPos(into(4, 4), buffer()), 4);
  assert.is(findReadPos(into(4, 1, true), buffer()), 1);
  assert.is(findReadPos(into(4, 0, true), buffer()), null);
});

test('readUntilClose never completes from the buffer', () => {
  assert.is(findReadPos(untilClose, buffer('everything')), null);
});

test('the read-ahead target: the bytes wanted, maxBytes, or everything there', () => {
  assert.is(readAheadTarget(null), 0, 'nobody reading: one read, to notice a close');
  assert.is(readAheadTarget(bytes(10)), 10);
  assert.is(readAheadTarget(delimiter('\n', 100)), 100);
  assert.is(readAheadTarget(delimiter('\n')), null);
  assert.is(readAheadTarget(regex(/x/, 7)), 7);
  assert.is(readAheadTarget(untilClose), null);
  assert.is(readAheadTarget(into(10, 0)), null);
});

test('only byte and until-close reads stream', () => {
  const cb = (): void => {};
  assert.is(streamingCallbackOf({ ...bytes(3), streamingCallback: cb }), cb);
  assert.is(streamingCallbackOf({ ...untilClose, streamingCallback: cb }), cb);
  assert.is(streamingCallbackOf(bytes(3)), null);
  assert.is(streamingCallbackOf(delimiter('\n')), null);
  assert.is(streamingCallbackOf(null), null);
});

test('releasing a regex read drops the text kept for searching; other reads keep it', () => {
  // The latin1 copy is private to ReadBuffer; it is what a release is for
  // (every later push and consume would otherwise keep paying for it).
  const kept = (b: ReadBuffer): string | null => (b as unknown as { latin1: string | null }).latin1;
  const b = buffer('abc');
  assert.is(findReadPos(regex(/c/), b), 3);
  assert.is(kept(b), 'abc');
  releaseRead(bytes(1), b);
  releaseRead(delimiter('x'), b);
  releaseRead(untilClose, b);
  releaseRead(into(1, 0), b);
  assert.is(kept(b), 'abc');
  releaseRead(regex(/c/), b);
  assert.is(kept(b), null);
  b.push(Buffer.from('d'));
  assert.is(findReadPos(regex(/d/), b), 4, 'rebuilt from the chunks when searched again');
  assert.is(b.size, 4, 'releasing consumes nothing');
});

test.run();
