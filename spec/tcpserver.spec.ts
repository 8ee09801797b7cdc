/**
 * TCPServer: Tornado 4.4's tcpserver tests, plus what a server must survive:
 * failing handlers, stop() with connections open, 1000 clients at once, IPv6
 * and Unix sockets.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IOLoop } from '../reactor/ioloop.js';
import { multi } from '../reactor/gen.js';
import { Future } from '../reactor/future.js';
import { TCPServer } from '../net/tcpserver.js';
import { bindSockets, bindUnixSocket } from '../net/netutil.js';
import { AF_INET6, AF_UNIX, SOCK_STREAM, Socket } from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import type { Address } from '../reactor/sys/sockaddr.js';
import { assertNoIpv6, captureLogs, fdLeakCheck, ipv6Loopback } from './helpers.js';

/** Echoes every line it reads, until the peer closes. */
class EchoServer extends TCPServer {
  handled = 0;
  /** The peer addresses handleStream was given, in order. */
  readonly addresses: Address[] = [];
  override async handleStream(stream: IOStream, address?: Address): Promise<void> {
    this.handled++;
    if (address !== undefined) this.addresses.push(address);
    try {
      for (;;) await stream.write((await stream.readUntil('\n'))!);
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
    }
  }
}

function listenLocal(server: TCPServer, address = '127.0.0.1', backlog?: number): number {
  const sockets = bindSockets(0, address, { backlog });
  server.addSockets(sockets);
  return (sockets[0]!.getsockname() as [string, number])[1];
}

async function connectTo(address: Address, family?: number): Promise<IOStream> {
  const stream = new IOStream(new Socket(family ?? (typeof address === 'string' ? AF_UNIX : undefined), SOCK_STREAM));
  await stream.connect(address);
  return stream;
}

async function roundTrip(stream: IOStream, line: string): Promise<string> {
  await stream.write(line);
  return (await stream.readUntil('\n'))!.toString();
}

test('listen() serves connections; handleStream gets the stream and the peer address', async () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  const seen: Address[] = [];
  class Recorder extends EchoServer {
    override handleStream(stream: IOStream, address: Address): Promise<void> {
      seen.push(address);
      return super.handleStream(stream);
    }
  }
  const server = new Recorder();
  let clientAddress: Address = '';
  await loop.runSync(async () => {
    const port = listenLocal(server);
    const client = await connectTo(['127.0.0.1', port]);
    clientAddress = client.socket.getsockname();
    assert.is(await roundTrip(client, 'ping\n'), 'ping\n');
    client.close();
  }, 10);
  server.stop();
  loop.close(true);
  // Exactly the client's address, on every poller (on a ring the kernel writes it for the ACCEPT).
  assert.equal(seen, [clientAddress]);
  leaks();
});

test('bind() then start(): nothing is accepted before start', async () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  const server = new EchoServer();
  await loop.runSync(async () => {
    server.bind(0, '127.0.0.1');
    server.start();
    // bind() kept the sockets until start(); now they are accepting.
    const port = ((server as unknown as { sockets: Map<number, { socket: Socket }> }).sockets.values().next().value!.socket.getsockname() as [string, number])[1];
    const client = await connectTo(['127.0.0.1', port]);
    assert.is(await roundTrip(client, 'after start\n'), 'after start\n');
    client.close();
  }, 10);
  assert.throws(() => server.start(), /already started/);
  server.stop();
  loop.close(true);
  leaks();
});

// start(n) with worker processes runs in spec/process-fork.spec.ts (it re-runs the program).
test('start() with a process count that is not one is refused clearly', () => {
  const server = new EchoServer();
  assert.throws(() => server.start(-3), /must be >= 0/);
  assert.throws(() => server.start('x' as unknown as number), /must be an integer or null/);
});

test('the default handleStream says it must be overridden, and that connection is closed', async () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  const server = new TCPServer();
  const { logs } = await captureLogs(() => loop.runSync(async () => {
    const port = listenLocal(server);
    const client = await connectTo(['127.0.0.1', port]);
    await client.readUntilClose();
    client.close();
  }, 10));
  server.stop();
  loop.close(true);
  assert.ok(logs.some(([level, text]) => level === 'error' && /Error in connection callback/.test(text) && /not implemented/.test(text)));
  leaks();
});

test('a handleStream that throws, rejects or returns a failed Future is logged, its stream closed, and the server keeps serving', async () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  let calls = 0;
  class Flaky extends EchoServer {
    override handleStream(stream: IOStream): Promise<void> {
      calls++;
      if (calls === 1) throw new Error('sync failure');
      if (calls === 2) return Promise.reject(new Error('async failure'));
      if (calls === 3) {
        // Not a native Promise (those get one rejection handler): a gale
        // Future, failed on the next iteration, goes through addFuture.
        const failed = new Future<void>();
        loop.addCallback(() => failed.setException(new Error('future failure')));
        return failed as unknown as Promise<void>;
      }
      return super.handleStream(stream);
    }
  }
  const server = new Flaky();
  const { logs } = await captureLogs(() => loop.runSync(async () => {
    const port = listenLocal(server);
    for (let i = 0; i < 3; i++) {
      const doomed = await connectTo(['127.0.0.1', port]);
      assert.is((await doomed.readUntilClose())!.length, 0); // closed by the server
      doomed.close();
    }
    const healthy = await connectTo(['127.0.0.1', port]);
    assert.is(await roundTrip(healthy, 'still here\n'), 'still here\n');
    healthy.close();
  }, 10));
  server.stop();
  loop.close(true);
  // Tornado 4.4's wording: a throw is "Error in connection callback"; a
  // rejection goes through add_future, so it is "Exception in callback …" (issue 10).
  const errors = logs.filter(([level]) => level === 'error');
  assert.is(errors.length, 3);
  assert.match(errors[0]![1], /^Error in connection callback[^]*sync failure/);
  assert.match(errors[1]![1], /^Exception in callback <anonymous function>[^]*async failure/);
  assert.not.match(errors[1]![1], /Error in connection callback/);
  assert.match(errors[2]![1], /^Exception in callback <anonymous function>[^]*future failure/);
  leaks();
});

test('stop() closes the listening sockets but lets open connections finish', async () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  const server = new EchoServer();
  await loop.runSync(async () => {
    const port = listenLocal(server);
    const client = await connectTo(['127.0.0.1', port]);
    assert.is(await roundTrip(client, 'before\n'), 'before\n');
    server.stop();
    server.stop(); // idempotent
    assert.is(await roundTrip(client, 'after stop\n'), 'after stop\n');
    client.close();
    const refused = new IOStream(new Socket());
    try {
      await refused.connect(['127.0.0.1', port]);
      assert.unreachable('the listener should be gone');
    } catch (error) {
      assert.instance(error, StreamClosedError);
      assert.is((error as StreamClosedError).realError && (error as { realError: { code: string } }).realError.code, 'ECONNREFUSED');
    }
  }, 10);
  loop.close(true);
  leaks();
});

test('1000 concurrent connections through one server', async () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  const server = new EchoServer();
  const count = 1000;
  await loop.runSync(async () => {
    // A backlog that holds every pending connection: with the default 128
    // the kernel drops SYNs while the loop is busy connecting, and the test
    // then waits on TCP's retransmission timers (1 s, 3 s, …), not on gale.
    const port = listenLocal(server, '127.0.0.1', count);
    const clients = await multi(Array.from({ length: count }, () => connectTo(['127.0.0.1', port])));
    const replies = await multi(clients.map((c, i) => roundTrip(c, `client ${i}\n`)));
    replies.forEach((reply, i) => assert.is(reply, `client ${i}\n`));
    for (const c of clients) c.close();
  }, 60);
  assert.is(server.handled, count);
  server.stop();
  loop.close(true);
  leaks();
});

test('serves IPv6 on ::1 when the host has it', async () => {
  const probe = ipv6Loopback();
  if (!probe.ok) {
    assertNoIpv6(probe); // no IPv6 loopback on this host: nothing more to test
    return;
  }
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  const server = new EchoServer();
  await loop.runSync(async () => {
    const port = listenLocal(server, '::1');
    const client = await connectTo(['::1', port], AF_INET6);
    assert.is(await roundTrip(client, 'over v6\n'), 'over v6\n');
    assert.equal(server.addresses, [client.socket.getsockname()], '[host, port, flowinfo, scopeId] of the client');
    client.close();
  }, 10);
  server.stop();
  loop.close(true);
  leaks();
});

test('serves a Unix socket added with addSocket', async () => {
  const leaks = fdLeakCheck();
  const dir = mkdtempSync(join(tmpdir(), 'gale-tcpserver-'));
  const path = join(dir, 'echo.sock');
  const loop = new IOLoop({ makeCurrent: false });
  const server = new EchoServer();
  try {
    await loop.runSync(async () => {
      server.addSocket(bindUnixSocket(path));
      const client = await connectTo(path);
      assert.is(await roundTrip(client, 'over unix\n'), 'over unix\n');
      assert.equal(server.addresses, [''], 'an unnamed Unix peer');
      client.close();
    }, 10);
  } finally {
    server.stop();
    loop.close(true);
    rmSync(dir, { recursive: true, force: true });
  }
  leaks();
});

test.run();
