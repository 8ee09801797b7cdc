/**
 * Tornado 4.4's tornado/test/tcpclient_test.py, ported call for call.
 *
 * Every case is ported. Skipped at run time exactly where Tornado skips:
 * the IPv6 cases when the host cannot bind ::1 (`skipIfNoIPv6`) or
 * `localhost` does not resolve to an IPv6 address (`skipIfLocalhostV4`).
 * `test_connect_ipv6_dual`'s TwistedResolver check has no gale counterpart.
 */
import * as assert from 'uvu/assert';
import { Future } from '../reactor/future.js';
import { OSError } from '../reactor/sys/errors.js';
import { IOStream } from '../streams/iostream.js';
import { bindSockets } from '../net/netutil.js';
import { TCPClient, Connector } from '../net/tcpclient.js';
import { TCPServer } from '../net/tcpserver.js';
import { AF_INET, AF_INET6, AF_UNSPEC, type Address } from '../reactor/sys/socket.js';
import { Resolver } from '../resolvers/resolver.js';
import { AsyncTestCase, refusingPort, testCase, finishSuite } from './tornado-testing.js';
import { ipv6Loopback } from './helpers.js';

// Fake address families for testing.  Used in place of AF_INET
// and AF_INET6 because some installations do not have AF_INET6.
const AF1 = 1;
const AF2 = 2;

class TestTCPServer extends TCPServer {
  streams: IOStream[] = [];
  port: number;

  constructor(family: number) {
    super();
    const sockets = bindSockets(0, 'localhost', { family });
    this.addSockets(sockets);
    this.port = (sockets[0]!.getsockname() as [string, number])[1];
  }

  override handleStream(stream: IOStream, _address: Address): void {
    this.streams.push(stream);
  }

  override stop(): void {
    super.stop();
    for (const stream of this.streams) stream.close();
  }
}

class TCPClientTest extends AsyncTestCase {
  server: TestTCPServer | null = null;
  client!: TCPClient;

  override setUp(): void {
    super.setUp();
    this.server = null;
    this.client = new TCPClient();
  }

  startServer(family: number): number {
    this.server = new TestTCPServer(family);
    return this.server.port;
  }

  stopServer(): void {
    if (this.server !== null) {
      this.server.stop();
      this.server = null;
    }
  }

  override tearDown(): void {
    this.client.close();
    this.stopServer();
    super.tearDown();
  }

  skipIfNoIPv6(): void {
    if (!ipv6Loopback().ok) this.skipTest('ipv6 support not present');
  }

  async skipIfLocalhostV4(): Promise<void> {
    // The port used here doesn't matter, but some systems require it
    // to be non-zero if we do not also pass AI_PASSIVE.
    const resolver = Resolver.create();
    resolver.resolve('localhost', 80, AF_UNSPEC, this.stop);
    const addrinfo = (await this.wait()) as Array<[number, Address]>;
    resolver.close();
    const families = new Set(addrinfo.map((addr) => addr[0]));
    if (!families.has(AF_INET6)) this.skipTest('localhost does not resolve to ipv6');
  }

  doTestConnect(family: number, host: string): Promise<void> {
    return this.genTest(async () => {
      const port = this.startServer(family);
      const stream = await this.client.connect(host, port);
      try {
        stream.write('hello');
        const data = await this.server!.streams[0]!.readBytes(5);
        assert.equal(data, Buffer.from('hello'));
      } finally {
        stream.close();
      }
    });
  }
}

const t = testCase('TCPClientTest', () => new TCPClientTest());

t('test_connect_ipv4_ipv4', (self) => self.doTestConnect(AF_INET, '127.0.0.1'));
t('test_connect_ipv4_dual', (self) => self.doTestConnect(AF_INET, 'localhost'));
t('test_connect_ipv6_ipv6', async (self) => {
  self.skipIfNoIPv6();
  await self.skipIfLocalhostV4();
  await self.doTestConnect(AF_INET6, '::1');
});
t('test_connect_ipv6_dual', async (self) => {
  self.skipIfNoIPv6();
  await self.skipIfLocalhostV4();
  await self.doTestConnect(AF_INET6, 'localhost');
});
t('test_connect_unspec_ipv4', (self) => self.doTestConnect(AF_UNSPEC, '127.0.0.1'));
t('test_connect_unspec_ipv6', async (self) => {
  self.skipIfNoIPv6();
  await self.skipIfLocalhostV4();
  await self.doTestConnect(AF_UNSPEC, '::1');
});
t('test_connect_unspec_dual', (self) => self.doTestConnect(AF_UNSPEC, 'localhost'));
t('test_refused_ipv4', (self) => self.genTest(async () => {
  const [cleanupFunc, port] = refusingPort();
  self.addCleanup(cleanupFunc);
  // Python's assertRaises(IOError): StreamClosedError is an OSError in gale too.
  let raised: unknown = null;
  try {
    await self.client.connect('127.0.0.1', port);
  } catch (error) {
    raised = error;
  }
  assert.instance(raised, OSError);
}));

const split = testCase('TestConnectorSplit', () => new AsyncTestCase());

split('test_one_family', () => {
  // These addresses aren't in the right format, but split doesn't care.
  const [primary, secondary] = Connector.split([[AF1, 'a'], [AF1, 'b']]);
  assert.equal(primary, [[AF1, 'a'], [AF1, 'b']]);
  assert.equal(secondary, []);
});

split('test_mixed', () => {
  const [primary, secondary] = Connector.split([[AF1, 'a'], [AF2, 'b'], [AF1, 'c'], [AF2, 'd']]);
  assert.equal(primary, [[AF1, 'a'], [AF1, 'c']]);
  assert.equal(secondary, [[AF2, 'b'], [AF2, 'd']]);
});

class FakeStream {
  closed = false;
  close(): void { this.closed = true; }
}

class ConnectorTest extends AsyncTestCase {
  connectFutures = new Map<string, Future<FakeStream>>();
  streams = new Map<string, FakeStream>();
  addrinfo: Array<[number, Address]> = [[AF1, 'a'], [AF1, 'b'], [AF2, 'c'], [AF2, 'd']];

  override tearDown(): void {
    // Unless explicitly checked (and popped) in the test, we shouldn't
    // be closing any streams
    try {
      for (const stream of this.streams.values()) assert.not.ok(stream.closed);
    } finally {
      super.tearDown();
    }
  }

  createStream = (af: number, addr: Address): Future<FakeStream> => {
    const future = new Future<FakeStream>();
    this.connectFutures.set(`${af},${String(addr)}`, future);
    return future;
  };

  assertPending(...keys: Array<[number, string]>): void {
    assert.equal([...this.connectFutures.keys()].sort(), keys.map(([af, addr]) => `${af},${addr}`).sort());
  }

  resolveConnect(af: number, addr: string, success: boolean): void {
    const key = `${af},${addr}`;
    const future = this.connectFutures.get(key)!;
    this.connectFutures.delete(key);
    if (success) {
      this.streams.set(addr, new FakeStream());
      future.setResult(this.streams.get(addr)!);
    } else {
      future.setException(new OSError(0, undefined, 'IOError()', 'EIO'));
    }
  }

  startConnect(addrinfo: Array<[number, Address]>): [Connector<FakeStream>, Future<[number, Address, FakeStream]>] {
    const conn = new Connector<FakeStream>(addrinfo, this.ioLoop, this.createStream);
    // Give it a huge timeout; we'll trigger timeouts manually.
    const future = conn.start(3600);
    return [conn, future];
  }
}

const c = testCase('ConnectorTest', () => new ConnectorTest());

c('test_immediate_success', (self) => {
  const [, future] = self.startConnect(self.addrinfo);
  assert.equal([...self.connectFutures.keys()], [`${AF1},a`]);
  self.resolveConnect(AF1, 'a', true);
  assert.equal(future.result(), [AF1, 'a', self.streams.get('a')]);
});

c('test_immediate_failure', (self) => {
  // Fail with just one address.
  const [, future] = self.startConnect([[AF1, 'a']]);
  self.assertPending([AF1, 'a']);
  self.resolveConnect(AF1, 'a', false);
  assert.throws(() => future.result(), (e: unknown) => e instanceof OSError);
});

c('test_one_family_second_try', (self) => {
  const [, future] = self.startConnect([[AF1, 'a'], [AF1, 'b']]);
  self.assertPending([AF1, 'a']);
  self.resolveConnect(AF1, 'a', false);
  self.assertPending([AF1, 'b']);
  self.resolveConnect(AF1, 'b', true);
  assert.equal(future.result(), [AF1, 'b', self.streams.get('b')]);
});

c('test_one_family_second_try_failure', (self) => {
  const [, future] = self.startConnect([[AF1, 'a'], [AF1, 'b']]);
  self.assertPending([AF1, 'a']);
  self.resolveConnect(AF1, 'a', false);
  self.assertPending([AF1, 'b']);
  self.resolveConnect(AF1, 'b', false);
  assert.throws(() => future.result(), (e: unknown) => e instanceof OSError);
});

c('test_one_family_second_try_timeout', (self) => {
  const [conn, future] = self.startConnect([[AF1, 'a'], [AF1, 'b']]);
  self.assertPending([AF1, 'a']);
  // trigger the timeout while the first lookup is pending;
  // nothing happens.
  conn.onTimeout();
  self.assertPending([AF1, 'a']);
  self.resolveConnect(AF1, 'a', false);
  self.assertPending([AF1, 'b']);
  self.resolveConnect(AF1, 'b', true);
  assert.equal(future.result(), [AF1, 'b', self.streams.get('b')]);
});

c('test_two_families_immediate_failure', (self) => {
  const [, future] = self.startConnect(self.addrinfo);
  self.assertPending([AF1, 'a']);
  self.resolveConnect(AF1, 'a', false);
  self.assertPending([AF1, 'b'], [AF2, 'c']);
  self.resolveConnect(AF1, 'b', false);
  self.resolveConnect(AF2, 'c', true);
  assert.equal(future.result(), [AF2, 'c', self.streams.get('c')]);
});

c('test_two_families_timeout', (self) => {
  const [conn, future] = self.startConnect(self.addrinfo);
  self.assertPending([AF1, 'a']);
  conn.onTimeout();
  self.assertPending([AF1, 'a'], [AF2, 'c']);
  self.resolveConnect(AF2, 'c', true);
  assert.equal(future.result(), [AF2, 'c', self.streams.get('c')]);
  // resolving 'a' after the connection has completed doesn't start 'b'
  self.resolveConnect(AF1, 'a', false);
  self.assertPending();
});

c('test_success_after_timeout', (self) => {
  const [conn, future] = self.startConnect(self.addrinfo);
  self.assertPending([AF1, 'a']);
  conn.onTimeout();
  self.assertPending([AF1, 'a'], [AF2, 'c']);
  self.resolveConnect(AF1, 'a', true);
  assert.equal(future.result(), [AF1, 'a', self.streams.get('a')]);
  // resolving 'c' after completion closes the connection.
  self.resolveConnect(AF2, 'c', true);
  const c = self.streams.get('c')!;
  self.streams.delete('c');
  assert.ok(c.closed);
});

c('test_all_fail', (self) => {
  const [conn, future] = self.startConnect(self.addrinfo);
  self.assertPending([AF1, 'a']);
  conn.onTimeout();
  self.assertPending([AF1, 'a'], [AF2, 'c']);
  self.resolveConnect(AF2, 'c', false);
  self.assertPending([AF1, 'a'], [AF2, 'd']);
  self.resolveConnect(AF2, 'd', false);
  // one queue is now empty
  self.assertPending([AF1, 'a']);
  self.resolveConnect(AF1, 'a', false);
  self.assertPending([AF1, 'b']);
  assert.not.ok(future.done());
  self.resolveConnect(AF1, 'b', false);
  assert.throws(() => future.result(), (e: unknown) => e instanceof OSError);
});

finishSuite();
