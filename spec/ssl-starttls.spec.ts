/**
 * IOStream.startTls (an SMTP-style STARTTLS exchange, and its refusals),
 * and SSLSocket used directly: the nonblocking doHandshake emulation,
 * send/recv, and sslWrapSocket's checks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Future } from '../reactor/future.js';
import { moment } from '../reactor/gen.js';
import { bindSockets } from '../net/netutil.js';
import { AF_UNIX, SOCK_NONBLOCK, SOCK_STREAM, Socket, socketpair } from '../reactor/sys/socket.js';
import { TCPServer } from '../net/tcpserver.js';
import { IOStream } from '../streams/iostream.js';
import { SSLIOStream } from '../streams/ssl-iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { SSLContext } from '../ssl/context.js';
import { SSLCertVerificationError, SSLError, SSLWantReadError, SSLWantWriteError } from '../ssl/errors.js';
import { SSLSocket, sslWrapSocket } from '../ssl/ssl-socket.js';
import { OSError } from '../reactor/sys/errors.js';
import { clientContext, serverContext, testCerts } from './tls-certs.js';
import { captureLogs, fdLeakCheck, inLoop, rejection, thrown } from './helpers.js';

const certs = testCerts();

/** A plaintext server speaking just enough SMTP to upgrade with STARTTLS. */
class SmtpLike extends TCPServer {
  port = 0;
  readonly result = new Future<string>();
  readonly finished = new Future<void>();
  constructor() {
    super();
    const sockets = bindSockets(0, '127.0.0.1');
    this.addSockets(sockets);
    this.port = (sockets[0]!.getsockname() as [string, number])[1];
  }
  override async handleStream(stream: IOStream): Promise<void> {
    let tls: IOStream | null = null;
    try {
      await stream.write('220 gale ESMTP\r\n');
      const command = (await stream.readUntil('\r\n'))!.toString();
      if (command !== 'STARTTLS\r\n') throw new Error(`unexpected ${command}`);
      await stream.write('220 Go ahead\r\n');
      tls = await stream.startTls(true, serverContext());
      const hello = (await tls.readUntil('\r\n'))!.toString();
      await tls.write(`250 hello ${hello.trim().split(' ')[1]}, over ${(tls as SSLIOStream).sslSocket.version()}\r\n`);
      this.result.setResult(hello);
      await tls.readUntilClose();
    } catch (error) {
      if (!this.result.done()) this.result.setException(error);
    } finally {
      tls?.close();
      stream.close();
      this.finished.setResult();
    }
  }
}

test('an SMTP-style plaintext exchange followed by startTls on both sides', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const server = new SmtpLike();
    const plain = new IOStream(new Socket());
    await plain.connect(['127.0.0.1', server.port]);
    assert.is((await plain.readUntil('\r\n'))!.toString(), '220 gale ESMTP\r\n');
    await plain.write('STARTTLS\r\n');
    assert.is((await plain.readUntil('\r\n'))!.toString(), '220 Go ahead\r\n');
    // The plaintext stream's close callback moves to the TLS stream (Tornado).
    const closed = new Future<void>();
    plain.setCloseCallback(() => closed.setResult());
    const tls = await plain.startTls(false, clientContext(), 'localhost');
    assert.instance(tls, SSLIOStream);
    await tls.write('EHLO client.example\r\n');
    assert.match((await tls.readUntil('\r\n'))!.toString(), /^250 hello client\.example, over TLSv1\.[23]\r\n$/);
    assert.is(await server.result, 'EHLO client.example\r\n');
    tls.close();
    await closed;
    await server.finished;
    server.stop();
  });
  leaks();
});

test('startTls refuses a stream that is reading, writing, holding data, or closed', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    const left = new IOStream(a);
    const right = new IOStream(b);
    const pending = left.readUntil('\n')!;
    assert.match(thrown(() => left.startTls(false, clientContext(), 'localhost')).message, /not idle/);
    await right.write('line\nextra');
    await pending;
    // "extra" is buffered now.
    await left.readBytes(1, { partial: true });
    const more = left.readBytes(100, { partial: true })!;
    await more;
    await right.write('leftover\n');
    await left.readUntil('left');
    assert.match(thrown(() => left.startTls(false, clientContext(), 'localhost')).message, /not idle/);
    // A client whose context checks host names needs one.
    const [c, d] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    const idle = new IOStream(c);
    const idleClosed = new Future<void>();
    idle.setCloseCallback(() => idleClosed.setResult());
    assert.match(thrown(() => idle.startTls(false, clientContext())).message, /serverHostname/);
    // A refused upgrade leaves the stream as it was, close callback included.
    idle.close();
    await idleClosed;
    d.close();
    left.close();
    assert.match(thrown(() => left.startTls(true, serverContext())).message, /not idle/);
    right.close();
  });
  leaks();
});

test('a failed startTls handshake fails its Future with the SSLError itself (Tornado)', async () => {
  const leaks = fdLeakCheck();
  await captureLogs(() => inLoop(async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    const client = new IOStream(a).startTls(false, clientContext(), 'localhost');
    const server = new IOStream(b).startTls(true, serverContext(certs.untrustedServer));
    const error = await rejection(client);
    assert.instance(error, SSLCertVerificationError);
    const serverError = await rejection(server);
    assert.ok(serverError instanceof SSLError || serverError instanceof StreamClosedError, String(serverError));
  }));
  leaks();
});

/** Runs doHandshake on both sockets, one loop turn between rounds, until both are done (bounded). */
async function handshakeBoth(client: SSLSocket, server: SSLSocket): Promise<number> {
  const done = new Set<SSLSocket>();
  for (let round = 0; round < 500; round++) {
    for (const sock of [client, server]) {
      if (done.has(sock)) continue;
      try {
        sock.doHandshake();
        done.add(sock);
      } catch (error) {
        if (!(error instanceof SSLWantReadError || error instanceof SSLWantWriteError)) throw error;
      }
    }
    if (done.size === 2) return round;
    await moment;
  }
  throw new Error('handshake did not finish');
}

test('SSLSocket.doHandshake: want-read while spinning synchronously, done across loop turns', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    const client = sslWrapSocket(a, clientContext(), 'localhost', { doHandshakeOnConnect: false });
    const server = sslWrapSocket(b, serverContext(), null, { serverSide: true, doHandshakeOnConnect: false });
    assert.is(a.fileno(), -1); // wrap_socket takes the fd over
    assert.is(client.handshakeDone(), false);
    assert.is(client.cipher(), null);
    assert.is(client.version(), null);
    assert.match(thrown(() => client.getpeercert()).message, /handshake not done/);
    // A synchronous spin never finishes the handshake (trap 6): the client
    // may finish its side (the server's flight is decrypted inside the feed),
    // but its last flight goes out only once the engine learns, a microtask
    // later, that the ClientHello was written, so the server waits for a turn.
    for (let i = 0; i < 100; i++) {
      const error = thrown(() => server.doHandshake());
      assert.ok(error instanceof SSLWantReadError || error instanceof SSLWantWriteError, String(error));
      try {
        client.doHandshake();
      } catch (clientError) {
        assert.ok(clientError instanceof SSLWantReadError || clientError instanceof SSLWantWriteError, String(clientError));
      }
    }
    assert.is(server.handshakeDone(), false);
    const rounds = await handshakeBoth(client, server);
    assert.ok(rounds > 0);
    client.doHandshake(); // done stays done
    // send/recv with Python's nonblocking semantics.
    assert.instance(thrown(() => server.recv(100)), SSLWantReadError);
    assert.is(client.send('ping'), 4);
    let got: Buffer | null = null;
    for (let i = 0; i < 200 && got === null; i++) {
      try {
        got = server.recv(2);
      } catch (error) {
        if (!(error instanceof SSLWantReadError)) throw error;
        await moment;
      }
    }
    assert.is(got!.toString(), 'pi');
    const rest = Buffer.alloc(10);
    assert.is(server.recvInto(rest), 2);
    assert.is(rest.subarray(0, 2).toString(), 'ng');
    assert.is(server.pending(), 0);
    assert.equal((client.getpeercert() as { subject: unknown }).subject, [[['commonName', 'localhost']]]);
    assert.is(server.getpeercert(), null);
    assert.instance(thrown(() => server.recv(-1)), RangeError);
    // The peer closing: recv returns b'' (a TCP close without close_notify is
    // accepted). The client reads what it was sent first (session tickets):
    // closing with unread data would reset the connection instead.
    for (let i = 0; i < 5; i++) {
      assert.instance(thrown(() => client.recv(10)), SSLWantReadError);
      await moment;
    }
    client.close();
    let end: Buffer | null = null;
    for (let i = 0; i < 200 && end === null; i++) {
      try {
        end = server.recv(10);
      } catch (error) {
        if (!(error instanceof SSLWantReadError)) throw error;
        await moment;
      }
    }
    assert.is(end!.length, 0);
    assert.is(server.atEof(), true);
    server.close();
    server.close(); // twice is fine
    assert.instance(thrown(() => server.send('x')), OSError);
  });
  leaks();
});

test('sslWrapSocket checks what it is given', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const sock = new Socket();
    assert.match(thrown(() => sslWrapSocket(sock, serverContext(), 'localhost', { serverSide: true })).message, /only for client/);
    assert.match(thrown(() => sslWrapSocket(sock, new SSLContext('tls-server'))).message, /tls-server context/);
    assert.match(thrown(() => sslWrapSocket(sock, new SSLContext('tls-client'), null, { serverSide: true })).message, /tls-client context/);
    assert.instance(thrown(() => new SSLSocket({} as Socket, new SSLContext())), TypeError);
    assert.instance(thrown(() => new SSLSocket(sock, {} as SSLContext)), TypeError);
    assert.match(thrown(() => sslWrapSocket(sock, { certReqs: 9 })).message, /verifyMode/);
    // Not connected: the handshake waits for a connect.
    const unconnected = sslWrapSocket(sock, clientContext(), 'localhost');
    assert.is(unconnected.handshaking(), false);
    unconnected.close();
    assert.is(thrown(() => sslWrapSocket(sock, clientContext())).code, 'EBADF');
    // A host-name check without a host name is refused when the handshake starts.
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    const nameless = sslWrapSocket(a, clientContext(), null, { doHandshakeOnConnect: false });
    assert.match(thrown(() => nameless.doHandshake()).message, /serverHostname/);
    nameless.close();
    // A blocking socket cannot make the handshake: it would wait in read(2) for a flight never sent.
    const [e, f] = socketpair(AF_UNIX, SOCK_STREAM);
    const blocking = sslWrapSocket(e, serverContext(), null, { serverSide: true, doHandshakeOnConnect: false });
    assert.match(thrown(() => blocking.doHandshake()).message, /nonblocking/);
    blocking.close();
    f.close();
    // Connected with doHandshakeOnConnect (the default): started at once.
    const started = sslWrapSocket(b, serverContext(), null, { serverSide: true });
    assert.is(started.handshaking(), true);
    started.close();
    assert.is(thrown(() => started.doHandshake()).code, 'EBADF');
  });
  leaks();
});

test('an SSLIOStream over a plain connected socket handshakes as a client at once', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    const server = new SSLIOStream(sslWrapSocket(b, serverContext(), null, { serverSide: true, doHandshakeOnConnect: false }));
    const context = clientContext();
    context.checkHostname = false;
    const client = new SSLIOStream(a, { sslOptions: context });
    await Promise.all([client.waitForHandshake(), server.waitForHandshake()]);
    await client.write('over a pair\n');
    assert.is((await server.readUntil('\n'))!.toString(), 'over a pair\n');
    client.close();
    assert.is((await server.readUntilClose())!.length, 0);
    server.close();
  });
  leaks();
});

test('readInto over TLS fills the target from decrypted records; bad input fails clearly', async () => {
  const leaks = fdLeakCheck();
  await captureLogs(() => inLoop(async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    const server = new SSLIOStream(sslWrapSocket(b, serverContext(), null, { serverSide: true, doHandshakeOnConnect: false }));
    const context = clientContext();
    context.checkHostname = false;
    const client = new SSLIOStream(a, { sslOptions: context });
    const target = Buffer.alloc(10);
    const filled = server.readInto(target);
    await client.write('0123456789');
    assert.is(await filled, 10);
    assert.is(target.toString(), '0123456789');
    const small = Buffer.alloc(3);
    const partial = server.readInto(small, true);
    await client.write('abcdef');
    assert.is(await partial, 3);
    assert.is(small.toString(), 'abc');
    assert.is((await server.readBytes(3))!.toString(), 'def');
    // A malformed address is the caller's bug: thrown, the stream still usable.
    const unconnected = new SSLIOStream(new Socket(), { sslOptions: context });
    assert.instance(thrown(() => unconnected.connect(['127.0.0.1', -1] as never)), RangeError);
    unconnected.close();
    // A connected plain socket whose context checks host names, without one: closed with the reason.
    const [c, d] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    const nameless = new SSLIOStream(c, { sslOptions: clientContext() });
    assert.is(nameless.closed(), true);
    assert.match(nameless.error!.message, /serverHostname/);
    d.close();
    client.close();
    server.close();
  }));
  leaks();
});

test.run();
