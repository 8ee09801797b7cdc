/**
 * Packaging: the root export carries every API.md name that exists so far,
 * and each subpath export resolves (through the package's self-reference,
 * as a user's `import 'gale/net'` would).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

// API.md's names, minus those of issues not yet done: the ssl section
// (TLS). README lists them as pending.
const apiNames = `IOLoop PeriodicCallback Future isFuture chainFuture futureSetResultUnlessCancelled
  futureSetExceptionUnlessCancelled sleep withTimeout moment multi TimeoutError defineTask ThreadPoolExecutor
  dummyExecutor setLogger OSError StreamClosedError UnsatisfiableReadError StreamBufferFullError BaseIOStream
  IOStream PipeIOStream Socket socketpair pipe AF_UNSPEC AF_INET AF_INET6 AF_UNIX SOCK_STREAM SOCK_DGRAM
  SOL_SOCKET SO_REUSEADDR SO_REUSEPORT SO_ERROR SO_KEEPALIVE IPPROTO_TCP TCP_NODELAY IPPROTO_IPV6 IPV6_V6ONLY
  AI_PASSIVE AI_NUMERICHOST AI_ADDRCONFIG SHUT_RD SHUT_WR SHUT_RDWR bindSockets bindUnixSocket addAcceptHandler
  isValidIp TCPServer TCPClient taskId cpuCount forkProcesses Resolver BlockingResolver ExecutorResolver ThreadedResolver
  OverrideResolver`.split(/\s+/);

test('the root export has every implemented API name', async () => {
  const root = await import('gale');
  const missing = apiNames.filter((name) => !(name in root));
  assert.equal(missing, []);
});

test('each subpath export resolves to its folder', async () => {
  assert.ok('IOLoop' in (await import('gale/reactor')));
  assert.ok('IOStream' in (await import('gale/streams')));
  assert.ok('TCPServer' in (await import('gale/net')));
  assert.ok('ThreadedResolver' in (await import('gale/resolvers')));
});

test('errors are classes whose name matches', async () => {
  const root = await import('gale');
  for (const name of ['OSError', 'TimeoutError', 'StreamClosedError', 'UnsatisfiableReadError', 'StreamBufferFullError']) {
    const ErrorClass = (root as unknown as Record<string, new (...a: any[]) => Error>)[name]!;
    const error = name === 'OSError' ? new ErrorClass(2, 'open') : new ErrorClass('x');
    assert.instance(error, Error);
    assert.is(error.name, name);
  }
});

test.run();
