/**
 * SSLIOStream (Tornado's iostream_test SSL cases and more): handshake and
 * echo, waitForHandshake, the read family over TLS, orderly close,
 * certificate verification failures, and peers that do not speak TLS.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect as netConnect, createServer as netCreateServer } from 'node:net';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { Socket } from '../reactor/sys/socket.js';
import { bindSockets } from '../net/netutil.js';
import { TCPServer } from '../net/tcpserver.js';
import { SSLIOStream } from '../streams/ssl-iostream.js';
import { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { CERT_NONE, SSLContext, createDefaultContext } from '../ssl/context.js';
import { SSLCertVerificationError, SSLEOFError, SSLError } from '../ssl/errors.js';
import { SSLSocket } from '../ssl/ssl-socket.js';
import { EchoTlsServer, clientContext, connectTls, serverContext, testCerts } from './tls-certs.js';
import { captureLogs, fdLeakCheck, inLoop, rejection, thrown } from './helpers.js';

const certs = testCerts();

test('handshake and echo; the TLS socket reports version, cipher and the peer certificate', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    const stream = await connectTls(server.port);
    assert.instance(stream, SSLIOStream);
    await stream.write('hello\n');
    assert.is((await stream.readUntil('\n'))!.toString(), 'hello\n');
    const tls = stream.sslSocket;
    assert.instance(tls, SSLSocket);
    assert.ok(['TLSv1.2', 'TLSv1.3'].includes(tls.version()!));
    const [name, version, bits] = tls.cipher()!;
    assert.type(name, 'string');
    assert.is(version, tls.version());
    assert.ok(bits >= 128);
    const peer = tls.getpeercert() as { subject: Array<Array<[string, string]>>; subjectAltName: Array<[string, string]> };
    assert.equal(peer.subject, [[['commonName', 'localhost']]]);
    assert.ok(peer.subjectAltName.some(([kind, value]) => kind === 'DNS' && value === 'localhost'));
    assert.instance(tls.getpeercert(true), Buffer);
    assert.is(tls.selectedAlpnProtocol(), null);
    stream.close();
    server.stop();
  });
  leaks();
});

test('the read family and write Futures work unchanged over TLS', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    let serverStream: IOStream | null = null;
    const accepted = new Future<IOStream>();
    class Keep extends TCPServer {
      override handleStream(stream: IOStream): void {
        serverStream = stream;
        accepted.setResult(stream);
      }
    }
    const server = new Keep({ sslOptions: serverContext() });
    const sockets = bindSockets(0, '127.0.0.1');
    server.addSockets(sockets);
    const port = (sockets[0]!.getsockname() as [string, number])[1];
    const client = await connectTls(port);
    const peer = await accepted;
    assert.instance(peer, SSLIOStream);
    await (peer as SSLIOStream).waitForHandshake();
    await client.write('abcdefghij');
    assert.is((await peer.readBytes(4))!.toString(), 'abcd');
    assert.is((await peer.readBytes(100, { partial: true }))!.toString(), 'efghij');
    await client.write('key: value\r\n\r\nrest');
    assert.is((await peer.readUntilRegex(/\r\n\r\n/))!.toString(), 'key: value\r\n\r\n');
    const into = Buffer.alloc(4);
    assert.is(await peer.readInto(into), 4);
    assert.is(into.toString(), 'rest');
    const chunks: Buffer[] = [];
    const streamed = peer.readBytes(10, { streamingCallback: (c) => chunks.push(c) })!;
    await client.write('0123456789');
    await streamed;
    assert.is(Buffer.concat(chunks).toString(), '0123456789');
    // Callbacks too.
    const viaCallback = new Future<string>();
    peer.readUntil('!', (data) => viaCallback.setResult(data.toString()));
    client.write('done!', () => {});
    assert.is(await viaCallback, 'done!');
    // Orderly close: the peer reads everything up to the close.
    const all = peer.readUntilClose()!;
    await client.write('last words');
    client.close();
    assert.is((await all)!.toString(), 'last words');
    assert.ok(serverStream);
    server.stop();
  });
  leaks();
});

test('waitForHandshake: callback or Future, one at a time, and again after completion', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    const stream = new SSLIOStream(new Socket(), { sslOptions: clientContext() });
    const connected = stream.connect(['127.0.0.1', server.port], { serverHostname: 'localhost' })!;
    // connect() is already waiting.
    assert.match(thrown(() => stream.waitForHandshake()).message, /Already waiting/);
    assert.is(await connected, stream);
    // After completion it fires again, as a Future and as a callback.
    assert.is(await stream.waitForHandshake(), stream);
    const called = new Future<void>();
    assert.is(stream.waitForHandshake(() => called.setResult()), null);
    await called;
    assert.instance(thrown(() => stream.waitForHandshake('x' as never)), TypeError);
    // The connect callback form.
    const other = new SSLIOStream(new Socket(), { sslOptions: clientContext() });
    const done = new Future<void>();
    assert.is(other.connect(['127.0.0.1', server.port], { callback: () => done.setResult(), serverHostname: 'localhost' }), null);
    await done;
    await other.write('cb\n');
    assert.is((await other.readUntil('\n'))!.toString(), 'cb\n');
    other.close();
    stream.close();
    // A stream closed before its handshake finished fails the wait at once.
    const never = new SSLIOStream(new Socket(), { sslOptions: clientContext() });
    never.close();
    assert.instance(await rejection(never.waitForHandshake()), StreamClosedError);
    server.stop();
  });
  leaks();
});

test('writes made before the handshake ends are sent once it is done', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    const stream = new SSLIOStream(new Socket(), { sslOptions: clientContext() });
    const connected = stream.connect(['127.0.0.1', server.port], { serverHostname: 'localhost' })!;
    const written = stream.write('early\n')!;
    const line = stream.readUntil('\n')!;
    await connected;
    await written;
    assert.is((await line)!.toString(), 'early\n');
    stream.close();
    server.stop();
  });
  leaks();
});

async function failedConnect(sslOptions: SSLContext, serverPair = certs.server, hostname = 'localhost'): Promise<{ error: StreamClosedError; logs: Array<[string, string]>; serverErrors: Array<Error | null> }> {
  let serverErrors: Array<Error | null> = [];
  const { result, logs } = await captureLogs(() => inLoop(async () => {
    const server = new EchoTlsServer(serverContext(serverPair));
    serverErrors = server.errors;
    const error = await rejection(connectTls(server.port, sslOptions, hostname));
    // Let the server notice the close.
    for (let i = 0; i < 50 && server.errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    server.stop();
    return error as StreamClosedError;
  }));
  return { error: result, logs, serverErrors };
}

test('an unknown CA, a self-signed certificate and a wrong host name each fail with SSLCertVerificationError', async () => {
  const leaks = fdLeakCheck();
  const unknownCa = await failedConnect(clientContext(), certs.untrustedServer);
  assert.instance(unknownCa.error, StreamClosedError);
  assert.instance(unknownCa.error.realError, SSLCertVerificationError);
  assert.is((unknownCa.error.realError as SSLCertVerificationError).verifyCode, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  assert.is((unknownCa.error.realError as SSLError).reason, 'CERTIFICATE_VERIFY_FAILED');
  assert.ok(unknownCa.logs.some(([level, line]) => level === 'warn' && /^SSL Error on \d+ .*CERTIFICATE_VERIFY_FAILED/.test(line)), JSON.stringify(unknownCa.logs));
  // The server sees a finished handshake, then EOF (no TLS alert: Node checks after OpenSSL).
  assert.ok(unknownCa.serverErrors.length === 1);

  const selfSigned = await failedConnect(clientContext(), certs.selfSigned);
  assert.instance(selfSigned.error.realError, SSLCertVerificationError);
  assert.is((selfSigned.error.realError as SSLCertVerificationError).verifyCode, 'DEPTH_ZERO_SELF_SIGNED_CERT');

  const wrongHost = await failedConnect(clientContext(), certs.server, 'wrong.example');
  assert.instance(wrongHost.error.realError, SSLCertVerificationError);
  assert.is((wrongHost.error.realError as SSLCertVerificationError).verifyCode, 'ERR_TLS_CERT_ALTNAME_INVALID');
  leaks();
});

test('CERT_NONE connects to anyone; with checkHostname off a stream still checks a name it is given (Tornado), and only the CA without one', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const anyone = new SSLContext('tls-client');
    anyone.checkHostname = false;
    anyone.verifyMode = CERT_NONE;
    const selfSigned = new EchoTlsServer(serverContext(certs.selfSigned));
    const a = await connectTls(selfSigned.port, anyone, 'whatever.example');
    await a.write('none\n');
    assert.is((await a.readUntil('\n'))!.toString(), 'none\n');
    a.close();
    selfSigned.stop();

    const noHostCheck = clientContext();
    noHostCheck.checkHostname = false;
    const good = new EchoTlsServer(serverContext());
    // Tornado's SSLIOStream._verify_cert checks the name whenever the
    // certificate is verified, whatever the context's checkHostname says.
    const { result: wrongName, logs } = await captureLogs(() => rejection(connectTls(good.port, noHostCheck, 'wrong.example')));
    assert.is(wrongName.realError.verifyCode, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.ok(logs.some(([level, line]) => level === 'warn' && /^Invalid SSL certificate: .*'wrong\.example'/.test(line)), JSON.stringify(logs));
    // Without a name to check, only the CA is.
    const b = new SSLIOStream(new Socket(), { sslOptions: noHostCheck });
    await b.connect(['127.0.0.1', good.port]);
    await b.write('ca only\n');
    assert.is((await b.readUntil('\n'))!.toString(), 'ca only\n');
    b.close();
    good.stop();
    const untrusted = new EchoTlsServer(serverContext(certs.untrustedServer));
    const caOnly = new SSLIOStream(new Socket(), { sslOptions: noHostCheck });
    const { result: error } = await captureLogs(() => rejection(caOnly.connect(['127.0.0.1', untrusted.port])));
    assert.is(error.realError.verifyCode, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    untrusted.stop();
  });
  leaks();
});

test('a client that checks host names must be given one', async () => {
  await inLoop(async () => {
    const stream = new SSLIOStream(new Socket(), { sslOptions: clientContext() });
    assert.match(thrown(() => stream.connect(['127.0.0.1', 1])).message, /serverHostname/);
    stream.close();
    // Tornado's default for SSLIOStream is a verifying client context.
    const defaults = new SSLIOStream(new Socket());
    assert.is(defaults.sslSocket.context.verifyMode, createDefaultContext().verifyMode);
    defaults.close();
  });
});

test('a plaintext client to a TLS server fails cleanly, logged as an SSL error, no fd leaked', async () => {
  const leaks = fdLeakCheck();
  const { result, logs } = await captureLogs(() => inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    const plain = new IOStream(new Socket());
    await plain.connect(['127.0.0.1', server.port]);
    await plain.write('GET / HTTP/1.0\r\n\r\n');
    // The server gives up on the garbage and closes.
    const reply = await plain.readUntilClose();
    plain.close();
    for (let i = 0; i < 50 && server.errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    server.stop();
    return { reply, errors: server.errors };
  }));
  assert.is(result.errors.length, 1);
  assert.instance(result.errors[0], SSLError);
  assert.ok(logs.some(([level, line]) => level === 'warn' && /^SSL Error on/.test(line)), JSON.stringify(logs));
  leaks();
});

test('a TLS client to a plaintext server fails cleanly with an SSLError, no fd leaked', async () => {
  const leaks = fdLeakCheck();
  const closed: Array<Promise<void>> = [];
  const plainServer = netCreateServer((socket) => {
    socket.on('error', () => {});
    closed.push(new Promise((resolve) => socket.on('close', () => resolve())));
    socket.once('data', () => socket.end('HTTP/1.0 400 Bad Request\r\n\r\n'));
  });
  await new Promise<void>((resolve) => plainServer.listen(0, '127.0.0.1', resolve));
  const port = (plainServer.address() as { port: number }).port;
  try {
    const { result } = await captureLogs(() => inLoop(async () => rejection(connectTls(port))));
    assert.instance(result, StreamClosedError);
    assert.instance(result.realError, SSLError);
    await Promise.all(closed);
  } finally {
    plainServer.close();
  }
  leaks();
});

test('a server that hangs up mid-handshake fails the client with SSLEOFError, quietly', async () => {
  const leaks = fdLeakCheck();
  const closed: Array<Promise<void>> = [];
  const rude = netCreateServer((socket) => {
    closed.push(new Promise((resolve) => socket.on('close', () => resolve())));
    socket.once('data', () => socket.destroy()); // reads the ClientHello, then gone
  });
  await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
  const port = (rude.address() as { port: number }).port;
  try {
    const { result, logs } = await captureLogs(() => inLoop(async () => rejection(connectTls(port))));
    assert.instance(result, StreamClosedError);
    assert.ok(result.realError instanceof SSLEOFError || (result.realError as { code?: string }).code === 'ECONNRESET', String(result.realError));
    assert.equal(logs.filter(([level]) => level === 'warn' || level === 'error'), []);
    await Promise.all(closed);
  } finally {
    rude.close();
  }
  leaks();
});

test('clients that connect and close at once (port scans) are not logged as errors', async () => {
  const leaks = fdLeakCheck();
  const { result, logs } = await captureLogs(() => inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => {
        const socket = netConnect(server.port, '127.0.0.1', () => socket.destroy());
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
    }
    for (let i = 0; i < 100 && server.errors.length < 5; i++) await new Promise((r) => setTimeout(r, 10));
    server.stop();
    return server.errors;
  }));
  assert.is(result.length, 5);
  for (const error of result) assert.ok(error === null || error instanceof SSLEOFError || (error as { code?: string }).code === 'ECONNRESET', String(error));
  assert.equal(logs.filter(([level]) => level === 'warn' || level === 'error'), []);
  leaks();
});

test('a peer that vanishes mid-handshake closes the stream quietly with an EOF error', async () => {
  const leaks = fdLeakCheck();
  const { result, logs } = await captureLogs(() => inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    await new Promise<void>((resolve) => {
      const socket = netConnect(server.port, '127.0.0.1', () => {
        // Half a ClientHello, then gone.
        socket.end(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]));
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    for (let i = 0; i < 100 && server.errors.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    server.stop();
    return server.errors;
  }));
  assert.is(result.length, 1);
  assert.instance(result[0], SSLEOFError);
  assert.equal(logs.filter(([level]) => level === 'warn' || level === 'error'), []);
  leaks();
});

test('a stream used with IOLoop.current() closes its fd and fails pending reads on close', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async (loop) => {
    assert.is(IOLoop.current(), loop);
    const server = new EchoTlsServer(serverContext());
    const stream = await connectTls(server.port);
    const pending = stream.readUntil('never')!;
    stream.close();
    const error = await rejection(pending);
    assert.instance(error, StreamClosedError);
    assert.is(stream.sslSocket.fileno(), -1);
    assert.instance(thrown(() => stream.write('x')), StreamClosedError);
    server.stop();
  });
  leaks();
});

test.run();
