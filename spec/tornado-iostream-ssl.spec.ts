/**
 * Tornado 4.4's tornado/test/iostream_test.py, its TLS part, ported call for
 * call: TestIOStreamSSL and TestIOStreamSSLContext (TestIOStreamMixin, from
 * spec/tornado-iostream-mixin.ts, run over SSLIOStreams made from an
 * ssl_options dict and from an SSLContext), TestIOStreamStartTLS and
 * WaitForHandshakeTest. (tcpserver_test, tcpclient_test and netutil_test
 * have no TLS cases in 4.4.3.)
 *
 * Certificates: Tornado's tornado/test/test.crt and test.key are replaced by
 * the suite's generated server certificate (spec/tls-certs.ts: `server`,
 * signed by the test CA, for localhost/127.0.0.1/::1). Like test.crt, no
 * default trust store knows its issuer, which the verification cases rely on.
 *
 * Left out, with the reason:
 * - the mixin's test_read_until_close_with_error, in both runs: it mocks the
 *   private BaseIOStream._try_inline_read (as in the plain run);
 * - the mixin's test_inline_read_error, in both runs: it closes the fd
 *   under the stream and expects the next read_bytes to hit it inline.
 *   gale's streams try no inline read of an fd their last read found empty
 *   until the poller reports it again (BaseIOStream's `drained`); a TLS
 *   server stream's handshake reads leave it so, so the read never touches
 *   the closed fd. (The plain run still checks the inline error.)
 * - TestIOStreamWebHTTPS (TestIOStreamWebMixin over HTTPS, 7 cases): it
 *   needs Tornado's HTTP server and client.
 * (The mixin's own changes — test_gaierror, test_async_read_error_logging —
 * are listed in spec/tornado-iostream.spec.ts; they apply to these runs too.)
 *
 * Ported with a change, marked where it happens:
 * - the SSL runs' make_iostream_pair also waits for the server side's
 *   handshake: under TLS 1.2 (Tornado 4.4's) it finished before the
 *   client's, under TLS 1.3 one flight after it (see SSLMixinCase).
 * - TestIOStreamStartTLS.setUp waits for the connection; the harness's
 *   setUp is synchronous, so the waiting half runs at the start of each case.
 * - WaitForHandshakeTest: the server-side stream is closed at the end of
 *   each case (Tornado leaves it to the garbage collector; gale checks for
 *   fd leaks).
 * - test_check_hostname: `create_default_context()` fails on the untrusted
 *   issuer before any host name is compared, in Python as in gale; a gale
 *   addition (test_check_hostname_trusted_mismatch) makes the host name the
 *   only fault, so the name passed to startTls is shown to be what is checked.
 */
import * as assert from 'uvu/assert';
import { Future } from '../reactor/future.js';
import { genLog } from '../reactor/log.js';
import { OSError } from '../reactor/sys/errors.js';
import { addAcceptHandler } from '../net/netutil.js';
import { Socket, type Address } from '../reactor/sys/socket.js';
import { TCPServer } from '../net/tcpserver.js';
import { CERT_NONE, SSLContext, createDefaultContext } from '../ssl/context.js';
import { SSLCertVerificationError, SSLError } from '../ssl/errors.js';
import type { SSLOptions } from '../ssl/options.js';
import { sslWrapSocket, type SSLSocket } from '../ssl/ssl-socket.js';
import { IOStream } from '../streams/iostream.js';
import { SSLIOStream } from '../streams/ssl-iostream.js';
import type { StreamOptions } from '../streams/options.js';
import { AsyncTestCase, ExpectLog, bindUnusedPort, finishSuite, testCase } from './tornado-testing.js';
import { IOStreamMixinCase, defineIOStreamMixinTests } from './tornado-iostream-mixin.js';
import { testCerts } from './tls-certs.js';

/** Tornado's `_server_ssl_options()`, with the suite's certificate. */
function serverSslOptions(): SSLOptions {
  return { certfile: testCerts().server.cert, keyfile: testCerts().server.key };
}

/**
 * The pair is returned once the server side's handshake is done too. Under
 * TLS 1.2 (Tornado 4.4's time) the server finishes its handshake before the
 * client does, so Tornado's make_iostream_pair returned two ready streams;
 * under TLS 1.3 the server finishes one flight after the client, and a
 * server that writes and closes at once (test_read_until_close_after_close)
 * would close mid-handshake, which drops what was written (in Tornado as in
 * gale: no data is sent before the handshake is done).
 */
abstract class SSLMixinCase extends IOStreamMixinCase {
  override async makeIostreamPair(options: StreamOptions = {}): Promise<[IOStream, IOStream]> {
    const [server, client] = await super.makeIostreamPair(options);
    (server as SSLIOStream).waitForHandshake(this.stop);
    await this.wait();
    return [server, client];
  }
}

class TestIOStreamSSL extends SSLMixinCase {
  makeServerIostream(connection: Socket, options: StreamOptions): IOStream {
    const wrapped = sslWrapSocket(connection, serverSslOptions(), null, { serverSide: true, doHandshakeOnConnect: false });
    return new SSLIOStream(wrapped, { ioLoop: this.ioLoop, ...options });
  }

  makeClientIostream(connection: Socket, options: StreamOptions): IOStream {
    return new SSLIOStream(connection, { ioLoop: this.ioLoop, sslOptions: { certReqs: CERT_NONE }, ...options });
  }
}

// This will run some tests that are basically redundant but it's the
// simplest way to make sure that it works to pass an SSLContext
// instead of an ssl_options dict to the SSLIOStream constructor.
class TestIOStreamSSLContext extends SSLMixinCase {
  makeServerIostream(connection: Socket, options: StreamOptions): IOStream {
    const context = new SSLContext('tls'); // ssl.PROTOCOL_SSLv23
    context.loadCertChain(testCerts().server.cert, testCerts().server.key);
    const wrapped = sslWrapSocket(connection, context, null, { serverSide: true, doHandshakeOnConnect: false });
    return new SSLIOStream(wrapped, { ioLoop: this.ioLoop, ...options });
  }

  makeClientIostream(connection: Socket, options: StreamOptions): IOStream {
    const context = new SSLContext('tls'); // ssl.PROTOCOL_SSLv23
    return new SSLIOStream(connection, { ioLoop: this.ioLoop, sslOptions: context, ...options });
  }
}

// Left out of these runs (see the top of the file).
const leftOutOverTls = new Set(['test_inline_read_error']);
defineIOStreamMixinTests('TestIOStreamSSL', () => new TestIOStreamSSL(), leftOutOverTls);
defineIOStreamMixinTests('TestIOStreamSSLContext', () => new TestIOStreamSSLContext(), leftOutOverTls);

// ---------------------------------------------------------------- TestIOStreamStartTLS

class TestIOStreamStartTLS extends AsyncTestCase {
  listener: Socket | null = null;
  port = 0;
  serverStream: IOStream | null = null;
  clientStream: IOStream | null = null;
  serverAccepted = new Future<null>();
  private removeAcceptHandler: (() => void) | null = null;

  override setUp(): void {
    super.setUp();
    [this.listener, this.port] = bindUnusedPort();
    this.serverStream = null;
    this.serverAccepted = new Future<null>();
    this.removeAcceptHandler = addAcceptHandler(this.listener, this.accept);
    this.clientStream = new IOStream(new Socket());
  }

  /** The waiting half of Tornado's setUp (the harness's setUp cannot wait). */
  async connect(): Promise<void> {
    this.ioLoop.addFuture(this.clientStream!.connect(['127.0.0.1', this.port])!, this.stop);
    await this.wait();
    this.ioLoop.addFuture(this.serverAccepted, this.stop);
    await this.wait();
  }

  override tearDown(): void {
    if (this.serverStream !== null) this.serverStream.close();
    if (this.clientStream !== null) this.clientStream.close();
    this.removeAcceptHandler?.();
    this.listener!.close();
    super.tearDown();
  }

  accept = (connection: Socket, _address: Address): void => {
    if (this.serverStream !== null) this.fail(new Error('should only get one connection'));
    this.serverStream = new IOStream(connection);
    this.serverAccepted.setResult(null);
  };

  async clientSendLine(line: Buffer): Promise<void> {
    this.clientStream!.write(line);
    const recvLine = await this.serverStream!.readUntil('\r\n');
    assert.equal(recvLine, line);
  }

  async serverSendLine(line: Buffer): Promise<void> {
    this.serverStream!.write(line);
    const recvLine = await this.clientStream!.readUntil('\r\n');
    assert.equal(recvLine, line);
  }

  clientStartTls(sslOptions?: SSLContext | SSLOptions, serverHostname?: string): Future<SSLIOStream> {
    const clientStream = this.clientStream!;
    this.clientStream = null;
    return clientStream.startTls(false, sslOptions, serverHostname);
  }

  serverStartTls(sslOptions?: SSLContext | SSLOptions): Future<SSLIOStream> {
    const serverStream = this.serverStream!;
    this.serverStream = null;
    return serverStream.startTls(true, sslOptions);
  }
}

const startTlsCase = testCase('TestIOStreamStartTLS', () => new TestIOStreamStartTLS());
/** A case whose body runs after the connection of Tornado's setUp (see the top). */
const st = (name: string, body: (self: TestIOStreamStartTLS) => Promise<void>): void =>
  startTlsCase(name, async (self) => {
    await self.connect();
    await body(self);
  });

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Python's `assertRaises` around an awaited Future: the error it failed with. */
async function raisedBy(future: PromiseLike<unknown>): Promise<unknown> {
  try {
    await future;
  } catch (error) {
    return error;
  }
  throw new Error('no exception raised');
}

st('test_start_tls_smtp', (self) => self.genTest(async () => {
  // This flow is simplified from RFC 3207 section 5.
  // We don't really need all of this, but it helps to make sure
  // that after realistic back-and-forth traffic the buffers end up
  // in a sane state.
  await self.serverSendLine(b('220 mail.example.com ready\r\n'));
  await self.clientSendLine(b('EHLO mail.example.com\r\n'));
  await self.serverSendLine(b('250-mail.example.com welcome\r\n'));
  await self.serverSendLine(b('250 STARTTLS\r\n'));
  await self.clientSendLine(b('STARTTLS\r\n'));
  await self.serverSendLine(b('220 Go ahead\r\n'));
  const clientFuture = self.clientStartTls({ certReqs: CERT_NONE });
  const serverFuture = self.serverStartTls(serverSslOptions());
  self.clientStream = await clientFuture;
  self.serverStream = await serverFuture;
  assert.instance(self.clientStream, SSLIOStream);
  assert.instance(self.serverStream, SSLIOStream);
  await self.clientSendLine(b('EHLO mail.example.com\r\n'));
  await self.serverSendLine(b('250 mail.example.com welcome\r\n'));
}));

st('test_handshake_fail', (self) => self.genTest(async () => {
  const serverFuture = self.serverStartTls(serverSslOptions());
  // Certificates are verified with the default configuration.
  const clientFuture = self.clientStartTls(undefined, 'localhost');
  const expectation = new ExpectLog(genLog, 'SSL Error');
  const clientError = await raisedBy(clientFuture);
  expectation.exit();
  assert.instance(clientError, SSLError);
  const serverError = await raisedBy(serverFuture);
  assert.ok(serverError instanceof SSLError || serverError instanceof OSError, String(serverError));
}));

st('test_check_hostname', (self) => self.genTest(async () => {
  // Test that server_hostname parameter to start_tls is being used.
  // The check_hostname functionality is only available in python 2.7 and
  // up and in python 3.4 and up.
  const serverFuture = self.serverStartTls(serverSslOptions());
  const clientFuture = self.clientStartTls(createDefaultContext(), '127.0.0.1');
  const expectation = new ExpectLog(genLog, 'SSL Error');
  // The client fails to connect with an SSL error.
  assert.instance(await raisedBy(clientFuture), SSLError);
  expectation.exit();
  // The server fails to connect, but the exact error is unspecified.
  assert.instance(await raisedBy(serverFuture), Error);
}));

st('test_check_hostname_trusted_mismatch', (self) => self.genTest(async () => {
  // gale addition: the client trusts the test CA, so the only fault is the
  // name: the certificate is for localhost/127.0.0.1/::1, not other.example.
  const serverFuture = self.serverStartTls(serverSslOptions());
  const context = createDefaultContext('serverAuth', { cafile: testCerts().ca.cert });
  const clientFuture = self.clientStartTls(context, 'other.example');
  const expectation = new ExpectLog(genLog, 'SSL Error');
  const clientError = await raisedBy(clientFuture);
  expectation.exit();
  assert.instance(clientError, SSLCertVerificationError);
  assert.is((clientError as SSLCertVerificationError).verifyCode, 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.instance(await raisedBy(serverFuture), Error);
}));

// ---------------------------------------------------------------- WaitForHandshakeTest

class WaitForHandshakeTest extends AsyncTestCase {
  /** Server-side streams, closed at the end of the case (see the top). */
  readonly serverStreams: IOStream[] = [];

  override tearDown(): void {
    for (const stream of this.serverStreams) stream.close();
    super.tearDown();
  }

  async connectToServer(makeServer: (sslOptions: SSLOptions) => TCPServer): Promise<void> {
    let server: TCPServer | null = null;
    let client: SSLIOStream | null = null;
    try {
      const [sock, port] = bindUnusedPort();
      server = makeServer(serverSslOptions());
      server.addSocket(sock);
      client = new SSLIOStream(new Socket(), { sslOptions: { certReqs: CERT_NONE } });
      await client.connect(['127.0.0.1', port]);
      assert.ok((client.socket as SSLSocket).cipher() !== null);
    } finally {
      if (server !== null) server.stop();
      if (client !== null) client.close();
    }
  }
}

const w = testCase('WaitForHandshakeTest', () => new WaitForHandshakeTest());
const sslSocketOf = (stream: IOStream): SSLSocket => stream.socket as SSLSocket;

w('test_wait_for_handshake_callback', (self) => self.genTest(async () => {
  const test = self;
  const handshakeFuture = new Future<null>();
  class TestServer extends TCPServer {
    stream!: SSLIOStream;
    override handleStream(stream: IOStream, _address: Address): void {
      test.serverStreams.push(stream);
      // The handshake has not yet completed.
      assert.is(sslSocketOf(stream).cipher(), null);
      this.stream = stream as SSLIOStream;
      this.stream.waitForHandshake(this.handshakeDone);
    }

    handshakeDone = (): void => {
      // Now the handshake is done and ssl information is available.
      assert.ok(sslSocketOf(this.stream).cipher() !== null);
      handshakeFuture.setResult(null);
    };
  }
  await self.connectToServer((sslOptions) => new TestServer({ sslOptions }));
  await handshakeFuture;
}));

w('test_wait_for_handshake_future', (self) => self.genTest(async () => {
  const test = self;
  const handshakeFuture = new Future<null>();
  class TestServer extends TCPServer {
    override handleStream(stream: IOStream, _address: Address): void {
      test.serverStreams.push(stream);
      assert.is(sslSocketOf(stream).cipher(), null);
      // (Tornado's handle_connection: gale's TCPServer has a private member of that name.)
      test.ioLoop.spawnCallback(() => this.handleTestConnection(stream as SSLIOStream));
    }

    async handleTestConnection(stream: SSLIOStream): Promise<void> {
      await stream.waitForHandshake();
      handshakeFuture.setResult(null);
    }
  }
  await self.connectToServer((sslOptions) => new TestServer({ sslOptions }));
  await handshakeFuture;
}));

w('test_wait_for_handshake_already_waiting_error', (self) => self.genTest(async () => {
  const test = self;
  const handshakeFuture = new Future<null>();
  class TestServer extends TCPServer {
    override handleStream(stream: IOStream, _address: Address): void {
      test.serverStreams.push(stream);
      const sslStream = stream as SSLIOStream;
      sslStream.waitForHandshake(this.handshakeDone);
      // Python's RuntimeError("Already waiting")
      assert.throws(() => sslStream.waitForHandshake(), /Already waiting/);
    }

    handshakeDone = (): void => {
      handshakeFuture.setResult(null);
    };
  }
  await self.connectToServer((sslOptions) => new TestServer({ sslOptions }));
  await handshakeFuture;
}));

w('test_wait_for_handshake_already_connected', (self) => self.genTest(async () => {
  const test = self;
  const handshakeFuture = new Future<null>();
  class TestServer extends TCPServer {
    stream!: SSLIOStream;
    override handleStream(stream: IOStream, _address: Address): void {
      test.serverStreams.push(stream);
      this.stream = stream as SSLIOStream;
      this.stream.waitForHandshake(this.handshakeDone);
    }

    handshakeDone = (): void => {
      this.stream.waitForHandshake(this.handshake2Done);
    };

    handshake2Done = (): void => {
      handshakeFuture.setResult(null);
    };
  }
  await self.connectToServer((sslOptions) => new TestServer({ sslOptions }));
  await handshakeFuture;
}));

finishSuite();
