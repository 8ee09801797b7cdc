/**
 * net/tcpclient.ts: Tornado's ConnectorTest (the happy-eyeballs race against
 * fake connect functions, plus a controllable clock) and TCPClientTest
 * (real loopback connections over IPv4 and IPv6, refused ports, source
 * address and port, timeouts), with fd-leak checks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { CancelledError, Future, TimeoutError } from '../reactor/future.js';
import { moment } from '../reactor/gen.js';
import { defaultExecutor, type ThreadPoolExecutor } from '../reactor/executor-pool.js';
import { OSError } from '../reactor/sys/errors.js';
import { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { AF_INET, AF_INET6, AF_UNSPEC, SOCK_NONBLOCK, SOCK_STREAM, Socket, type Address } from '../reactor/sys/socket.js';
import { addAcceptHandler, bindSockets } from '../net/netutil.js';
import { Connector, INITIAL_CONNECT_TIMEOUT, TCPClient } from '../net/tcpclient.js';
import { BlockingResolver, OverrideResolver, Resolver, ThreadedResolver, type Resolved } from '../resolvers/resolver.js';
import { GaiError } from '../reactor/sys/getaddrinfo.js';
import { fdLeakCheck, inLoop, rejection } from './helpers.js';

const checkFds = fdLeakCheck();

/** Lets the loop run a few iterations (due timeouts fire in them). */
async function iterations(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await moment;
}

// ------------------------------------------------------------ the Connector, with fakes

const AF1 = 1;
const AF2 = 2;

class FakeStream {
  closed = false;
  close(): void { this.closed = true; }
}

/** Tornado's ConnectorTest fixture: every attempt is a Future the test settles by hand. */
class Fakes {
  readonly connectFutures = new Map<string, Future<FakeStream>>();
  readonly streams = new Map<string, FakeStream>();

  readonly connect = (af: number, addr: Address): Future<FakeStream> => {
    const key = `${af}/${String(addr)}`;
    const future = new Future<FakeStream>();
    const stream = new FakeStream();
    this.streams.set(String(addr), stream);
    this.connectFutures.set(key, future);
    return future;
  };

  /** The attempts still pending, as `af/addr` keys, sorted. */
  pending(): string[] {
    return [...this.connectFutures].filter(([, f]) => !f.done()).map(([k]) => k).sort();
  }

  assertPending(...keys: string[]): void {
    assert.equal(this.pending(), keys.sort());
  }

  resolveConnect(key: string, success: boolean): void {
    const future = this.connectFutures.get(key)!;
    this.connectFutures.delete(key);
    assert.ok(future, `no attempt ${key}`);
    if (success) future.setResult(this.streams.get(key.split('/')[1]!)!);
    else future.setException(new OSError(111, 'connect'));
  }

  /** Unless a test pops a stream it expects closed, no stream may be closed. */
  assertNoneClosed(except: string[] = []): void {
    for (const [addr, stream] of this.streams) {
      if (!except.includes(addr)) assert.not.ok(stream.closed, `stream ${addr} was closed`);
    }
  }
}

const addrinfo: Resolved = [[AF1, 'a'], [AF1, 'b'], [AF2, 'c'], [AF2, 'd']];

/** Starts a Connector with a huge head start: the tests trigger the timeout by hand. */
function startConnect(fakes: Fakes, info: Resolved, loop: IOLoop) {
  const conn = new Connector<FakeStream>(info, loop, fakes.connect);
  const future = conn.start(3600);
  return { conn, future };
}

function connectorTest(name: string, body: (fakes: Fakes, loop: IOLoop) => void | Promise<void>): void {
  test(`Connector: ${name}`, async () => {
    await inLoop(async (loop) => body(new Fakes(), loop));
  });
}

connectorTest('split keeps the first address\'s family first, in order', () => {
  assert.equal(Connector.split(addrinfo), [[[AF1, 'a'], [AF1, 'b']], [[AF2, 'c'], [AF2, 'd']]]);
  assert.equal(Connector.split([[AF2, 'x'], [AF1, 'y'], [AF2, 'z']]), [[[AF2, 'x'], [AF2, 'z']], [[AF1, 'y']]]);
  assert.equal(Connector.split([]), [[], []]);
});

connectorTest('immediate success', (fakes, loop) => {
  const { future } = startConnect(fakes, addrinfo, loop);
  fakes.assertPending('1/a');
  fakes.resolveConnect('1/a', true);
  assert.equal(future.result(), [AF1, 'a', fakes.streams.get('a')]);
  fakes.assertNoneClosed();
});

connectorTest('immediate failure', (fakes, loop) => {
  const { future } = startConnect(fakes, [[AF1, 'a']], loop);
  fakes.assertPending('1/a');
  fakes.resolveConnect('1/a', false);
  assert.instance(future.exception(), OSError);
});

connectorTest('one family: the second address after the first fails', (fakes, loop) => {
  const { future } = startConnect(fakes, [[AF1, 'a'], [AF1, 'b']], loop);
  fakes.assertPending('1/a');
  fakes.resolveConnect('1/a', false);
  fakes.assertPending('1/b');
  fakes.resolveConnect('1/b', true);
  assert.equal(future.result(), [AF1, 'b', fakes.streams.get('b')]);
});

connectorTest('one family: both fail, with the last error', (fakes, loop) => {
  const { future } = startConnect(fakes, [[AF1, 'a'], [AF1, 'b']], loop);
  fakes.resolveConnect('1/a', false);
  fakes.assertPending('1/b');
  const last = new OSError(113, 'connect');
  fakes.connectFutures.get('1/b')!.setException(last);
  assert.is(future.exception(), last);
});

connectorTest('one family: the timeout while the first is pending changes nothing', (fakes, loop) => {
  const { conn, future } = startConnect(fakes, [[AF1, 'a'], [AF1, 'b']], loop);
  fakes.assertPending('1/a');
  conn.onTimeout();
  fakes.assertPending('1/a');
  fakes.resolveConnect('1/a', false);
  fakes.assertPending('1/b');
  fakes.resolveConnect('1/b', true);
  assert.equal(future.result(), [AF1, 'b', fakes.streams.get('b')]);
});

connectorTest('two families: a primary failure starts the secondary at once', (fakes, loop) => {
  const { future } = startConnect(fakes, addrinfo, loop);
  fakes.assertPending('1/a');
  fakes.resolveConnect('1/a', false);
  fakes.assertPending('1/b', '2/c');
  fakes.resolveConnect('1/b', false);
  fakes.resolveConnect('2/c', true);
  assert.equal(future.result(), [AF2, 'c', fakes.streams.get('c')]);
});

connectorTest('two families: the timeout starts the secondary; the loser is closed when it arrives', (fakes, loop) => {
  const { conn, future } = startConnect(fakes, addrinfo, loop);
  fakes.assertPending('1/a');
  conn.onTimeout();
  fakes.assertPending('1/a', '2/c');
  fakes.resolveConnect('2/c', true);
  assert.equal(future.result(), [AF2, 'c', fakes.streams.get('c')]);
  // The primary attempt is left alone (never cancelled), and 'b' never starts.
  fakes.assertPending('1/a');
  assert.not.ok(fakes.streams.has('b'));
  fakes.assertNoneClosed();
  fakes.resolveConnect('1/a', true);
  assert.ok(fakes.streams.get('a')!.closed, 'a late arrival is dropped');
  assert.is(conn.pending, 0);
  fakes.assertNoneClosed(['a']);
});

connectorTest('success after the timeout: the other family\'s late arrival is closed', (fakes, loop) => {
  const { conn, future } = startConnect(fakes, addrinfo, loop);
  conn.onTimeout();
  fakes.assertPending('1/a', '2/c');
  fakes.resolveConnect('1/a', true);
  assert.equal(future.result(), [AF1, 'a', fakes.streams.get('a')]);
  fakes.resolveConnect('2/c', true);
  assert.ok(fakes.streams.get('c')!.closed);
  fakes.assertNoneClosed(['c']);
});

connectorTest('late arrivals are never cancelled: a connect function may settle its own Future later (issue 10)', (fakes, loop) => {
  // Regression: the Connector cancelled pending attempts when the race
  // ended, so a connect function settling its own Future afterwards threw
  // InvalidStateError ("Future was cancelled").
  const { conn, future } = startConnect(fakes, addrinfo, loop);
  conn.onTimeout();
  const a = fakes.connectFutures.get('1/a')!;
  const c = fakes.connectFutures.get('2/c')!;
  fakes.resolveConnect('2/c', true);
  assert.ok(future.done());
  assert.not.ok(a.cancelled(), 'the pending attempt was not cancelled');
  a.setException(new OSError(111, 'connect')); // a late failure: no throw, no effect
  assert.equal(future.result(), [AF2, 'c', fakes.streams.get('c')]);
  assert.not.ok(c.cancelled());
  assert.is(conn.pending, 0);
});

connectorTest('a late arrival is closed', (fakes, loop) => {
  const { conn, future } = startConnect(fakes, addrinfo, loop);
  fakes.resolveConnect('1/a', true);
  assert.ok(future.done());
  // An attempt that completes after the race is decided (Tornado's late arrival).
  const late = new FakeStream();
  const done = new Future<FakeStream>();
  done.setResult(late);
  conn.onConnectDone([][Symbol.iterator](), AF2, 'z', done);
  assert.ok(late.closed);
});

connectorTest('all fail', (fakes, loop) => {
  const { conn, future } = startConnect(fakes, addrinfo, loop);
  fakes.assertPending('1/a');
  conn.onTimeout();
  fakes.assertPending('1/a', '2/c');
  fakes.resolveConnect('2/c', false);
  fakes.assertPending('1/a', '2/d');
  fakes.resolveConnect('2/d', false);
  // One queue is now empty.
  fakes.assertPending('1/a');
  fakes.resolveConnect('1/a', false);
  fakes.assertPending('1/b');
  assert.not.ok(future.done());
  fakes.resolveConnect('1/b', false);
  assert.instance(future.exception(), OSError);
});

connectorTest('a connect function that throws counts as a failed attempt', (fakes, loop) => {
  const conn = new Connector<FakeStream>([[AF1, 'a'], [AF1, 'b']], loop, (af, addr) => {
    if (addr === 'a') throw new TypeError('cannot even start');
    return fakes.connect(af, addr);
  });
  const future = conn.start(3600);
  fakes.assertPending('1/b');
  fakes.resolveConnect('1/b', false);
  assert.instance(future.exception(), OSError);
  const lone = new Connector<FakeStream>([[AF1, 'a']], loop, () => { throw new TypeError('no'); }).start();
  assert.instance(lone.exception(), TypeError);
});

connectorTest('a primary that fails synchronously starts the secondary at once', (fakes, loop) => {
  const conn = new Connector<FakeStream>(addrinfo, loop, (af, addr) => {
    if (af === AF1) throw new OSError(99, 'bind');
    return fakes.connect(af, addr);
  });
  const future = conn.start(3600);
  fakes.assertPending('2/c');
  fakes.resolveConnect('2/c', true);
  assert.equal(future.result(), [AF2, 'c', fakes.streams.get('c')]);
  // Settled synchronously or not, no timer is left behind.
  assert.is((conn as unknown as { timeout: unknown }).timeout, null);
});

connectorTest('no addresses at all rejects', (fakes, loop) => {
  const future = new Connector<FakeStream>([], loop, fakes.connect).start();
  assert.match((future.exception() as Error).message, /no addresses/);
});

connectorTest('the connect timeout fails with TimeoutError; attempts that arrive later are closed', (fakes, loop) => {
  const conn = new Connector<FakeStream>(addrinfo, loop, fakes.connect);
  const future = conn.start(3600, { seconds: 3600 });
  conn.onTimeout();
  fakes.assertPending('1/a', '2/c');
  conn.onConnectTimeout();
  assert.instance(future.exception(), TimeoutError);
  fakes.assertPending('1/a', '2/c');
  fakes.resolveConnect('1/a', true);
  fakes.resolveConnect('2/c', false);
  assert.ok(fakes.streams.get('a')!.closed);
  // Nothing new starts afterwards.
  conn.onTimeout();
  fakes.assertPending();
  assert.is(fakes.streams.size, 2);
});

connectorTest('cancelling the race leaves the attempts alone; their late arrivals are closed', (fakes, loop) => {
  const { conn, future } = startConnect(fakes, addrinfo, loop);
  conn.onTimeout();
  assert.ok(future.cancel());
  fakes.assertPending('1/a', '2/c');
  fakes.resolveConnect('1/a', true);
  fakes.resolveConnect('2/c', true);
  assert.ok(fakes.streams.get('a')!.closed && fakes.streams.get('c')!.closed);
});

test('Connector takes Tornado\'s argument order (addrinfo, ioLoop, connect)', () => {
  const wrongOrder = (() => new Future<FakeStream>()) as unknown as IOLoop;
  assert.throws(() => new Connector<FakeStream>(addrinfo, wrongOrder, null as unknown as () => Future<FakeStream>), /Tornado's order/);
});

test('Connector on a controllable clock: the secondary starts 0.3 s in, the deadline ends it', async () => {
  const fakes = new Fakes();
  const loop = new IOLoop({ makeCurrent: false });
  // The fake clock moves only when the test moves it, so a slow machine (or
  // qemu) cannot fire the 0.3 s timer early; after 10 s of real time it jumps
  // far ahead, so runSync's bound still ends a hang.
  const realTime = loop.time.bind(loop);
  const base = realTime();
  let offset = 0;
  loop.time = () => base + offset + (realTime() - base > 10 ? 1e6 : 0);
  try {
    await loop.runSync(async () => {
      assert.is(INITIAL_CONNECT_TIMEOUT, 0.3);
      const conn = new Connector<FakeStream>(addrinfo, loop, fakes.connect);
      const future = conn.start(INITIAL_CONNECT_TIMEOUT, loop.time() + 5);
      fakes.assertPending('1/a');
      offset += 0.25;
      await iterations();
      fakes.assertPending('1/a');
      offset += 0.1;
      await iterations();
      fakes.assertPending('1/a', '2/c');
      fakes.resolveConnect('2/c', false);
      fakes.assertPending('1/a', '2/d');
      offset += 5;
      await iterations();
      assert.instance(future.exception(), TimeoutError);
      fakes.assertPending('1/a', '2/d');
      fakes.resolveConnect('1/a', true);
      fakes.resolveConnect('2/d', true);
      assert.ok(fakes.streams.get('a')!.closed && fakes.streams.get('d')!.closed);
    }, 10);
  } finally {
    loop.close();
  }
});

// ------------------------------------------------------------ TCPClient, on loopback

/** A listening socket whose connections are read as IOStreams. */
class TestServer {
  readonly sockets: Socket[];
  readonly port: number;
  private readonly remove: Array<() => void> = [];
  private readonly queue: Array<[IOStream, Address]> = [];
  private waiter: Future<[IOStream, Address]> | null = null;

  constructor(family: number, host: string) {
    this.sockets = bindSockets(0, host, { family });
    this.port = (this.sockets[0]!.getsockname() as [string, number])[1];
    for (const sock of this.sockets) {
      this.remove.push(addAcceptHandler(sock, (connection, address) => {
        const entry: [IOStream, Address] = [new IOStream(connection), address];
        if (this.waiter && !this.waiter.done()) this.waiter.setResult(entry);
        else this.queue.push(entry);
        this.waiter = null;
      }));
    }
  }

  nextConnection(): Future<[IOStream, Address]> {
    const future = new Future<[IOStream, Address]>();
    const queued = this.queue.shift();
    if (queued) future.setResult(queued);
    else this.waiter = future;
    return future;
  }

  close(): void {
    for (const remove of this.remove) remove();
    for (const sock of this.sockets) sock.close();
    for (const [stream] of this.queue) stream.close();
  }
}

/** Whether an IPv6 loopback socket can be bound here. */
function canBindIPv6Loopback(): boolean {
  try {
    const sock = new Socket(AF_INET6, SOCK_STREAM);
    try {
      sock.bind(['::1', 0]);
      return true;
    } finally {
      sock.close();
    }
  } catch {
    return false;
  }
}

/** Tornado's do_test_connect: connect, write "hello", read it on the server side. */
async function doTestConnect(family: number, host: string, options: { af?: number; sourceIp?: string; sourcePort?: number;
  serverHost?: string; client?: TCPClient } = {}): Promise<Address> {
  const check = fdLeakCheck();
  const client = options.client ?? new TCPClient();
  let peer: Address = '';
  await inLoop(async () => {
    const server = new TestServer(family, options.serverHost ?? (family === AF_INET6 ? '::1' : '127.0.0.1'));
    try {
      const stream = await client.connect(host, server.port, { af: options.af, sourceIp: options.sourceIp, sourcePort: options.sourcePort });
      assert.instance(stream, IOStream);
      const [serverStream, address] = await server.nextConnection();
      peer = address;
      try {
        await stream.write('hello');
        assert.equal((await serverStream.readBytes(5))!.toString(), 'hello');
      } finally {
        stream.close();
        serverStream.close();
      }
    } finally {
      server.close();
      if (!options.client) client.close();
    }
  });
  check();
  return peer;
}

// The shared lookup pool's first worker brings fds of its own (its libuv loop,
// the pool's waker); start it before the per-test fd checks, which look for
// what a connect leaves behind. The last test checks that the pool's go too.
test('TCPClient: start the shared lookup pool', async () => {
  const resolver = new ThreadedResolver();
  assert.ok((await inLoop(() => resolver.resolve('localhost', 80)))!.length > 0);
  resolver.close();
});

test('TCPClient: connect over IPv4 (literal, localhost, AF_INET and AF_UNSPEC)', async () => {
  await doTestConnect(AF_INET, '127.0.0.1');
  await doTestConnect(AF_INET, 'localhost');
  await doTestConnect(AF_INET, 'localhost', { af: AF_INET });
  await doTestConnect(AF_UNSPEC, '127.0.0.1', { serverHost: '127.0.0.1' });
});

test('TCPClient: connect over IPv6 where ::1 can be bound', async () => {
  const ipv6 = canBindIPv6Loopback();
  if (!ipv6) {
    // The detection itself is what this environment can check.
    assert.not.ok(ipv6, 'no IPv6 loopback here: the v6 connects cannot run');
    return;
  }
  const peer = await doTestConnect(AF_INET6, '::1');
  assert.is((peer as [string, number])[0], '::1');
  assert.is(peer.length, 4, 'IPv6 peers come as [host, port, flowinfo, scopeId]');
  await doTestConnect(AF_INET6, '::1', { af: AF_INET6 });
});

test('TCPClient: a refused connection rejects with ECONNREFUSED', async () => {
  const check = fdLeakCheck();
  // Bound but not listening: nobody accepts on this port.
  const refusing = new Socket(AF_INET, SOCK_STREAM);
  refusing.bind(['127.0.0.1', 0]);
  const port = (refusing.getsockname() as [string, number])[1];
  const client = new TCPClient();
  try {
    const error = await inLoop(() => rejection(client.connect('127.0.0.1', port)));
    assert.instance(error, StreamClosedError);
    assert.instance(error.realError, OSError);
    assert.is(error.realError.code, 'ECONNREFUSED');
  } finally {
    client.close();
    refusing.close();
  }
  check();
});

test('TCPClient: a refused address falls through to the next, in either family', async () => {
  const check = fdLeakCheck();
  const refusing = new Socket(AF_INET, SOCK_STREAM);
  refusing.bind(['127.0.0.1', 0]);
  const refused = (refusing.getsockname() as [string, number])[1];
  class FixedResolver extends Resolver {
    constructor(private readonly answer: Resolved) { super(); }
    protected resolveFuture(): Future<Resolved> {
      const future = new Future<Resolved>();
      future.setResult(this.answer);
      return future;
    }
  }
  await inLoop(async () => {
    const server = new TestServer(AF_INET, '127.0.0.1');
    try {
      const sameFamily = new TCPClient({ resolver: new FixedResolver([[AF_INET, ['127.0.0.1', refused]], [AF_INET, ['127.0.0.1', server.port]]]) });
      (await sameFamily.connect('example.test', 1)).close();
      (await server.nextConnection())[0].close();
      if (canBindIPv6Loopback()) {
        // An IPv6 primary that is refused (nothing listens on ::1 there): the IPv4 secondary takes over.
        const mixed = new TCPClient({ resolver: new FixedResolver([[AF_INET6, ['::1', refused, 0, 0]], [AF_INET, ['127.0.0.1', server.port]]]) });
        const stream = await mixed.connect('example.test', 1);
        assert.is(stream.socket.family, AF_INET);
        stream.close();
        (await server.nextConnection())[0].close();
      }
      const none = new TCPClient({ resolver: new FixedResolver([]) });
      assert.match((await rejection(none.connect('example.test', 1))).message, /no addresses/);
    } finally {
      server.close();
    }
  });
  refusing.close();
  check();
});

test('TCPClient: source IP and port are bound before connecting', async () => {
  const peer = await doTestConnect(AF_INET, '127.0.0.1', { sourceIp: '127.0.0.1' });
  assert.is((peer as [string, number])[0], '127.0.0.1');
  // A free port, found by binding and releasing it. Another process (the
  // suite runs two spec files at once) may take it as an ephemeral port in
  // between: then try another, a bounded number of times.
  for (let attempt = 1; ; attempt++) {
    const probe = new Socket(AF_INET, SOCK_STREAM);
    probe.bind(['127.0.0.1', 0]);
    const free = (probe.getsockname() as [string, number])[1];
    probe.close();
    try {
      const withPort = await doTestConnect(AF_INET, '127.0.0.1', { sourcePort: free });
      assert.equal(withPort, ['127.0.0.1', free]);
      return;
    } catch (error) {
      if (attempt === 5 || !(error instanceof OSError) || error.code !== 'EADDRINUSE') throw error;
    }
  }
});

test('TCPClient: a source IP or port that cannot be bound fails the connect', async () => {
  const check = fdLeakCheck();
  const busy = new Socket(AF_INET, SOCK_STREAM);
  busy.bind(['127.0.0.1', 0]);
  busy.listen(1);
  const busyPort = (busy.getsockname() as [string, number])[1];
  const client = new TCPClient();
  await inLoop(async () => {
    const server = new TestServer(AF_INET, '127.0.0.1');
    try {
      const notLocal = await rejection(client.connect('127.0.0.1', server.port, { sourceIp: '8.8.8.8' }));
      assert.instance(notLocal, OSError);
      assert.is(notLocal.code, 'EADDRNOTAVAIL');
      const inUse = await rejection(client.connect('127.0.0.1', server.port, { sourceIp: '127.0.0.1', sourcePort: busyPort }));
      assert.instance(inUse, OSError);
      assert.is(inUse.code, 'EADDRINUSE');
      const wrongFamily = await rejection(client.connect('127.0.0.1', server.port, { sourceIp: '::1' }));
      assert.instance(wrongFamily, OSError);
    } finally {
      server.close();
    }
  });
  client.close();
  busy.close();
  check();
});

test('TCPClient: timeout with a full listen backlog rejects with TimeoutError and closes the attempt', async () => {
  const check = fdLeakCheck();
  // listen(0) queues one connection; fill it, and the next connects hang in SYN_SENT.
  const listener = new Socket(AF_INET, SOCK_STREAM);
  listener.bind(['127.0.0.1', 0]);
  listener.listen(0);
  const address = listener.getsockname();
  const fillers: Socket[] = [];
  const client = new TCPClient();
  try {
    await inLoop(async (loop) => {
      for (let i = 0; i < 2; i++) {
        const filler = new Socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
        filler.connectEx(address);
        fillers.push(filler);
      }
      const started = loop.time();
      const error = await rejection(client.connect('127.0.0.1', (address as [string, number])[1], { timeout: 0.2 }));
      assert.instance(error, TimeoutError);
      assert.ok(loop.time() - started >= 0.15, 'not before the deadline');
    });
  } finally {
    client.close();
    for (const filler of fillers) filler.close();
    listener.close();
  }
  check();
});

test('TCPClient: the timeout also covers the lookup', async () => {
  class NeverResolver extends Resolver {
    lookups: Future<Resolved>[] = [];
    protected resolveFuture(): Future<Resolved> {
      const future = new Future<Resolved>();
      this.lookups.push(future);
      return future;
    }
  }
  const resolver = new NeverResolver();
  const client = new TCPClient({ resolver });
  await inLoop(async () => {
    assert.instance(await rejection(client.connect('1.2.3.4', 12345, { timeout: 0.05 })), TimeoutError);
    assert.ok(resolver.lookups[0]!.cancelled(), 'the lookup was abandoned');
  });
  client.close();
  assert.not.ok(resolver.closed, 'a resolver passed in is not the client\'s to close');
});

test('TCPClient: happy eyeballs on real sockets: a hanging primary loses to the secondary after 0.3 s', async () => {
  if (!canBindIPv6Loopback()) {
    assert.not.ok(canBindIPv6Loopback(), 'no IPv6 loopback here: needs two families');
    return;
  }
  const check = fdLeakCheck();
  const listener = new Socket(AF_INET, SOCK_STREAM);
  listener.bind(['127.0.0.1', 0]);
  listener.listen(0);
  const hanging = listener.getsockname() as [string, number];
  const fillers: Socket[] = [];
  await inLoop(async (loop) => {
    for (let i = 0; i < 2; i++) {
      const filler = new Socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
      filler.connectEx(hanging);
      fillers.push(filler);
    }
    const server = new TestServer(AF_INET6, '::1');
    class TwoFamilies extends Resolver {
      protected resolveFuture(_host: string, port: number): Future<Resolved> {
        const future = new Future<Resolved>();
        future.setResult([[AF_INET, ['127.0.0.1', hanging[1]]], [AF_INET6, ['::1', port, 0, 0]]]);
        return future;
      }
    }
    const client = new TCPClient({ resolver: new TwoFamilies() });
    try {
      const started = loop.time();
      const stream = await client.connect('dual.test', server.port);
      assert.ok(loop.time() - started >= 0.25, 'the primary had its head start');
      assert.is(stream.socket.family, AF_INET6);
      stream.close();
      (await server.nextConnection())[0].close();
    } finally {
      server.close();
    }
  });
  for (const filler of fillers) filler.close();
  listener.close();
  check();
});

test('TCPClient: bad timeouts reject clearly (TLS connects: spec/ssl-server)', async () => {
  const client = new TCPClient({ resolver: new BlockingResolver() });
  await inLoop(async () => {
    assert.instance(await rejection(client.connect('127.0.0.1', 80, { timeout: -1 })), RangeError);
    assert.instance(await rejection(client.connect('127.0.0.1', 80, { timeout: Number.NaN })), RangeError);
  });
  client.close();
});

test('TCPClient: lookup failures and cancellation', async () => {
  const check = fdLeakCheck();
  const client = new TCPClient({ resolver: new OverrideResolver({ resolver: new BlockingResolver(), mapping: { 'cancel.test': '127.0.0.1' } }) });
  const listener = new Socket(AF_INET, SOCK_STREAM);
  listener.bind(['127.0.0.1', 0]);
  listener.listen(0);
  const hanging = listener.getsockname() as [string, number];
  const filler = new Socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  filler.connectEx(hanging);
  const filler2 = new Socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  filler2.connectEx(hanging);
  await inLoop(async () => {
    assert.instance(await rejection(client.connect('an invalid domain', 80)), GaiError);
    // Cancelling a connect in progress closes its socket.
    const connecting = client.connect('cancel.test', hanging[1]);
    await iterations();
    assert.ok(connecting.cancel());
    assert.instance(await rejection(connecting), CancelledError);
  });
  client.close();
  filler.close();
  filler2.close();
  listener.close();
  check();
});

test('TCPClient: a client closes the resolver it made, not one it was given', async () => {
  const own = new TCPClient();
  assert.instance(own.resolver, Resolver.configuredClass());
  own.close();
  assert.ok(own.resolver.closed);
  const given = new ThreadedResolver();
  const borrowing = new TCPClient({ resolver: given });
  borrowing.close();
  assert.not.ok(given.closed);
  given.close();
  // A connect on a client whose resolver is closed fails cleanly.
  await inLoop(async () => {
    assert.match((await rejection(own.connect('localhost', 80))).message, /closed/);
  });
});

test('TCPClient: connects on a loop that never looks at libuv (nodeInterop: false)', async () => {
  const check = fdLeakCheck();
  const client = new TCPClient();
  await inLoop(async () => {
    const server = new TestServer(AF_INET, '127.0.0.1');
    try {
      const stream = await client.connect('localhost', server.port);
      const [serverStream] = await server.nextConnection();
      await serverStream.write('ping');
      assert.is((await stream.readBytes(4))!.toString(), 'ping');
      stream.close();
      serverStream.close();
    } finally {
      server.close();
    }
  }, { nodeInterop: false });
  client.close();
  check();
});

test('no fds leaked, no worker threads left', async () => {
  const pool = ThreadedResolver.createThreadpool(1) as ThreadPoolExecutor;
  await pool.shutdown();
  await defaultExecutor().shutdown();
  assert.is(pool.liveWorkers, 0);
  checkFds();
});

test.run();
