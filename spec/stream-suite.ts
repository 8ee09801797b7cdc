/**
 * streams/: Tornado 4.4's TestIOStreamMixin behaviours (plus 4.5's write
 * Futures, 5's readInto, and gale's limits, for-await and asyncDispose) as
 * ONE shared suite over any transport: iostream.spec.ts runs it over TCP on
 * 127.0.0.1 and a Unix socketpair, pipe-iostream.spec.ts over a pipe.
 *
 * A pair is `[writer, reader]`: the writer's bytes arrive at the reader. On
 * sockets both directions work; tests that need the way back are marked
 * `duplex` and are not registered for pipes.
 *
 * Every test runs on a fresh loop under a `runSync` timeout, checks for fd
 * leaks, and fails on any warning or error log it did not expect (Tornado's
 * ExpectLog). No assertion depends on timing: where Tornado's tests sleep,
 * these wait for the event itself (a close callback, a resolved Future) or
 * turn the loop a bounded number of times.
 */
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { Future } from '../reactor/future.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { close as closeFd } from '../reactor/sys/libc.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { pipe, socketpair } from '../reactor/sys/socket.js';
import { StreamBufferFullError, StreamClosedError, UnsatisfiableReadError } from '../streams/errors.js';
import { EACH_TURN, openFds, rejection, thrown, until } from './helpers.js';
import {
  buffered, drain, onCompletions, onRingSends, str, streamTest, turns, waiter, type Ctx, type Transport,
} from './stream-helpers.js';

// ------------------------------------------------------------ the shared suite

/** Registers the shared behaviours for `transport` on a uvu suite. */
export function defineStreamSuite(transport: Transport): Test {
  const s = suite(`iostream over ${transport.name}`);
  const t = (name: string, body: (ctx: Ctx) => Promise<void>, timeout?: number) => s(name, streamTest(transport, body, timeout));
  const duplex = (name: string, body: (ctx: Ctx) => Promise<void>) => { if (transport.duplex) t(name, body); };

  // ---------------------------------------------------------- read_until_close

  t('readUntilClose returns everything written before the close', async ({ pair }) => {
    const [w, r] = pair();
    w.write('hello, ');
    w.write(Buffer.from('world'));
    const data = r.readUntilClose()!;
    await w.write('!')!;
    w.close();
    assert.is(str(await data), 'hello, world!');
    assert.ok(r.closed());
    assert.is(r.error, null);
  });

  t('readUntilClose with a callback', async ({ pair }) => {
    const [w, r] = pair();
    const got = waiter<Buffer>();
    assert.is(r.readUntilClose(got.cb), null);
    w.write('abc');
    w.close();
    assert.is(str(await got.done), 'abc');
  });

  t('readUntilClose with a streaming callback: chunks, then an empty result', async ({ pair }) => {
    const [w, r] = pair();
    const chunks: string[] = [];
    const first = waiter();
    const final = waiter<Buffer>();
    r.readUntilClose({ callback: final.cb, streamingCallback: (chunk) => { chunks.push(str(chunk)); first.cb(); } });
    w.write('1234');
    await first.done;
    w.write('5678');
    w.close();
    assert.is((await final.done).length, 0);
    assert.is(chunks.join(''), '12345678');
  });

  t('readUntilClose with a streaming callback and a Future', async ({ pair }) => {
    const [w, r] = pair();
    const chunks: string[] = [];
    const done = r.readUntilClose({ streamingCallback: (chunk) => chunks.push(str(chunk)) })!;
    w.write('abcd');
    w.write('efgh');
    w.close();
    assert.is((await done).length, 0);
    assert.is(chunks.join(''), 'abcdefgh');
  });

  t('readUntilClose after the peer closed: the rest of the data (streaming too)', async ({ pair }) => {
    for (const streaming of [false, true]) {
      const [w, r] = pair();
      w.write('1234');
      w.close();
      // Reading one byte makes sure the reader has the data; the close
      // callback waits while buffered data could satisfy a later read.
      assert.is(str(await r.readBytes(1)!), '1');
      if (streaming) {
        const chunks: string[] = [];
        const rest = await r.readUntilClose({ streamingCallback: (c) => chunks.push(str(c)) })!;
        assert.is(rest.length, 0);
        assert.is(chunks.join(''), '234');
      } else {
        assert.is(str(await r.readUntilClose()!), '234');
      }
    }
  });

  t('readUntilClose on a closed stream returns what is buffered, at once', async ({ pair }) => {
    const [w, r] = pair();
    w.write('abcdef');
    assert.is(str(await r.readBytes(2)!), 'ab');
    r.close();
    const rest = r.readUntilClose()!;
    assert.ok(rest.done(), 'resolved synchronously');
    assert.is(str(await rest), 'cdef');
    const chunks: string[] = [];
    const got = waiter<Buffer>();
    r.readUntilClose({ callback: got.cb, streamingCallback: (c) => chunks.push(str(c)) });
    assert.is((await got.done).length, 0);
    assert.equal(chunks, []);
  });

  t('readUntilClose with partial data already buffered', async ({ pair }) => {
    const [w, r] = pair();
    w.write('abcdef');
    assert.is(str(await r.readBytes(2)!), 'ab');
    const rest = r.readUntilClose()!;
    w.write('gh');
    w.close();
    assert.is(str(await rest), 'cdefgh');
  });

  t('a streaming readUntilClose gets what a previous readUntil left in the buffer', async ({ pair }) => {
    const [w, r] = pair();
    w.write('abcd\r\nefgh');
    assert.is(str(await r.readUntil('\r\n')!), 'abcd\r\n');
    const chunk = waiter<Buffer>();
    r.readUntilClose({ callback: () => assert.unreachable('the stream is still open'), streamingCallback: chunk.cb });
    assert.is(str(await chunk.done), 'efgh');
  });

  // ---------------------------------------------------------- read_bytes

  t('readBytes with a streaming callback', async ({ pair }) => {
    const [w, r] = pair();
    const chunks: string[] = [];
    const first = waiter();
    const final = waiter<Buffer>();
    r.readBytes(6, { callback: final.cb, streamingCallback: (c) => { chunks.push(str(c)); first.cb(); } });
    w.write('1234');
    await first.done;
    w.write('5678');
    assert.is((await final.done).length, 0);
    assert.equal(chunks, ['1234', '56']);
    // The rest of the last chunk stays buffered.
    assert.is(str(await r.readBytes(2)!), '78');
  });

  t('readBytes partial: what is there, never more than asked; 0 bytes at once', async ({ pair }) => {
    const [w, r] = pair();
    const a = r.readBytes(50, { partial: true })!;
    w.write('hello');
    assert.is(str(await a), 'hello');
    const b = r.readBytes(3, { partial: true })!;
    w.write('world');
    assert.is(str(await b), 'wor');
    const c = r.readBytes(0, { partial: true })!;
    assert.ok(c.done());
    assert.is((await c).length, 0);
    assert.is(str(await r.readBytes(2)!), 'ld');
  });

  t('a done callback that starts the next readBytes at once: each read gets its own bytes and options', async ({ pair }) => {
    // The stream refills one record for consecutive byte reads; a Future's
    // done callbacks run while it settles, before the completing read is over.
    const [w, r] = pair();
    const second = waiter<Buffer>();
    const streamed: string[] = [];
    const first = r.readBytes(3)!;
    first.addDoneCallback(() => {
      r.readBytes(4, { partial: true, callback: second.cb });
      assert.ok(r.reading(), 'the second read is pending');
    });
    w.write('abc');
    assert.is(str(await first), 'abc');
    w.write('defghij');
    assert.is(str(await second.done), 'defg');
    const third = r.readBytes(5, { streamingCallback: (c) => streamed.push(str(c)) })!;
    w.write('kl');
    assert.is((await third).length, 0);
    assert.equal(streamed.join(''), 'hijkl');
    w.write('m');
    assert.is(str(await r.readBytes(1)!), 'm', 'nothing was left over or read twice');
  });

  t('readBytes callback form returns null and runs the callback on the loop', async ({ pair }) => {
    const [w, r] = pair();
    w.write('xyz');
    await turns(1);
    let ran = false;
    const got = waiter<Buffer>();
    assert.is(r.readBytes(3, (data) => { ran = true; got.cb(data); }), null);
    assert.not.ok(ran, 'not run synchronously, even when the data is there');
    assert.is(str(await got.done), 'xyz');
  });

  t('many small reads from a large buffer do not fill the read buffer', async ({ pair }) => {
    const [w, r] = pair({ reader: { maxBufferSize: 10 * 1024 } });
    w.write(Buffer.alloc(100 * 1024, 'a'));
    for (let i = 0; i < 100; i++) {
      const data = await r.readBytes(1024)!;
      assert.is(data.length, 1024);
      assert.ok(buffered(r) <= 10 * 1024);
    }
    assert.not.ok(r.closed());
  });

  t('many small readUntils from a large buffer', async ({ pair }) => {
    const [w, r] = pair({ reader: { maxBufferSize: 10 * 1024 } });
    const line = Buffer.concat([Buffer.alloc(1023, 'a'), Buffer.from('\n')]);
    for (let i = 0; i < 100; i++) w.write(line);
    for (let i = 0; i < 100; i++) {
      const data = await r.readUntil('\n', { maxBytes: 4096 })!;
      assert.ok(data.equals(line));
    }
    assert.not.ok(r.closed());
  });

  // ---------------------------------------------------------- read_until

  t('readUntil across many writes (a 4 MB line)', async ({ pair }) => {
    const [w, r] = pair();
    const kb = Buffer.alloc(1024, 'A');
    for (let i = 0; i < 4096; i++) w.write(kb);
    w.write('\r\n');
    const data = await r.readUntil('\r\n')!;
    assert.is(data.length, 4096 * 1024 + 2);
    assert.is(str(data.subarray(-3)), 'A\r\n');
  });

  t('readUntil finds a delimiter that straddles two reads', async ({ pair }) => {
    const [w, r] = pair();
    const got = r.readUntil('\r\n\r\n')!;
    w.write('head\r\n\r');
    await turns(3);
    assert.not.ok(got.done());
    w.write('\ntail');
    assert.is(str(await got), 'head\r\n\r\n');
    assert.is(str(await r.readBytes(4)!), 'tail');
  });

  t('readUntil maxBytes: extra room, just enough, not enough', async ({ pair, expectLog }) => {
    const [w, r] = pair();
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    let got = r.readUntil('def', { maxBytes: 50 })!;
    w.write('abcdef');
    assert.is(str(await got), 'abcdef');
    got = r.readUntil('def', { maxBytes: 6 })!;
    w.write('abcdef');
    assert.is(str(await got), 'abcdef');
    const logged = expectLog(/^Unsatisfiable read, closing connection: delimiter "def" not found within 5 bytes/);
    const failing = waiter<Buffer>();
    r.readUntil('def', { callback: failing.cb, maxBytes: 5 });
    w.write('123456');
    await closed.done;
    assert.not.ok(failing.done.done(), 'the read callback never runs');
    assert.instance(r.error, UnsatisfiableReadError);
    logged();
  });

  t('readUntil maxBytes with the data already there closes later, not by throwing', async ({ pair, expectLog }) => {
    const [w, r] = pair();
    const logged = expectLog(/Unsatisfiable read/);
    w.write('123456');
    const got = r.readUntil('def', { maxBytes: 5 })!;
    assert.ok(r.closed());
    const error = await rejection(got);
    assert.instance(error, StreamClosedError);
    assert.instance(error.realError, UnsatisfiableReadError);
    logged();
  });

  t('readUntil maxBytes ignores a match that ends past the limit', async ({ pair, expectLog }) => {
    const [w, r] = pair();
    const logged = expectLog(/Unsatisfiable read/);
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    // The delimiter arrives in the same read that passes the limit: still too late.
    r.readUntil('def', { callback: () => assert.unreachable('unsatisfiable'), maxBytes: 5 });
    w.write('abcdef');
    await closed.done;
    logged();
  });

  // ---------------------------------------------------------- read_until_regex

  t('readUntilRegex: byte offsets over latin1, a match across reads, global regexes', async ({ pair }) => {
    const [w, r] = pair();
    w.write(Buffer.from([0xff, 0xfe, 0xe9, 0x61, 0x0a, 0x62]));
    const first = await r.readUntilRegex(/a\n/)!;
    assert.equal([...first], [0xff, 0xfe, 0xe9, 0x61, 0x0a]);
    const second = r.readUntilRegex(/\r?\n\r?\n/g)!;
    w.write('c\r\n');
    await turns(2);
    assert.not.ok(second.done());
    w.write('\r\nd');
    assert.is(str(await second), 'bc\r\n\r\n');
    // The regex read left its text view behind; a plain read still sees the bytes.
    assert.is(str(await r.readBytes(1)!), 'd');
    const third = r.readUntilRegex(/(\d+);/y)!;
    w.write('xx42;');
    assert.is(str(await third), 'xx42;');
  });

  t('readUntilRegex maxBytes: room, exact, too far', async ({ pair, expectLog }) => {
    const [w, r] = pair();
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    let got = r.readUntilRegex(/def/, { maxBytes: 50 })!;
    w.write('abcdef');
    assert.is(str(await got), 'abcdef');
    got = r.readUntilRegex(/def/, { maxBytes: 6 })!;
    w.write('abcdef');
    assert.is(str(await got), 'abcdef');
    const logged = expectLog(/^Unsatisfiable read, closing connection: delimiter \/def\/ not found within 5 bytes/);
    r.readUntilRegex(/def/, { callback: () => assert.unreachable('unsatisfiable'), maxBytes: 5 });
    w.write('123456');
    await closed.done;
    logged();
  });

  t('readUntilRegex maxBytes inline and with the match past the limit', async ({ pair, expectLog }) => {
    const logged = expectLog(/Unsatisfiable read/);
    {
      const [w, r] = pair();
      w.write('123456');
      const error = await rejection(r.readUntilRegex(/def/, { maxBytes: 5 })!);
      assert.instance(error.realError, UnsatisfiableReadError);
    }
    {
      const [w, r] = pair();
      const closed = waiter();
      r.setCloseCallback(closed.cb);
      r.readUntilRegex(/def/, { callback: () => assert.unreachable('unsatisfiable'), maxBytes: 5 });
      w.write('abcdef');
      await closed.done;
    }
    logged();
  });

  // ---------------------------------------------------------- read_into

  t('readInto fills the buffer, from buffered data first, then from the fd', async ({ pair }) => {
    const [w, r] = pair();
    w.write('abcdef');
    assert.is(str(await r.readBytes(1)!), 'a'); // 'bcdef' stays buffered
    const small = Buffer.alloc(3);
    const n = r.readInto(small);
    assert.ok(n.done(), 'satisfied from the buffer at once');
    assert.is(await n, 3);
    assert.is(str(small), 'bcd');
    const target = Buffer.alloc(10);
    const filling = r.readInto(target);
    w.write('0123456');
    await turns(2);
    assert.not.ok(filling.done(), '1 + 7 bytes is not 10');
    w.write('789');
    assert.is(await filling, 10);
    assert.is(str(target), 'ef01234567');
    assert.is(str(await r.readBytes(2)!), '89');
  });

  t('readInto partial, and a large target read straight from the fd', async ({ pair }) => {
    const [w, r] = pair();
    const partial = Buffer.alloc(100);
    const p = r.readInto(partial, true);
    w.write('hey');
    assert.is(await p, 3);
    assert.is(str(partial.subarray(0, 3)), 'hey');
    const big = Buffer.alloc(300 * 1024);
    const payload = Buffer.alloc(big.length);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const filling = r.readInto(big);
    w.write(payload);
    assert.is(await filling, big.length);
    assert.ok(big.equals(payload));
    assert.is(await r.readInto(Buffer.alloc(0)), 0);
  });

  t('readInto on a closing stream: partial data fails a full read', async ({ pair }) => {
    const [w, r] = pair();
    const target = Buffer.alloc(10);
    const filling = r.readInto(target);
    w.write('1234');
    w.close();
    const error = await rejection(filling);
    assert.instance(error, StreamClosedError);
    assert.is(error.realError, null);
  });

  // ---------------------------------------------------------- closing

  t('the close callback runs after pending read callbacks', async ({ pair }) => {
    const [w, r] = pair();
    const closed = waiter();
    const chunks: string[] = [];
    r.setCloseCallback(() => { chunks.push('closed'); closed.cb(); });
    w.write('12');
    r.readBytes(1, (first) => {
      chunks.push(str(first));
      r.readBytes(1, (second) => chunks.push(str(second)));
      w.close();
    });
    await closed.done;
    assert.equal(chunks, ['1', '2', 'closed']);
  });

  t('the close callback waits for buffered data read through Futures', async ({ pair }) => {
    const [w, r] = pair();
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    w.write('12');
    const chunks = [str(await r.readBytes(1)!)];
    w.close();
    chunks.push(str(await r.readBytes(1)!));
    assert.equal(chunks, ['1', '2']);
    await closed.done;
  });

  t('the close callback runs with a read pending that can never complete', async ({ pair }) => {
    const [w, r] = pair();
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    w.write('OK\r\n');
    assert.is(str(await r.readUntil('\r\n')!), 'OK\r\n');
    w.close();
    r.readUntil('\r\n', () => assert.unreachable('no more lines'));
    await closed.done;
    assert.not.ok(r.reading());
  });

  t('an idle stream with a close callback notices the peer closing', async ({ pair }) => {
    const [w, r] = pair();
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    w.write('a');
    assert.is(str(await r.readBytes(1)!), 'a');
    assert.not.ok(closed.done.done());
    w.close();
    await closed.done;
    assert.ok(r.closed());
    assert.is(r.error, null);
  });

  t('data in the OS buffers is still delivered after the peer closed', async ({ pair }) => {
    const [w, r] = pair({ reader: { readChunkSize: 256 } });
    w.write(Buffer.alloc(512, 'A'));
    assert.ok((await r.readBytes(256)!).equals(Buffer.alloc(256, 'A')));
    w.close();
    assert.ok((await r.readBytes(256)!).equals(Buffer.alloc(256, 'A')));
    assert.is((await r.readUntilClose()!).length, 0);
  });

  t('EOF in the middle of a read fails it; what was buffered stays readable', async ({ pair }) => {
    const [w, r] = pair();
    const pending = r.readBytes(10)!;
    w.write('12345');
    w.close();
    const error = await rejection(pending);
    assert.instance(error, StreamClosedError);
    assert.is(error.realError, null, 'a clean EOF has no cause');
    assert.ok(r.closed());
    assert.is(str(await r.readBytes(5)!), '12345');
    const again = thrown(() => r.readBytes(1));
    assert.instance(again, StreamClosedError);
  });

  t('reading or writing a closed stream throws StreamClosedError synchronously', async ({ pair }) => {
    const [w, r] = pair();
    w.close();
    assert.instance(thrown(() => w.write('x')), StreamClosedError);
    assert.instance(thrown(() => w.readBytes(1)), StreamClosedError);
    assert.instance(thrown(() => w.readUntil('\n')), StreamClosedError);
    assert.instance(thrown(() => w.readUntilRegex(/x/)), StreamClosedError);
    assert.instance(thrown(() => w.readInto(Buffer.alloc(1))), StreamClosedError);
    assert.not.ok(w.reading(), 'a read that could not start leaves nothing pending');
    const cause = new Error('cause');
    r.close(cause);
    const error = thrown(() => r.write('x'));
    assert.is(error.realError, cause);
    assert.is(r.error, cause);
  });

  t('close() fails every outstanding Future with StreamClosedError and closes the fd once', async ({ pair }) => {
    const [w, r] = pair({ writer: { maxWriteBufferSize: 64 * 1024 * 1024 } });
    const read = r.readBytes(1)!;
    const writes = [w.write(Buffer.alloc(16 * 1024 * 1024)), w.write('x'), w.write('y')];
    assert.ok(w.writing());
    const fd = w.fileno();
    assert.ok(openFds().has(fd));
    const closed = waiter();
    w.setCloseCallback(closed.cb);
    w.close();
    w.close();
    r.close();
    for (const future of [read, ...writes]) {
      const error = await rejection(future!);
      assert.instance(error, StreamClosedError);
      assert.is(error.realError, null);
    }
    await closed.done;
    assert.not.ok(w.writing());
    assert.ok(w.closed());
    // Nothing has opened an fd since, so the number is free again. With ring
    // sends the close lingers until the SENDs queued at close are over (they
    // fail at once here: the peer is closed), and only then is the fd closed.
    if (onRingSends(w)) await until(() => !openFds().has(fd), `fd ${fd} closed`, EACH_TURN);
    assert.not.ok(openFds().has(fd));
  });

  t('a failed Future nobody awaits does not reach unhandledRejection', async ({ pair }) => {
    const [w, r] = pair();
    let unhandled: unknown = null;
    const onUnhandled = (reason: unknown) => { unhandled = reason; };
    process.on('unhandledRejection', onUnhandled);
    try {
      r.readBytes(1);
      w.write(Buffer.alloc(8 * 1024 * 1024));
      w.close();
      r.close();
      await turns(3);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.is(unhandled, null);
  });

  t('a peer hang-up on an idle stream with unread data closes it; the data stays readable', async ({ pair }) => {
    const [w, r] = pair();
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    w.write('first');
    assert.is(str(await r.readBytes(1)!), 'f');
    // 'irst' is buffered and nobody reads: READ is dropped on the next event.
    w.write('second');
    await turns(3);
    w.close();
    if (transport.hangup) {
      await closed.done;
      assert.ok(r.closed());
    }
    assert.is(str(await r.readBytes(4)!), 'irst');
    assert.is(str(await r.readUntilClose()!), 'second');
    await closed.done;
  });

  // ---------------------------------------------------------- errors

  t('an error on an inline read is thrown synchronously, without logging', async ({ pair }) => {
    const [w, r] = pair();
    void w;
    // Close the fd behind the stream's back (Tornado's test does os.close too).
    closeFd(r.fileno());
    const error = thrown(() => r.readBytes(1, () => assert.unreachable('no data')));
    assert.instance(error, OSError);
    assert.is(error.code, 'EBADF');
    assert.ok(r.closed());
    assert.is(r.error, error);
    assert.not.ok(r.reading());
  });

  t('an error on an asynchronous read is logged once and closes the stream', async ({ pair, expectLog, logs }) => {
    const [w, r] = pair();
    const logged = expectLog(/^error on read: /);
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    r.readBytes(1, () => assert.unreachable('the read fails'));
    const original = r.readFromFd.bind(r);
    r.readFromFd = () => {
      closeFd(r.fileno());
      const data = original();
      // On completions the byte was received before the fd was closed, so
      // the read cannot fail (docs/uring.md): report what read(2) would have.
      if (onCompletions(r)) throw new OSError(E.EBADF, 'read');
      return data;
    };
    w.write('a');
    await closed.done;
    logged();
    assert.is(r.error && (r.error as OSError).code, 'EBADF');
    assert.is(logs.filter(([, text]) => /error on read/.test(text)).length, 1);
  });

  t('a read callback that throws closes the stream with that error', async ({ pair, expectLog, logs }) => {
    const [w, r] = pair();
    const logged = expectLog(/Uncaught exception, closing connection|Exception in callback/);
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    class Boom extends Error {}
    r.readBytes(1, () => { throw new Boom('boom'); });
    w.write('1');
    await closed.done;
    assert.instance(r.error, Boom);
    logged();
    assert.ok(logs.some(([level, text]) => level === 'error' && /Uncaught exception, closing connection/.test(text)));
  });

  t('maxBufferSize: an asynchronous overflow logs, closes, and fails the read', async ({ pair, expectLog }) => {
    const [w, r] = pair({ reader: { maxBufferSize: 1000 } });
    const logged = expectLog(/^Reached maximum read buffer size$/);
    const read = r.readBytes(5000)!;
    w.write(Buffer.alloc(5000, 'z'));
    const error = await rejection(read);
    assert.instance(error, StreamClosedError);
    assert.instance(error.realError, StreamBufferFullError);
    assert.instance(r.error, StreamBufferFullError);
    assert.ok(r.closed());
    logged();
  });

  t('maxBufferSize: an inline overflow throws StreamBufferFullError (Tornado 4.4)', async ({ pair, expectLog }) => {
    const [w, r] = pair({ reader: { maxBufferSize: 1000 } });
    const logged = expectLog(/^Reached maximum read buffer size$/);
    const closed = waiter();
    r.setCloseCallback(closed.cb);
    w.write(Buffer.alloc(5000, 'z'));
    assert.instance(thrown(() => r.readBytes(5000)), StreamBufferFullError);
    assert.ok(r.closed());
    await closed.done;
    logged();
    // The same limit guards readUntil and readUntilClose.
    const [w2, r2] = pair({ reader: { maxBufferSize: 1000 } });
    const line = r2.readUntil('\n')!;
    const all = [line];
    w2.write(Buffer.alloc(3000, 'y'));
    assert.instance((await rejection(line)).realError, StreamBufferFullError);
    // readUntilClose still gets what was buffered when the stream closed (Tornado).
    const [w3, r3] = pair({ reader: { maxBufferSize: 1000 } });
    const rest = r3.readUntilClose()!;
    w3.write(Buffer.alloc(3000, 'y'));
    const got = await rest;
    assert.ok(got.length > 1000 && got.length <= 1000 + r3.readChunkSize);
    assert.instance(r3.error, StreamBufferFullError);
    void all;
  });

  t('maxWriteBufferSize: a write that would pass it throws and queues nothing', async ({ pair }) => {
    const limit = 1024 * 1024;
    const [w, r] = pair({ writer: { maxWriteBufferSize: limit } });
    // Fill the kernel buffers until writes start to queue.
    let written64k = 0;
    while (!w.writing()) {
      w.write(Buffer.alloc(64 * 1024, 1));
      written64k++;
    }
    const error = thrown(() => w.write(Buffer.alloc(limit + 1)));
    assert.instance(error, StreamBufferFullError);
    assert.ok(!w.closed(), 'the stream stays open');
    const queued = (w as unknown as { writeBuffer: { size: number } }).writeBuffer.size;
    assert.ok(queued <= limit);
    // What fits is still accepted, and everything flushes once the reader drains.
    const fits = w.write(Buffer.alloc(limit - queued, 2))!;
    let total = await drain(r, () => fits.done());
    await fits;
    if (!onCompletions(r) && !onRingSends(w)) {
      assert.ok(total > limit);
    } else {
      // On completions the reader's RECV reads ahead (HIGH_WATER) and the
      // writer's ring send buffer takes up to 8 MiB at once, so the Future
      // can resolve before the reader has read past the limit
      // (docs/uring.md): every byte written still arrives.
      const written = written64k * 64 * 1024 + limit - queued;
      while (total < written) total += (await r.readBytes(256 * 1024, { partial: true })!).length;
      assert.is(total, written);
    }
  });

  t('writing to a closed peer closes the stream quietly (EPIPE/ECONNRESET)', async ({ pair }) => {
    const [w, r] = pair();
    r.close();
    let last: Future<void> | null = null;
    while (!w.closed()) {
      last = w.write('x');
      await turns(1);
    }
    assert.ok(['EPIPE', 'ECONNRESET'].includes((w.error as OSError).code), String(w.error));
    const error = await rejection(last!);
    assert.instance(error, StreamClosedError);
    assert.is(error.realError, w.error);
  });

  if (transport.arrangeReset) {
    t('a connection reset on read closes the stream quietly, the cause kept', async ({ pair }) => {
      const [w, r] = pair();
      const read = r.readBytes(100)!;
      transport.arrangeReset!(w, r);
      await turns(2);
      w.close();
      const error = await rejection(read);
      assert.instance(error, StreamClosedError);
      assert.is((error.realError as OSError).code, 'ECONNRESET');
      assert.is(r.error, error.realError);
    });
  }

  // ---------------------------------------------------------- writes

  t('write accepts Buffers, Uint8Array views and strings (UTF-8)', async ({ pair }) => {
    const [w, r] = pair();
    const backing = Buffer.from('xxhelloxx');
    w.write(backing.subarray(2, 7));
    w.write(new Uint8Array([0x20]));
    w.write('é');
    assert.equal([...await r.readBytes(8)!], [...Buffer.from('hello é')]);
    assert.instance(thrown(() => w.write(42 as unknown as string)), TypeError);
  });

  t('write of zero bytes: the callback runs and the Future resolves', async ({ pair }) => {
    const [w] = pair();
    const called = waiter();
    assert.is(w.write(Buffer.alloc(0), called.cb), null);
    await called.done;
    const future = w.write('')!;
    assert.ok(future.done());
    await future;
  });

  t('each write Future resolves when its own bytes are flushed, in order', async ({ pair }) => {
    const [w, r] = pair();
    const size = 16 * 1024 * 1024;
    const order: string[] = [];
    const first = w.write(Buffer.alloc(size, 1))!;
    const second = w.write(Buffer.alloc(size, 2))!;
    first.addDoneCallback(() => order.push('first'));
    second.addDoneCallback(() => order.push('second'));
    assert.ok(w.writing());
    let sawFirstOnly = false;
    const total = await drain(r, () => {
      if (first.done() && !second.done()) sawFirstOnly = true;
      return second.done();
    });
    await first;
    await second;
    assert.ok(sawFirstOnly, 'the first write resolved while the second was still pending');
    assert.equal(order, ['first', 'second']);
    assert.ok(total >= 2 * size - 64 * 1024 * 1024);
    assert.not.ok(w.writing());
  });

  t('a write callback runs once the whole buffer is flushed', async ({ pair }) => {
    const [w, r] = pair();
    const done = waiter();
    w.write(Buffer.alloc(4 * 1024 * 1024, 3));
    w.write('end', done.cb);
    const reading = r.readBytes(4 * 1024 * 1024 + 3)!;
    await done.done;
    const data = await reading;
    assert.is(str(data.subarray(-3)), 'end');
  });

  t('large writes and reads keep every byte in order', async ({ pair }) => {
    const [w, r] = pair();
    const size = 8 * 1024 * 1024 + 17;
    const payload = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 31 + (i >> 11)) & 0xff;
    const written = w.write(payload)!;
    const got = await r.readBytes(size)!;
    await written;
    assert.ok(got.equals(payload));
  });

  t('many small writes are coalesced and arrive intact', async ({ pair }) => {
    const [w, r] = pair();
    const parts: Buffer[] = [];
    for (let i = 0; i < 20000; i++) parts.push(Buffer.from(`${i},`));
    // Once the kernel refuses, later writes only queue: no FFI call each.
    let accepted = parts.length;
    const before = ffiCounter.calls;
    for (let i = 0; i < parts.length; i++) {
      w.write(parts[i]!);
      if (accepted === parts.length && w.writing()) accepted = i;
    }
    // One call per write the kernel took, one for the write it refused, one to register for WRITE.
    assert.ok(ffiCounter.calls - before <= accepted + 2, `${ffiCounter.calls - before} FFI calls, ${accepted} writes taken at once`);
    const expected = Buffer.concat(parts);
    const got = await r.readBytes(expected.length)!;
    assert.ok(got.equals(expected));
  });

  // ---------------------------------------------------------- flow control

  t('flow control: a reader with a 5 MB limit reads 10 MB, 1 MB at a time', async ({ pair }) => {
    const MB = 1024 * 1024;
    const [w, r] = pair({ reader: { maxBufferSize: 5 * MB } });
    w.write(Buffer.alloc(10 * MB, 'a'));
    assert.is((await r.readBytes(MB)!).length, MB);
    // The reader pauses: at most one more chunk is pulled into its buffer
    // (an idle stream with an empty buffer reads once, to notice a close).
    const before = buffered(r);
    await turns(20);
    assert.ok(buffered(r) <= Math.max(before, r.readChunkSize), `${buffered(r)} bytes buffered while paused`);
    for (let i = 0; i < 9; i++) assert.is((await r.readBytes(MB)!).length, MB);
    assert.not.ok(r.closed());
  });

  // ---------------------------------------------------------- misc API

  t('a second read while one is pending is an error', async ({ pair }) => {
    const [, r] = pair();
    r.readBytes(1);
    assert.ok(r.reading());
    assert.match(thrown(() => r.readUntil('\n')).message, /Already reading/);
    assert.match(thrown(() => r.readInto(Buffer.alloc(1))).message, /Already reading/);
  });

  t('argument checks', async ({ pair }) => {
    const [, r] = pair();
    assert.instance(thrown(() => r.readBytes(-1)), RangeError);
    assert.match(thrown(() => r.readBytes(1.5)).message, /^numBytes must be a non-negative integer, got 1\.5$/);
    assert.match(thrown(() => r.readBytes('5' as never)).message, /^numBytes must be .* got string "5"$/);
    assert.instance(thrown(() => r.readUntil('\n', { maxBytes: -1 })), RangeError);
    assert.instance(thrown(() => r.readBytes(1, 'x' as never)), TypeError);
    assert.instance(thrown(() => r.readBytes(1, { callback: 3 as never })), TypeError);
    assert.instance(thrown(() => r.readUntilRegex('x' as never)), TypeError);
    assert.instance(thrown(() => r.readInto([] as never)), TypeError);
    assert.instance(thrown(() => r.readUntil(null as never)), TypeError);
    assert.not.ok(r.reading());
  });

  t('for await yields the data until EOF, then ends cleanly', async ({ pair }) => {
    const [w, r] = pair();
    const payload = Buffer.alloc(200 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
    w.write(payload)!.then(() => w.close());
    const chunks: Buffer[] = [];
    for await (const chunk of r) chunks.push(chunk);
    assert.ok(Buffer.concat(chunks).equals(payload));
    assert.ok(chunks.every((c) => c.length <= r.readChunkSize));
    assert.ok(r.closed());
  });

  t('for await: break leaves the stream open; an error close throws', async ({ pair }) => {
    const [w, r] = pair();
    w.write('abc');
    for await (const chunk of r) {
      assert.is(str(chunk), 'abc');
      break;
    }
    assert.not.ok(r.closed());
    assert.not.ok(r.reading());
    w.write('def');
    assert.is(str(await r.readBytes(3)!), 'def');
    const boom = new Error('boom');
    const seen: string[] = [];
    const iterate = (async () => {
      for await (const chunk of r) {
        seen.push(str(chunk));
        r.close(boom);
      }
    })();
    w.write('ghi');
    const error = await rejection(iterate);
    assert.instance(error, StreamClosedError);
    assert.is(error.realError, boom);
    assert.equal(seen, ['ghi']);
  });

  t('asyncDispose closes the stream (await using)', async ({ pair }) => {
    const [w, r] = pair();
    {
      await using disposable = w;
      disposable.write('bye');
    }
    assert.ok(w.closed());
    assert.is(str(await r.readUntilClose()!), 'bye');
    await r[Symbol.asyncDispose]();
    assert.ok(r.closed());
  });

  t('reading() and writing() report pending work; setNodelay never throws', async ({ pair }) => {
    const [w, r] = pair();
    assert.not.ok(r.reading());
    const read = r.readBytes(2)!;
    assert.ok(r.reading());
    w.write('12');
    await read;
    assert.not.ok(r.reading());
    assert.not.ok(w.writing());
    w.setNodelay(true);
    w.setNodelay(false);
    w.close();
    w.setNodelay(true);
  });

  return s;
}
