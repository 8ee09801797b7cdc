/**
 * TLS servers and clients: TCPServer({sslOptions}) and
 * TCPClient.connect({sslOptions}), client certificates (mTLS), SNI and ALPN
 * both ways, handshake timeouts, and repeated connections leaking nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect as netConnect, type Socket as NetSocket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Future } from '../reactor/future.js';
import { sleep, withTimeout, TimeoutError } from '../reactor/gen.js';
import { IPPROTO_TCP, Socket, TCP_NODELAY } from '../reactor/sys/socket.js';
import { bindSockets } from '../net/netutil.js';
import { TCPClient } from '../net/tcpclient.js';
import { BlockingResolver } from '../resolvers/blocking.js';
import { TCPServer } from '../net/tcpserver.js';
import { SSLIOStream } from '../streams/ssl-iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import type { IOStream } from '../streams/iostream.js';
import { CERT_OPTIONAL, CERT_REQUIRED, SSLContext } from '../ssl/context.js';
import { SSLCertVerificationError, SSLError } from '../ssl/errors.js';
import type { SSLSocket } from '../ssl/ssl-socket.js';
import { EchoTlsServer, clientContext, connectTls, serverContext, testCerts } from './tls-certs.js';
import { captureLogs, fdLeakCheck, inLoop, openFds, rejection, until } from './helpers.js';
import { countLoopWork, totalWork } from './loop-work.js';

const certs = testCerts();

function mtlsServerContext(mode: number): SSLContext {
  const context = serverContext();
  context.verifyMode = mode;
  context.loadVerifyLocations({ cafile: certs.ca.cert });
  return context;
}

function clientWithCert(pair = certs.client): SSLContext {
  const context = clientContext();
  context.loadCertChain(pair.cert, pair.key);
  return context;
}

test('TCPServer with the dict form of sslOptions, and TCPClient.connect with sslOptions', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const server = new EchoTlsServer({ certfile: certs.server.cert, keyfile: certs.server.key });
    const client = new TCPClient({ resolver: new BlockingResolver() });
    const stream = await client.connect('localhost', server.port, { sslOptions: clientContext() });
    assert.instance(stream, SSLIOStream);
    await stream.write('dict\n');
    assert.is((await stream.readUntil('\n'))!.toString(), 'dict\n');
    stream.close();
    // The dict form on the client: Tornado's generic context, verifying when told to.
    const viaDict = await client.connect('127.0.0.1', server.port, { sslOptions: { certReqs: CERT_REQUIRED, caCerts: certs.ca.cert } });
    await viaDict.write('x\n');
    assert.is((await viaDict.readUntil('\n'))!.toString(), 'x\n');
    viaDict.close();
    // Verified against the host connected to unless told otherwise.
    const { result: wrong } = await captureLogs(() => rejection(client.connect('127.0.0.1', server.port, { sslOptions: clientContext(), serverHostname: 'other.example' })));
    assert.instance(wrong, StreamClosedError);
    assert.instance(wrong.realError, SSLCertVerificationError);
    client.close();
    server.stop();
  });
  leaks();
});

test('TCPServer hands handleStream an SSLIOStream before its handshake', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const seen = new Future<boolean>();
    class Probe extends TCPServer {
      override async handleStream(stream: IOStream): Promise<void> {
        const tls = (stream as SSLIOStream).sslSocket;
        seen.setResult(!tls.handshakeDone());
        await (stream as SSLIOStream).waitForHandshake();
        await stream.write('ready\n');
        stream.close();
      }
    }
    const server = new Probe({ sslOptions: serverContext() });
    const sockets = bindSockets(0, '127.0.0.1');
    server.addSockets(sockets);
    const stream = await connectTls((sockets[0]!.getsockname() as [string, number])[1]);
    assert.is((await stream.readUntil('\n'))!.toString(), 'ready\n');
    assert.is(await seen, true);
    stream.close();
    server.stop();
  });
  leaks();
});

test('mTLS with CERT_REQUIRED: a good client certificate passes, an untrusted one and none fail', async () => {
  const leaks = fdLeakCheck();
  const { result, logs } = await captureLogs(() => inLoop(async () => {
    const server = new EchoTlsServer(mtlsServerContext(CERT_REQUIRED));
    const good = await connectTls(server.port, clientWithCert());
    await good.write('mtls\n');
    assert.is((await good.readUntil('\n'))!.toString(), 'mtls\n');
    const peer = (server.streams[0] as SSLIOStream).sslSocket.getpeercert() as { subject: unknown };
    assert.equal(peer.subject, [[['commonName', 'gale test client']]]);
    good.close();

    // An untrusted certificate: the server rejects it after the handshake (no alert; trap 4).
    const bad = await connectTls(server.port, clientWithCert(certs.untrustedClient)).catch((e) => e);
    if (bad instanceof SSLIOStream) {
      // TLS 1.3: the client finished first; it learns on its first read.
      const error = await rejection(bad.readUntil('\n'));
      assert.instance(error, StreamClosedError);
      bad.close();
    } else {
      assert.instance(bad, StreamClosedError);
    }
    await until(() => server.errors.length >= 2, 'two server errors');
    const untrusted = server.errors[1];
    assert.instance(untrusted, SSLCertVerificationError);

    // No certificate at all: OpenSSL refuses in the handshake.
    const none = await connectTls(server.port, clientContext()).catch((e) => e);
    if (none instanceof SSLIOStream) {
      assert.instance(await rejection(none.readUntil('\n')), StreamClosedError);
      none.close();
    }
    await until(() => server.errors.length >= 3, 'three server errors');
    assert.instance(server.errors[2], SSLError);
    server.stop();
    return server.errors.length;
  }));
  assert.is(result, 3);
  assert.ok(logs.some(([, line]) => /SSL Error on .*CERTIFICATE_VERIFY_FAILED/.test(line)), JSON.stringify(logs));
  leaks();
});

test('mTLS with CERT_OPTIONAL: no certificate is fine, an untrusted one is not', async () => {
  const leaks = fdLeakCheck();
  await captureLogs(() => inLoop(async () => {
    const server = new EchoTlsServer(mtlsServerContext(CERT_OPTIONAL));
    const anonymous = await connectTls(server.port, clientContext());
    await anonymous.write('anon\n');
    assert.is((await anonymous.readUntil('\n'))!.toString(), 'anon\n');
    assert.is((server.streams[0] as SSLIOStream).sslSocket.getpeercert(), null);
    anonymous.close();
    const withCert = await connectTls(server.port, clientWithCert());
    await withCert.write('cert\n');
    assert.is((await withCert.readUntil('\n'))!.toString(), 'cert\n');
    withCert.close();
    const bad = await connectTls(server.port, clientWithCert(certs.untrustedClient)).catch((e) => e);
    if (bad instanceof SSLIOStream) {
      assert.instance(await rejection(bad.readUntil('\n')), StreamClosedError);
      bad.close();
    }
    await until(() => server.errors.some((e) => e instanceof SSLCertVerificationError), 'a verification error on the server');
    assert.ok(server.errors.some((e) => e instanceof SSLCertVerificationError), String(server.errors));
    server.stop();
  }));
  leaks();
});

test('SNI: the servername callback picks the certificate by the name the client asks for', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const otherContext = serverContext(certs.other);
    const names: Array<string | null> = [];
    const main = serverContext();
    main.setServernameCallback((sslSocket: SSLSocket, serverName, context) => {
      names.push(serverName);
      assert.is(context, main);
      if (serverName === 'other.example') sslSocket.context = otherContext;
    });
    const server = new EchoTlsServer(main);
    const other = await connectTls(server.port, clientContext(), 'other.example');
    assert.equal((other.sslSocket.getpeercert() as { subject: unknown }).subject, [[['commonName', 'other.example']]]);
    other.close();
    const local = await connectTls(server.port, clientContext(), 'localhost');
    assert.equal((local.sslSocket.getpeercert() as { subject: unknown }).subject, [[['commonName', 'localhost']]]);
    local.close();
    assert.equal(names, ['other.example', 'localhost']);
    // Returning the context works too; and a name the server has no certificate for fails verification.
    main.setServernameCallback((_s, serverName) => (serverName === 'other.example' ? otherContext : undefined));
    const viaReturn = await connectTls(server.port, clientContext(), 'other.example');
    viaReturn.close();
    await captureLogs(async () => {
      const error = await rejection(connectTls(server.port, clientContext(), 'third.example'));
      assert.instance(error.realError, SSLCertVerificationError);
    });
    // A callback that throws fails that handshake only.
    main.setServernameCallback(() => { throw new Error('no such site'); });
    await captureLogs(async () => {
      assert.instance(await rejection(connectTls(server.port, clientContext(), 'other.example')), StreamClosedError);
    });
    server.stop();
  });
  leaks();
});

test('ALPN both ways: the server picks by its preference, or by a callback', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const context = serverContext();
    context.setAlpnProtocols(['h2', 'http/1.1']);
    const server = new EchoTlsServer(context);
    const client = clientContext();
    client.setAlpnProtocols(['http/1.1', 'h2']);
    const stream = await connectTls(server.port, client);
    assert.is(stream.sslSocket.selectedAlpnProtocol(), 'h2');
    await until(() => server.streams.length === 1 && (server.streams[0] as SSLIOStream).sslSocket.handshakeDone(), 'the server handshake');
    assert.is((server.streams[0] as SSLIOStream).sslSocket.selectedAlpnProtocol(), 'h2');
    stream.close();
    server.stop();

    const chooser = serverContext();
    const offers: string[][] = [];
    chooser.setAlpnSelectCallback((protocols, serverName) => {
      offers.push(protocols);
      assert.is(serverName, 'localhost');
      return protocols.includes('gale/1') ? 'gale/1' : undefined;
    });
    const server2 = new EchoTlsServer(chooser);
    const client2 = clientContext();
    client2.setAlpnProtocols(['other', 'gale/1']);
    const chosen = await connectTls(server2.port, client2);
    assert.is(chosen.sslSocket.selectedAlpnProtocol(), 'gale/1');
    chosen.close();
    assert.equal(offers, [['other', 'gale/1']]);
    server2.stop();
  });
  leaks();
});

test('a handshake that never finishes: withTimeout gives up, closing the stream leaves no fd', async () => {
  const leaks = fdLeakCheck();
  // A peer that accepts and says nothing.
  const silent = bindSockets(0, '127.0.0.1')[0]!;
  const port = (silent.getsockname() as [string, number])[1];
  await inLoop(async () => {
    const stream = new SSLIOStream(new Socket(), { sslOptions: clientContext() });
    const error = await rejection(withTimeout({ seconds: 0.2 }, stream.connect(['127.0.0.1', port], { serverHostname: 'localhost' })!,
      { quietExceptions: [StreamClosedError] }));
    assert.instance(error, TimeoutError);
    stream.close();
    // TCPClient's own deadline covers the handshake too.
    const client = new TCPClient({ resolver: new BlockingResolver() });
    const late = await rejection(client.connect('127.0.0.1', port, { sslOptions: clientContext(), timeout: 0.2 }));
    assert.instance(late, TimeoutError);
    client.close();
  });
  // The server side's half-open connections go with the listening socket.
  const [pending] = [openFds().size];
  silent.close();
  assert.ok(pending > 0);
  await new Promise((r) => setTimeout(r, 20));
  leaks();
});

test('a write queued during a stalled handshake does not spin the loop (regression: WRITE was watched while the fd was writable)', async () => {
  const leaks = fdLeakCheck();
  const silent = bindSockets(0, '127.0.0.1')[0]!;
  const port = (silent.getsockname() as [string, number])[1];
  await inLoop(async (loop) => {
    const stream = new SSLIOStream(new Socket(), { sslOptions: clientContext() });
    const connected = stream.connect(['127.0.0.1', port], { serverHostname: 'localhost' })!;
    connected.catch(() => {});
    stream.write('queued until the handshake ends\n')!.catch(() => {});
    await sleep(0.05);
    // What the loop does for the stream while it waits: fd events,
    // callbacks, and nextTicks and immediates not the loop's own. Sleeping
    // 0.3 s costs none of them; a loop polling a writable fd dispatches an
    // event per turn, thousands. (Not `stats().iterations`: those include
    // the turns the loop hands to Node when libuv's fd is ready, and V8's
    // GC makes 50–250 of them by itself on a starved CPU: spec/loop-work.ts.)
    const waiting = await countLoopWork(loop, () => sleep(0.3));
    assert.ok(totalWork(waiting) < 20, `while waiting: ${JSON.stringify(waiting)}`);
    stream.close();
    // Nor does an idle established connection, on either side.
    const server = new EchoTlsServer(serverContext());
    const idle = await connectTls(server.port);
    await idle.write('x\n');
    await idle.readUntil('\n');
    await sleep(0.05);
    const idling = await countLoopWork(loop, () => sleep(0.3));
    assert.ok(totalWork(idling) < 20, `while idle: ${JSON.stringify(idling)}`);
    idle.close();
    server.stop();
  });
  silent.close();
  leaks();
});

test('repeated TLS connections leak nothing', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    const client = new TCPClient({ resolver: new BlockingResolver() });
    for (let i = 0; i < 30; i++) {
      const stream = await client.connect('localhost', server.port, { sslOptions: clientContext() });
      await stream.write(`n${i}\n`);
      assert.is((await stream.readUntil('\n'))!.toString(), `n${i}\n`);
      stream.close();
    }
    await until(() => server.errors.length === 30, 'thirty server errors');
    assert.is(server.errors.length, 30);
    client.close();
    server.stop();
  }, { timeout: 60 });
  leaks();
});

test('TLS streams turn Nagle off (regression: a small write after the session tickets waited 40 ms for a delayed ACK)', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    const stream = await connectTls(server.port);
    await stream.write('x\n');
    await stream.readUntil('\n');
    assert.is(stream.sslSocket.getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);
    assert.is((server.streams[0] as SSLIOStream).sslSocket.getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);
    stream.setNodelay(false);
    assert.is(stream.sslSocket.getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
    stream.close();
    server.stop();
  });
  leaks();
});

test('many handshakes at once on one server stay apart (regression: a shared read chunk mixed them)', async () => {
  const leaks = fdLeakCheck();
  await captureLogs(() => inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    const ca = readFileSync(certs.ca.cert);
    for (let round = 0; round < 3; round++) {
      // Node's clients, so their ClientHellos arrive together, not one per loop turn.
      const replies = await Promise.all(Array.from({ length: 16 }, (_, i) => new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca }, () => socket.write(`conn ${i}\n`));
        let data = '';
        socket.on('data', (d) => {
          data += d;
          if (data.endsWith('\n')) { socket.end(); resolve(data); }
        });
        socket.on('error', reject);
      })));
      assert.equal(replies, Array.from({ length: 16 }, (_, i) => `conn ${i}\n`));
      const streams = await Promise.all(Array.from({ length: 8 }, () => connectTls(server.port)));
      await Promise.all(streams.map(async (stream, i) => {
        await stream.write(`gale ${i}\n`);
        assert.is((await stream.readUntil('\n'))!.toString(), `gale ${i}\n`);
        stream.close();
      }));
    }
    server.stop();
  }, { timeout: 60 }));
  leaks();
});

test('a server survives raw garbage and half-open clients and keeps serving', async () => {
  const leaks = fdLeakCheck();
  await captureLogs(() => inLoop(async () => {
    const server = new EchoTlsServer(serverContext());
    const sockets: NetSocket[] = [];
    const closed: Array<Promise<void>> = [];
    for (const payload of [Buffer.from('garbage garbage garbage\r\n'), Buffer.alloc(3000, 0x16)]) {
      const socket = netConnect(server.port, '127.0.0.1', () => socket.write(payload));
      socket.on('error', () => {});
      closed.push(new Promise((resolve) => socket.on('close', () => resolve())));
      sockets.push(socket);
    }
    await Promise.all(closed);
    const stream = await connectTls(server.port);
    await stream.write('still here\n');
    assert.is((await stream.readUntil('\n'))!.toString(), 'still here\n');
    stream.close();
    server.stop();
  }));
  leaks();
});

test.run();
