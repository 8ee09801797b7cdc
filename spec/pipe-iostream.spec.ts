/**
 * streams/pipe-iostream.ts: the shared iostream suite (./iostream.spec.ts)
 * over pipes, again over a bare `BaseIOStream` subclass that implements only
 * the four required methods (so the base class's fallbacks carry the whole
 * suite), and the pipe-specific behaviours.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { close as closeFd, isNonblocking, pipe, readToChunk, setNonblocking, writeBytes } from '../reactor/sys/libc.js';
import { chunk as nativeChunk } from '../reactor/sys/arena.js';
import { BaseIOStream } from '../streams/base-iostream.js';
import { PipeIOStream } from '../streams/pipe-iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import type { StreamOptions } from '../streams/options.js';
import { pipes, streamTest, turns, waiter, type Transport } from './stream-helpers.js';
import { defineStreamSuite } from './stream-suite.js';
import { fdLeakCheck, rejection, thrown } from './helpers.js';

/** A pipe stream written the way a user would: only the required methods. */
class MinimalPipeStream extends BaseIOStream {
  constructor(private readonly fd: number, options?: StreamOptions) {
    super(options);
  }

  fileno(): number {
    return this.fd;
  }

  closeFd(): void {
    closeFd(this.fd);
  }

  writeToFd(data: Uint8Array): number {
    const n = writeBytes(this.fd, data);
    return n < 0 ? 0 : n;
  }

  readFromFd(): Buffer | null {
    const n = readToChunk(this.fd, this.readChunkSize);
    if (n < 0) return null;
    if (n === 0) {
      this.close();
      return null;
    }
    return Buffer.from(nativeChunk.view.subarray(0, n));
  }
}

const minimal: Transport = {
  name: 'a minimal BaseIOStream subclass over a pipe',
  duplex: false,
  hangup: true,
  make(loop, writer, reader) {
    const [r, w] = pipe();
    return [new MinimalPipeStream(w, { ioLoop: loop, ...writer }), new MinimalPipeStream(r, { ioLoop: loop, ...reader })];
  },
};

defineStreamSuite(pipes).run();
defineStreamSuite(minimal).run();

const s = suite('PipeIOStream');
const t = (name: string, body: Parameters<typeof streamTest>[1]) => s(name, streamTest(pipes, body));

s('makes the fd nonblocking and rejects bad fds', () => {
  const check = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  const [r, w] = pipe();
  setNonblocking(r, false);
  const stream = new PipeIOStream(r, { ioLoop: loop });
  assert.ok(isNonblocking(r));
  assert.is(stream.fileno(), r);
  // A number of the wrong value is a RangeError, a wrong type a TypeError (issue 12).
  assert.instance(thrown(() => new PipeIOStream(-1, { ioLoop: loop })), RangeError);
  assert.instance(thrown(() => new PipeIOStream(1.5, { ioLoop: loop })), RangeError);
  assert.instance(thrown(() => new PipeIOStream('3' as never, { ioLoop: loop })), TypeError);
  stream.close();
  closeFd(w);
  loop.close();
  check();
});

s('streams default to IOLoop.current() and need one', () => {
  const check = fdLeakCheck();
  const [r, w] = pipe();
  IOLoop.clearCurrent();
  const previous = IOLoop.current(false);
  assert.is(previous, null);
  const loop = new IOLoop();
  loop.makeCurrent();
  const stream = new PipeIOStream(r);
  assert.is(stream.ioLoop, loop);
  assert.is(stream.maxBufferSize, 104857600);
  assert.is(stream.readChunkSize, 65536);
  assert.is(stream.maxWriteBufferSize, null);
  const small = new PipeIOStream(w, { maxBufferSize: 1000, readChunkSize: 4096 });
  assert.is(small.readChunkSize, 500, 'at most half the buffer limit');
  stream.close();
  small.close();
  loop.close();
  IOLoop.clearCurrent();
  check();
});

t('a writer that exits with data still in the pipe loses none of it', async ({ pair }) => {
  const [w, r] = pair({ reader: { readChunkSize: 1024 } });
  const payload = Buffer.alloc(60 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
  await w.write(payload)!;
  w.close();
  // The reader wakes to data and a hang-up together, and reads it small.
  const parts: Buffer[] = [];
  for (;;) {
    let part: Buffer;
    try {
      part = await r.readBytes(100, { partial: true })!;
    } catch (error) {
      assert.instance(error, StreamClosedError);
      break;
    }
    parts.push(part);
  }
  assert.ok(Buffer.concat(parts).equals(payload));
});

t('the write end notices its reader closing while a write is pending', async ({ pair }) => {
  const [w, r] = pair();
  const closed = waiter();
  w.setCloseCallback(closed.cb);
  const big = w.write(Buffer.alloc(1024 * 1024))!;
  assert.ok(w.writing());
  r.close();
  await closed.done;
  const error = await rejection(big);
  assert.is(error.realError.code, 'EPIPE');
});

t('an idle write end with a close callback notices its reader closing', async ({ pair }) => {
  const [w, r] = pair();
  const closed = waiter();
  w.setCloseCallback(closed.cb);
  await turns(2);
  r.close();
  await closed.done;
  assert.ok(w.closed());
});

t('an unexpected exception in the handler is logged and closes the stream', async ({ loop, expectLog }) => {
  const uncaught = expectLog(/^Uncaught exception, closing connection\./);
  const reported = expectLog(/^Exception in callback/);
  class Broken extends PipeIOStream {
    override getFdError(): Error | null {
      throw new RangeError('broken getFdError');
    }
  }
  const [rfd, wfd] = pipe();
  const reader = new Broken(rfd, { ioLoop: loop });
  const writer = new PipeIOStream(wfd, { ioLoop: loop });
  try {
    const closed = waiter();
    reader.setCloseCallback(closed.cb);
    await turns(1);
    writer.close(); // a hang-up with no data: the handler asks getFdError
    await closed.done;
    assert.instance(reader.error, RangeError);
    uncaught();
    reported();
  } finally {
    reader.close();
    writer.close();
  }
});

s.run();
