/**
 * Tornado 4.4's tornado/test/concurrent_test.py, ported call for call.
 *
 * Ported: the ClientTestMixin cases (test_callback, test_callback_error,
 * test_future, test_future_error, test_generator, test_generator_error) for
 * ManualCapClient (a hand-made Future over callback-style IOStream calls),
 * with `@gen.engine` functions written as async functions.
 *
 * Left out, with the reason:
 * - ReturnFutureTest (16 cases): `@return_future` and
 *   `ReturnValueIgnoredError` are not part of gale (nor of its API); a
 *   callback-or-Future method is written by hand (API rule 3).
 *   `test_future_traceback` also needs `gen.Task` and Python tracebacks.
 * - DecoratorClientTest and GeneratorClientTest (6 cases each): their
 *   clients are built with `@return_future` (and `gen.Task`).
 * - RunOnExecutorTest (5 cases): gale has no `@run_on_executor`; its
 *   counterpart is `IOLoop.runInExecutor` (see tornado-ioloop.spec.ts).
 *
 * `stack_context.wrap(callback)` becomes the test's `guard(callback)`: an
 * exception in the callback fails the wait, as Tornado's StackContext makes
 * it.
 */
import * as assert from 'uvu/assert';
import { Future } from '../reactor/future.js';
import { IOLoop } from '../reactor/ioloop.js';
import { IOStream } from '../streams/iostream.js';
import { TCPServer } from '../net/tcpserver.js';
import { Socket, type Address } from '../reactor/sys/socket.js';
import { AsyncTestCase, bindUnusedPort, finishSuite, testCase } from './tornado-testing.js';

/** The root logger's info records (LogTrapTestCase swallows them in Tornado). */
const logging = { info(_message: string): void {} };

class CapServer extends TCPServer {
  stream!: IOStream;

  override handleStream(stream: IOStream, _address: Address): void {
    logging.info('handle_stream');
    this.stream = stream;
    this.stream.readUntil('\n', this.handleRead);
  }

  handleRead = (buffer: Buffer): void => {
    logging.info('handle_read');
    const data = buffer.toString('utf8');
    if (data === data.toUpperCase()) {
      this.stream.write('error\talready capitalized\n');
    } else {
      // data already has \n
      this.stream.write(`ok\t${data.toUpperCase()}`);
    }
    this.stream.close();
  };
}

class CapError extends Error {}

class BaseCapClient {
  constructor(readonly port: number, readonly ioLoop: IOLoop, readonly wrap: <A extends unknown[]>(fn: (...a: A) => unknown) => (...a: A) => unknown) {}

  processResponse(data: Buffer): string {
    const [, status, message] = /^(.*)\t(.*)\n/.exec(data.toString('utf8'))!;
    if (status === 'ok') return message!;
    throw new CapError(message);
  }
}

class ManualCapClient extends BaseCapClient {
  requestData = '';
  stream!: IOStream;
  future!: Future<string>;

  capitalize(requestData: string, callback: ((result: string) => void) | null = null): Future<string> {
    logging.info('capitalize');
    this.requestData = requestData;
    this.stream = new IOStream(new Socket(), { ioLoop: this.ioLoop });
    this.stream.connect(['127.0.0.1', this.port], this.handleConnect);
    this.future = new Future<string>();
    if (callback !== null) {
      this.future.addDoneCallback(this.wrap((future: Future<string>) => callback(future.result())));
    }
    return this.future;
  }

  handleConnect = (): void => {
    logging.info('handle_connect');
    this.stream.write(`${this.requestData}\n`);
    this.stream.readUntil('\n', this.handleRead);
  };

  handleRead = (data: Buffer): void => {
    logging.info('handle_read');
    this.stream.close();
    try {
      this.future.setResult(this.processResponse(data));
    } catch (error) {
      if (!(error instanceof CapError)) throw error;
      this.future.setException(error);
    }
  };
}

class ClientTest extends AsyncTestCase {
  server!: CapServer;
  client!: ManualCapClient;

  override setUp(): void {
    super.setUp();
    this.server = new CapServer();
    const [sock, port] = bindUnusedPort();
    this.server.addSockets([sock]);
    this.client = new ManualCapClient(port, this.ioLoop, (fn) => this.guard(fn));
  }

  override tearDown(): void {
    this.server.stop();
    super.tearDown();
  }
}

async function assertRejectsWith(p: PromiseLike<unknown>, cls: new (...a: any[]) => Error, regex: RegExp): Promise<void> {
  try {
    await p;
  } catch (error) {
    assert.instance(error, cls);
    assert.match((error as Error).message, regex);
    return;
  }
  assert.unreachable('expected an exception');
}

const t = testCase('ManualClientTest', () => new ClientTest());

t('test_callback', async (self) => {
  self.client.capitalize('hello', self.stop);
  const result = await self.wait();
  assert.is(result, 'HELLO');
});

t('test_callback_error', async (self) => {
  self.client.capitalize('HELLO', self.stop);
  await assertRejectsWith(self.wait(), CapError, /already capitalized/);
});

t('test_future', async (self) => {
  const future = self.client.capitalize('hello');
  self.ioLoop.addFuture(future, self.stop);
  await self.waitRaw();
  assert.is(future.result(), 'HELLO');
});

t('test_future_error', async (self) => {
  const future = self.client.capitalize('HELLO');
  self.ioLoop.addFuture(future, self.stop);
  await self.waitRaw(); // wait() would adopt the failed Future
  assert.throws(() => future.result(), (e: unknown) => e instanceof CapError && /already capitalized/.test(e.message));
});

t('test_generator', async (self) => {
  const f = async (): Promise<void> => {
    const result = await self.client.capitalize('hello');
    assert.is(result, 'HELLO');
    self.stop();
  };
  f().catch((error) => self.fail(error));
  await self.wait();
});

t('test_generator_error', async (self) => {
  const f = async (): Promise<void> => {
    await assertRejectsWith(self.client.capitalize('HELLO'), CapError, /already capitalized/);
    self.stop();
  };
  f().catch((error) => self.fail(error));
  await self.wait();
});

finishSuite();
