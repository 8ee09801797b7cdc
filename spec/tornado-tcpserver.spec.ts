/**
 * Tornado 4.4's tornado/test/tcpserver_test.py, ported call for call.
 *
 * Left out: nothing (the file has one case). `with NullContext()` is
 * stack_context machinery with no gale counterpart; the server is simply
 * created.
 */
import * as assert from 'uvu/assert';
import { moment } from '../reactor/gen.js';
import { appLog } from '../reactor/log.js';
import { IOStream } from '../streams/iostream.js';
import { TCPServer } from '../net/tcpserver.js';
import { Socket, type Address } from '../reactor/sys/socket.js';
import { AsyncTestCase, ExpectLog, bindUnusedPort, testCase, finishSuite } from './tornado-testing.js';

const t = testCase('TCPServerTest', () => new AsyncTestCase());

t('test_handle_stream_coroutine_logging', (self) => self.genTest(async () => {
  // handle_stream may be a coroutine and any exception in its
  // Future will be logged.
  class TestServer extends TCPServer {
    override async handleStream(stream: IOStream, _address: Address): Promise<void> {
      await moment;
      stream.close();
      throw new ZeroDivisionError('division by zero');
    }
  }
  class ZeroDivisionError extends Error {}

  let server: TestServer | null = null;
  let client: IOStream | null = null;
  try {
    const [sock, port] = bindUnusedPort();
    server = new TestServer();
    server.addSocket(sock);
    client = new IOStream(new Socket());
    const expectation = new ExpectLog(appLog, 'Exception in callback');
    await client.connect(['localhost', port]);
    await client.readUntilClose();
    await moment;
    expectation.exit();
    // gale: the same record must not also appear under the synchronous wording.
    assert.ok(expectation.matched);
  } finally {
    if (server !== null) server.stop();
    if (client !== null) client.close();
  }
}));

finishSuite();
