/**
 * Tornado 4.4's TestIOStreamMixin (tornado/test/iostream_test.py), ported
 * call for call, shared by the runs that Tornado makes of it: over plain
 * IOStreams (spec/tornado-iostream.spec.ts) and over SSLIOStreams, with an
 * options dict and with an SSLContext (spec/tornado-iostream-ssl.spec.ts).
 * Which mixin cases are left out, and what is ported with a change, is
 * listed at the top of spec/tornado-iostream.spec.ts.
 */
import * as assert from 'uvu/assert';
import { sleep } from '../reactor/gen.js';
import { genLog, appLog } from '../reactor/log.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { close as closeFd } from '../reactor/sys/libc.js';
import { addAcceptHandler } from '../net/netutil.js';
import { AF_INET, SOCK_STREAM, Socket, type Address } from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import type { StreamOptions } from '../streams/options.js';
import { GaiError } from '../reactor/sys/getaddrinfo.js';
import { onCompletions } from './stream-helpers.js';
import { AsyncTestCase, ExpectLog, bindUnusedPort, refusingPort, testCase } from './tornado-testing.js';

class ZeroDivisionError extends Error {}
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/**
 * Tornado's TestIOStreamMixin: a case class that makes its stream pairs with
 * `makeServerIostream`/`makeClientIostream`, which each run overrides.
 */
export abstract class IOStreamMixinCase extends AsyncTestCase {
  connectCalled = false;

  abstract makeServerIostream(connection: Socket, options: StreamOptions): IOStream;

  abstract makeClientIostream(connection: Socket, options: StreamOptions): IOStream;

  async makeIostreamPair(options: StreamOptions = {}): Promise<[IOStream, IOStream]> {
    const [listener, port] = bindUnusedPort();
    const streams: [IOStream | null, IOStream | null] = [null, null];
    const acceptCallback = (connection: Socket, _address: Address): void => {
      streams[0] = this.makeServerIostream(connection, options);
      this.stop();
    };
    const connectCallback = (): void => {
      streams[1] = clientStream;
      this.stop();
    };
    const remove = addAcceptHandler(listener, acceptCallback, this.ioLoop);
    const clientStream = this.makeClientIostream(new Socket(), options);
    clientStream.connect(['127.0.0.1', port], connectCallback);
    await this.wait(() => streams.every(Boolean));
    remove(); // io_loop.remove_handler(listener.fileno())
    listener.close();
    return streams as [IOStream, IOStream];
  }
}

/**
 * Registers the mixin's cases under `className`, each on a fresh case from
 * `make`; the cases named in `leftOut` are not registered (the run's spec
 * file says why).
 */
export function defineIOStreamMixinTests<C extends IOStreamMixinCase>(className: string, make: () => C,
  leftOut: ReadonlySet<string> = new Set()): void {
  const register = testCase(className, make);
  const t = (name: string, body: (self: C) => unknown): void => {
    if (!leftOut.has(name)) register(name, body);
  };

  t('test_streaming_callback_with_data_in_buffer', async (self) => {
    const [server, client] = await self.makeIostreamPair();
    client.write('abcd\r\nefgh');
    server.readUntil('\r\n', self.stop);
    let data = await self.wait();
    assert.equal(data, b('abcd\r\n'));
    const closedCallback = (): void => self.fail(new Error('closed_callback ran'));
    server.readUntilClose({ callback: closedCallback, streamingCallback: self.stop });
    data = await self.wait();
    assert.equal(data, b('efgh'));
    server.close();
    client.close();
  });

  t('test_write_zero_bytes', async (self) => {
    // Attempting to write zero bytes should run the callback without
    // going into an infinite loop.
    const [server, client] = await self.makeIostreamPair();
    server.write('', self.stop);
    await self.wait();
    server.close();
    client.close();
  });

  t('test_connection_refused', async (self) => {
    // When a connection is refused, the connect callback should not
    // be run.  (The kqueue IOLoop used to behave differently from the
    // epoll IOLoop in this respect)
    const [cleanupFunc, port] = refusingPort();
    self.addCleanup(cleanupFunc);
    const stream = new IOStream(new Socket(), { ioLoop: self.ioLoop });
    self.connectCalled = false;
    const connectCallback = (): void => {
      self.connectCalled = true;
      self.stop();
    };
    stream.setCloseCallback(self.stop);
    // log messages vary by platform and ioloop implementation
    const expectation = new ExpectLog(genLog, '.*', false);
    stream.connect(['127.0.0.1', port], connectCallback);
    await self.wait();
    expectation.exit();
    assert.not.ok(self.connectCalled);
    assert.instance(stream.error, OSError);
    assert.is((stream.error as OSError).code, 'ECONNREFUSED');
  });

  t('test_gaierror', async (self) => {
    // Test that IOStream sets its exc_info on getaddrinfo error.
    // (Tornado mocks socket.connect; gale resolves the name itself, so a real
    // unresolvable name gives a real GaiError. Regression, issue 10: it was
    // an OSError EINVAL.)
    const s = new Socket(AF_INET, SOCK_STREAM, 0);
    const stream = new IOStream(s, { ioLoop: self.ioLoop });
    stream.setCloseCallback(self.stop);
    const expectation = new ExpectLog(genLog, 'Connect error');
    stream.connect(['nowhere.invalid', 80], self.stop);
    await self.wait();
    assert.instance(stream.error, GaiError);
    expectation.exit();
  });

  t('test_gaierror_future', (self) => self.genTest(async () => {
    // gale addition (issue 10): with a Future, the connect fails with
    // StreamClosedError whose realError is the GaiError, and nothing is logged.
    const stream = new IOStream(new Socket(), { ioLoop: self.ioLoop });
    let raised: unknown = null;
    try {
      await stream.connect(['nowhere.invalid', 80]);
    } catch (error) {
      raised = error;
    }
    assert.instance(raised, StreamClosedError);
    assert.instance(raised, OSError); // Tornado: StreamClosedError is an IOError
    assert.instance((raised as StreamClosedError).realError, GaiError);
    assert.match(((raised as StreamClosedError).realError as GaiError).code, /^EAI_/);
    assert.ok(stream.closed());
  }));

  t('test_read_callback_error', async (self) => {
    // Test that IOStream sets its exc_info when a read callback throws
    const [server, client] = await self.makeIostreamPair();
    try {
      server.setCloseCallback(self.stop);
      const expectation = new ExpectLog(appLog, '(Uncaught exception|Exception in callback)');
      server.readBytes(1, () => { throw new ZeroDivisionError('division by zero'); });
      client.write('1');
      await self.wait();
      expectation.exit();
      assert.instance(server.error, ZeroDivisionError);
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_streaming_callback', async (self) => {
    const [server, client] = await self.makeIostreamPair();
    try {
      const chunks: Buffer[] = [];
      const finalCalled: boolean[] = [];
      const streamingCallback = (data: Buffer): void => {
        chunks.push(data);
        self.stop();
      };
      const finalCallback = self.guard((data: Buffer) => {
        assert.is(data.length, 0);
        finalCalled.push(true);
        self.stop();
      });
      server.readBytes(6, { callback: finalCallback, streamingCallback });
      client.write('1234');
      await self.wait(() => chunks.length > 0);
      client.write('5678');
      await self.wait(() => finalCalled.length > 0);
      assert.equal(chunks, [b('1234'), b('56')]);
      // the rest of the last chunk is still in the buffer
      server.readBytes(2, self.stop);
      const data = await self.wait();
      assert.equal(data, b('78'));
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_streaming_until_close', async (self) => {
    const [server, client] = await self.makeIostreamPair();
    try {
      const chunks: Buffer[] = [];
      const closed = [false];
      const streamingCallback = (data: Buffer): void => {
        chunks.push(data);
        self.stop();
      };
      const closeCallback = self.guard((data: Buffer) => {
        assert.ok(data.length === 0, String(data));
        closed[0] = true;
        self.stop();
      });
      client.readUntilClose({ callback: closeCallback, streamingCallback });
      server.write('1234');
      await self.wait(() => chunks.length === 1);
      server.write('5678', self.stop);
      await self.wait();
      server.close();
      await self.wait(() => closed[0]!);
      assert.equal(chunks, [b('1234'), b('5678')]);
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_streaming_until_close_future', async (self) => {
    const [server, client] = await self.makeIostreamPair();
    try {
      const chunks: Buffer[] = [];
      const clientTask = async (): Promise<void> => {
        await client.readUntilClose({ streamingCallback: (chunk) => chunks.push(chunk) });
      };
      const serverTask = async (): Promise<void> => {
        await server.write('1234');
        await sleep(0.01);
        await server.write('5678');
        server.close();
      };
      const f = async (): Promise<void> => {
        await Promise.all([clientTask(), serverTask()]);
      };
      await self.ioLoop.runSync(f);
      assert.equal(chunks, [b('1234'), b('5678')]);
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_delayed_close_callback', async (self) => {
    // The scenario:  Server closes the connection while there is a pending
    // read that can be served out of buffered data.  The client does not
    // run the close_callback as soon as it detects the close, but rather
    // defers it until after the buffered read has finished.
    const [server, client] = await self.makeIostreamPair();
    try {
      client.setCloseCallback(self.stop);
      server.write('12');
      const chunks: Buffer[] = [];
      const callback2 = (data: Buffer): void => {
        chunks.push(data);
      };
      const callback1 = (data: Buffer): void => {
        chunks.push(data);
        client.readBytes(1, callback2);
        server.close();
      };
      client.readBytes(1, callback1);
      await self.wait(); // stopped by close_callback
      assert.equal(chunks, [b('1'), b('2')]);
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_future_delayed_close_callback', async (self) => {
    // Same as test_delayed_close_callback, but with the future interface.
    const [server, client] = await self.makeIostreamPair();
    // We can't call make_iostream_pair inside a gen_test function
    // because the ioloop is not reentrant.
    const f = (): Promise<void> => self.genTest(async () => {
      server.write('12');
      const chunks: Buffer[] = [];
      chunks.push((await client.readBytes(1))!);
      server.close();
      chunks.push((await client.readBytes(1))!);
      assert.equal(chunks, [b('1'), b('2')]);
    });
    try {
      await f();
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_close_buffered_data', async (self) => {
    // Similar to the previous test, but with data stored in the OS's
    // socket buffers instead of the IOStream's read buffer.  Out-of-band
    // close notifications must be delayed until all data has been
    // drained into the IOStream buffer.
    //
    // This depends on the read_chunk_size being smaller than the
    // OS socket buffer, so make it small.
    const [server, client] = await self.makeIostreamPair({ readChunkSize: 256 });
    try {
      server.write(Buffer.alloc(512, 'A'));
      client.readBytes(256, self.stop);
      let data = await self.wait();
      assert.equal(data, Buffer.alloc(256, 'A'));
      server.close();
      // Allow the close to propagate to the client side of the
      // connection.  Using add_callback instead of add_timeout
      // doesn't seem to work, even with multiple iterations
      self.ioLoop.addTimeout(self.ioLoop.time() + 0.01, self.stop);
      await self.wait();
      client.readBytes(256, self.stop);
      data = await self.wait();
      assert.equal(data, Buffer.alloc(256, 'A'));
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_read_until_close_after_close', async (self) => {
    // Similar to test_delayed_close_callback, but read_until_close takes
    // a separate code path so test it separately.
    const [server, client] = await self.makeIostreamPair();
    try {
      server.write('1234');
      server.close();
      // Read one byte to make sure the client has received the data.
      // It won't run the close callback as long as there is more buffered
      // data that could satisfy a later read.
      client.readBytes(1, self.stop);
      let data = await self.wait();
      assert.equal(data, b('1'));
      client.readUntilClose(self.stop);
      data = await self.wait();
      assert.equal(data, b('234'));
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_streaming_read_until_close_after_close', async (self) => {
    // Same as the preceding test but with a streaming_callback.
    // All data should go through the streaming callback,
    // and the final read callback just gets an empty string.
    const [server, client] = await self.makeIostreamPair();
    try {
      server.write('1234');
      server.close();
      client.readBytes(1, self.stop);
      let data = await self.wait();
      assert.equal(data, b('1'));
      const streamingData: Buffer[] = [];
      client.readUntilClose({ callback: self.stop, streamingCallback: (chunk) => streamingData.push(chunk) });
      data = await self.wait();
      assert.equal(data, b(''));
      assert.equal(Buffer.concat(streamingData), b('234'));
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_large_read_until', async (self) => {
    // Performance test: read_until used to have a quadratic component
    // so a read_until of 4MB would take 8 seconds; now it takes 0.25
    // seconds.
    const [server, client] = await self.makeIostreamPair();
    try {
      const NUM_KB = 4096;
      for (let i = 0; i < NUM_KB; i++) client.write(Buffer.alloc(1024, 'A'));
      client.write('\r\n');
      server.readUntil('\r\n', self.stop);
      const data = await self.wait();
      assert.is(data.length, NUM_KB * 1024 + 2);
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_close_callback_with_pending_read', async (self) => {
    // Regression test for a bug that was introduced in 2.3
    // where the IOStream._close_callback would never be called
    // if there were pending reads.
    const OK = b('OK\r\n');
    const [server, client] = await self.makeIostreamPair();
    client.setCloseCallback(self.stop);
    try {
      server.write(OK);
      client.readUntil('\r\n', self.stop);
      let res = await self.wait();
      assert.equal(res, OK);
      server.close();
      client.readUntil('\r\n', (x) => x);
      // If _close_callback (self.stop) is not called,
      // an AssertionError: Async operation timed out after 5 seconds
      // will be raised.
      res = await self.wait();
      assert.is(res, undefined); // Python: None
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_inline_read_error', async (self) => {
    // An error on an inline read is raised without logging (on the
    // assumption that it will eventually be noticed or logged further
    // up the stack).
    const [server, client] = await self.makeIostreamPair();
    try {
      closeFd(server.socket.fileno());
      assert.throws(() => server.readBytes(1, () => {}), (e: unknown) => e instanceof OSError);
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_async_read_error_logging', async (self) => {
    // Socket errors on asynchronous reads should be logged (but only
    // once).
    const [server, client] = await self.makeIostreamPair();
    server.setCloseCallback(self.stop);
    try {
      // Start a read that will be fulfilled asynchronously.
      server.readBytes(1, () => {});
      client.write('a');
      // Stub out read_from_fd to make it fail (gale reads through either).
      // Tornado calls server.__class__.read_from_fd, so the stub goes through
      // the stream's own class (IOStream's or SSLIOStream's). An SSLIOStream's
      // readFromFdInto calls readFromFd: the fd is closed once only.
      const stubbed = server as unknown as { readFromFd(...args: unknown[]): Buffer | null; readFromFdInto(t: Uint8Array): number | null };
      const own = Object.getPrototypeOf(server) as typeof stubbed;
      let fdClosed = false;
      const closeOnce = (): void => {
        if (!fdClosed) closeFd(server.socket.fileno());
        fdClosed = true;
      };
      // gale: a stream on completions (io_uring) received the byte before
      // the fd was closed, so its read cannot fail (docs/uring.md): the stub
      // reports what read(2) would have, EBADF.
      const failOnCompletions = (): void => {
        if (onCompletions(server)) throw new OSError(E.EBADF, 'read');
      };
      stubbed.readFromFd = (...args: unknown[]) => {
        closeOnce();
        const data = own.readFromFd.apply(server, args);
        failOnCompletions();
        return data;
      };
      stubbed.readFromFdInto = (target: Uint8Array) => {
        closeOnce();
        const n = own.readFromFdInto.call(server, target);
        failOnCompletions();
        return n;
      };
      // This log message is from _handle_read (not read_from_fd).
      const expectation = new ExpectLog(genLog, 'error on read');
      await self.wait();
      expectation.exit();
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_future_close_callback', async (self) => {
    // Regression test for interaction between the Future read interfaces
    // and IOStream._maybe_add_error_listener.
    const [server, client] = await self.makeIostreamPair();
    const closed = [false];
    const closeCallback = (): void => {
      closed[0] = true;
      self.stop();
    };
    server.setCloseCallback(closeCallback);
    try {
      client.write('a');
      const future = server.readBytes(1)!;
      self.ioLoop.addFuture(future, self.stop);
      assert.equal((await self.waitRaw()).value.result(), b('a'));
      assert.not.ok(closed[0]);
      client.close();
      await self.wait();
      assert.ok(closed[0]);
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_read_bytes_partial', async (self) => {
    const [server, client] = await self.makeIostreamPair();
    try {
      // Ask for more than is available with partial=True
      client.readBytes(50, { callback: self.stop, partial: true });
      server.write('hello');
      let data = await self.wait();
      assert.equal(data, b('hello'));
      // Ask for less than what is available; num_bytes is still
      // respected.
      client.readBytes(3, { callback: self.stop, partial: true });
      server.write('world');
      data = await self.wait();
      assert.equal(data, b('wor'));
      // Partial reads won't return an empty string, but read_bytes(0)
      // will.
      client.readBytes(0, { callback: self.stop, partial: true });
      data = await self.wait();
      assert.equal(data, b(''));
    } finally {
      server.close();
      client.close();
    }
  });

  type ReadUntilKind = 'readUntil' | 'readUntilRegex';
  const delimiterFor = (kind: ReadUntilKind): string | RegExp => (kind === 'readUntil' ? 'def' : /def/);

  for (const kind of ['readUntil', 'readUntilRegex'] as const) {
    const name = kind === 'readUntil' ? 'read_until' : 'read_until_regex';
    const read = (stream: IOStream, callback: (data: Buffer) => void, maxBytes: number): void => {
      if (kind === 'readUntil') stream.readUntil(delimiterFor(kind) as string, { callback, maxBytes });
      else stream.readUntilRegex(delimiterFor(kind) as RegExp, { callback, maxBytes });
    };

    t(`test_${name}_max_bytes`, async (self) => {
      const [server, client] = await self.makeIostreamPair();
      client.setCloseCallback(() => self.stop('closed'));
      try {
        // Extra room under the limit
        read(client, self.stop, 50);
        server.write('abcdef');
        let data = await self.wait();
        assert.equal(data, b('abcdef'));
        // Just enough space
        read(client, self.stop, 6);
        server.write('abcdef');
        data = await self.wait();
        assert.equal(data, b('abcdef'));
        // Not enough space, but we don't know it until all we can do is
        // log a warning and close the connection.
        const expectation = new ExpectLog(genLog, 'Unsatisfiable read');
        read(client, self.stop, 5);
        server.write('123456');
        data = await self.wait();
        expectation.exit();
        assert.is(data, 'closed');
      } finally {
        server.close();
        client.close();
      }
    });

    t(`test_${name}_max_bytes_inline`, async (self) => {
      const [server, client] = await self.makeIostreamPair();
      client.setCloseCallback(() => self.stop('closed'));
      try {
        // Similar to the error case in the previous test, but the
        // server writes first so client reads are satisfied
        // inline.  For consistency with the out-of-line case, we
        // do not raise the error synchronously.
        server.write('123456');
        const expectation = new ExpectLog(genLog, 'Unsatisfiable read');
        read(client, self.stop, 5);
        const data = await self.wait();
        expectation.exit();
        assert.is(data, 'closed');
      } finally {
        server.close();
        client.close();
      }
    });

    t(`test_${name}_max_bytes_ignores_extra`, async (self) => {
      const [server, client] = await self.makeIostreamPair();
      client.setCloseCallback(() => self.stop('closed'));
      try {
        // Even though data that matches arrives the same packet that
        // puts us over the limit, we fail the request because it was not
        // found within the limit.
        server.write('abcdef');
        const expectation = new ExpectLog(genLog, 'Unsatisfiable read');
        read(client, self.stop, 5);
        const data = await self.wait();
        expectation.exit();
        assert.is(data, 'closed');
      } finally {
        server.close();
        client.close();
      }
    });
  }

  t('test_small_reads_from_large_buffer', async (self) => {
    // 10KB buffer size, 100KB available to read.
    // Read 1KB at a time and make sure that the buffer is not eagerly
    // filled.
    const [server, client] = await self.makeIostreamPair({ maxBufferSize: 10 * 1024 });
    try {
      server.write(Buffer.alloc(1024 * 100, 'a'));
      for (let i = 0; i < 100; i++) {
        client.readBytes(1024, self.stop);
        const data = await self.wait();
        assert.equal(data, Buffer.alloc(1024, 'a'));
      }
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_small_read_untils_from_large_buffer', async (self) => {
    // 10KB buffer size, 100KB available to read.
    // Read 1KB at a time and make sure that the buffer is not eagerly
    // filled.
    const [server, client] = await self.makeIostreamPair({ maxBufferSize: 10 * 1024 });
    const line = Buffer.concat([Buffer.alloc(1023, 'a'), b('\n')]);
    try {
      server.write(Buffer.concat(Array.from({ length: 100 }, () => line)));
      for (let i = 0; i < 100; i++) {
        client.readUntil('\n', { callback: self.stop, maxBytes: 4096 });
        const data = await self.wait();
        assert.equal(data, line);
      }
    } finally {
      server.close();
      client.close();
    }
  });

  t('test_flow_control', async (self) => {
    const MB = 1024 * 1024;
    const [server, client] = await self.makeIostreamPair({ maxBufferSize: 5 * MB });
    try {
      // Client writes more than the server will accept.
      client.write(Buffer.alloc(10 * MB, 'a'));
      // The server pauses while reading.
      server.readBytes(MB, self.stop);
      await self.wait();
      self.ioLoop.callLater(0.1, self.stop);
      await self.wait();
      // The client's writes have been blocked; the server can
      // continue to read gradually.
      for (let i = 0; i < 9; i++) {
        server.readBytes(MB, self.stop);
        await self.wait();
      }
    } finally {
      server.close();
      client.close();
    }
  });
}
