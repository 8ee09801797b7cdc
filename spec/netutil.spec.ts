/**
 * net/netutil.ts: Tornado's netutil tests (same port for v4/v6, reuse_port,
 * is_valid_ip, bind_unix_socket), plus the accept handler's batching,
 * removal, and its behaviour when the process runs out of fds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addAcceptHandler, bindSockets, bindUnixSocket, isValidIp } from '../net/netutil.js';
import {
  AF_INET, AF_INET6, AF_UNIX, IPPROTO_IPV6, IPV6_V6ONLY, SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, Socket,
  type Address,
} from '../reactor/sys/socket.js';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { sleep } from '../reactor/gen.js';
import { OSError } from '../reactor/sys/errors.js';
import { c, isNonblocking } from '../reactor/sys/libc.js';
import { F_GETFD, FD_CLOEXEC } from '../reactor/sys/constants.js';
import { assertNoIpv6, captureLogs, fdLeakCheck, ipv6Loopback, thrown } from './helpers.js';
import { exhaustFds } from './fd-limit.js';

const SO_ACCEPTCONN = 30;

function portOf(sock: Socket): number {
  return (sock.getsockname() as [string, number])[1];
}

function closeAll(sockets: Socket[]): void {
  for (const sock of sockets) sock.close();
}

/** A fresh loop, current for the test; `done` closes it. */
function freshLoop(): IOLoop {
  const loop = new IOLoop();
  loop.makeCurrent();
  return loop;
}

// ------------------------------------------------------------ bindSockets

test('bindSockets on all interfaces gives v4 and v6 the same ephemeral port', () => {
  const check = fdLeakCheck();
  const sockets = bindSockets(0, '');
  try {
    const probe = ipv6Loopback();
    const families = sockets.map((s) => s.family);
    assert.ok(families.includes(AF_INET));
    if (probe.ok) assert.ok(families.includes(AF_INET6), `families ${families}`);
    else assertNoIpv6(probe);
    const port = portOf(sockets[0]!);
    assert.ok(port > 0);
    for (const sock of sockets) assert.is(portOf(sock), port);
  } finally {
    closeAll(sockets);
  }
  check();
});

test('bindSockets(0, "localhost") binds every address with one port (Tornado test_same_port_allocation)', () => {
  const check = fdLeakCheck();
  const sockets = bindSockets(0, 'localhost');
  try {
    assert.ok(sockets.length >= 1);
    const port = portOf(sockets[0]!);
    for (const sock of sockets) assert.is(portOf(sock), port);
    assert.ok(sockets.some((s) => (s.getsockname() as Address[])[0] === '127.0.0.1'));
  } finally {
    closeAll(sockets);
  }
  check();
});

test('bindSockets makes nonblocking, close-on-exec listeners with SO_REUSEADDR and V6ONLY', () => {
  const check = fdLeakCheck();
  const sockets = bindSockets(0, null, { backlog: 16 });
  try {
    for (const sock of sockets) {
      assert.not.ok(sock.getBlocking());
      assert.ok(isNonblocking(sock.fileno()));
      assert.ok(((c.fcntl(sock.fileno(), F_GETFD, 0) as number) & FD_CLOEXEC) !== 0);
      assert.is(sock.getsockopt(SOL_SOCKET, SO_REUSEADDR), 1);
      assert.is(sock.getsockopt(SOL_SOCKET, SO_ACCEPTCONN), 1);
      assert.is(sock.getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
      if (sock.family === AF_INET6) assert.is(sock.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY), 1);
    }
  } finally {
    closeAll(sockets);
  }
  check();
});

test('bindSockets honours family', () => {
  const check = fdLeakCheck();
  const v4 = bindSockets(0, '', { family: AF_INET });
  assert.equal(v4.map((s) => s.family), [AF_INET]);
  closeAll(v4);
  const probe = ipv6Loopback();
  if (probe.ok) {
    const v6 = bindSockets(0, '', { family: AF_INET6 });
    assert.equal(v6.map((s) => s.family), [AF_INET6]);
    closeAll(v6);
  } else {
    assertNoIpv6(probe);
  }
  check();
});

test('reusePort lets two sets of sockets share a port (Tornado test_reuse_port)', () => {
  const check = fdLeakCheck();
  const first = bindSockets(0, '127.0.0.1', { reusePort: true });
  const port = portOf(first[0]!);
  const second = bindSockets(port, '127.0.0.1', { reusePort: true });
  assert.ok(second.every((s) => portOf(s) === port));
  assert.ok(second.every((s) => s.getsockopt(SOL_SOCKET, SO_REUSEPORT) === 1));
  closeAll([...first, ...second]);
  check();
});

test('bindSockets on a port in use throws EADDRINUSE', () => {
  const check = fdLeakCheck();
  const first = bindSockets(0, '127.0.0.1');
  const error = thrown(() => bindSockets(portOf(first[0]!), '127.0.0.1'));
  assert.instance(error, OSError);
  assert.is(error.code, 'EADDRINUSE');
  closeAll(first);
  check();
});

test('bindSockets closes the sockets it made when a later one fails', () => {
  const check = fdLeakCheck();
  const probe = ipv6Loopback();
  if (!probe.ok) {
    assertNoIpv6(probe);
    return;
  }
  // Hold [::]:P (v6 only), leaving 0.0.0.0:P free: the v4 socket binds first, then v6 fails.
  const [blocker] = bindSockets(0, '::', { family: AF_INET6 });
  const port = portOf(blocker!);
  const error = thrown(() => bindSockets(port, ''));
  assert.instance(error, OSError);
  assert.is(error.code, 'EADDRINUSE');
  blocker!.close();
  check(); // the v4 socket made before the failure was closed
});

test('bindSockets with a name that does not resolve throws an EAI error', () => {
  const check = fdLeakCheck();
  const error = thrown(() => bindSockets(0, 'x.invalid'));
  assert.instance(error, OSError);
  assert.match(error.code, /^EAI_/);
  check();
});

// ------------------------------------------------------------ bindUnixSocket

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'gale-netutil-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

test('bindUnixSocket listens, nonblocking, with mode 0o600 by default', () => {
  const check = fdLeakCheck();
  withTempDir((dir) => {
    const path = join(dir, 'sock');
    const server = bindUnixSocket(path);
    assert.is(server.family, AF_UNIX);
    assert.not.ok(server.getBlocking());
    assert.is(server.getsockopt(SOL_SOCKET, SO_ACCEPTCONN), 1);
    assert.ok(statSync(path).isSocket());
    assert.is(statSync(path).mode & 0o777, 0o600);
    const client = new Socket(AF_UNIX);
    client.connect(path);
    const [conn] = server.accept();
    closeAll([conn, client, server]);
    const custom = bindUnixSocket(join(dir, 'custom'), 0o660, 8);
    assert.is(statSync(join(dir, 'custom')).mode & 0o777, 0o660);
    custom.close();
  });
  check();
});

test('bindUnixSocket replaces a stale socket file', () => {
  const check = fdLeakCheck();
  withTempDir((dir) => {
    const path = join(dir, 'stale');
    const old = new Socket(AF_UNIX);
    old.bind(path);
    old.close(); // the file stays behind, as after a crash
    assert.ok(statSync(path).isSocket());
    const server = bindUnixSocket(path);
    const client = new Socket(AF_UNIX);
    client.connect(path);
    closeAll([client, server]);
  });
  check();
});

test('bindUnixSocket refuses to delete a regular file or a directory', () => {
  const check = fdLeakCheck();
  withTempDir((dir) => {
    const file = join(dir, 'precious');
    writeFileSync(file, 'keep me');
    const error = thrown(() => bindUnixSocket(file));
    assert.instance(error, OSError);
    assert.is(error.code, 'EEXIST');
    assert.match(error.message, /exists and is not a socket/);
    assert.is(readFileSync(file, 'utf8'), 'keep me');
    const sub = join(dir, 'subdir');
    mkdirSync(sub);
    assert.is(thrown(() => bindUnixSocket(sub)).code, 'EEXIST');
    assert.ok(statSync(sub).isDirectory());
    assert.instance(thrown(() => bindUnixSocket(42 as any)), TypeError);
  });
  check();
});

// ------------------------------------------------------------ addAcceptHandler

test('addAcceptHandler delivers connections and their addresses; the remover stops it', async () => {
  const check = fdLeakCheck();
  const loop = freshLoop();
  const [server] = bindSockets(0, '127.0.0.1');
  const accepted: Array<[Socket, Address]> = [];
  const clients: Socket[] = [];
  try {
    const twoArrived = new Future<void>();
    const remove = addAcceptHandler(server!, (conn, address) => {
      accepted.push([conn, address]);
      if (accepted.length === 2) twoArrived.setResult(undefined);
    }, loop);
    for (let i = 0; i < 2; i++) {
      const client = new Socket();
      client.connect(server!.getsockname());
      clients.push(client);
    }
    await loop.runSync(() => twoArrived, 5);
    assert.equal(accepted.map(([, address]) => address), clients.map((client) => client.getsockname()));
    assert.ok(accepted.every(([conn]) => !conn.getBlocking()), 'connections inherit the nonblocking mode');
    remove();
    remove(); // idempotent
    const late = new Socket();
    late.connect(server!.getsockname());
    clients.push(late);
    await loop.runSync(() => sleep(0.05), 5);
    assert.is(accepted.length, 2, 'nothing accepted after removal');
    const [queued] = server!.accept(); // still in the backlog
    queued.close();
  } finally {
    closeAll([...accepted.map(([conn]) => conn), ...clients, server!]);
    loop.close();
  }
  check();
});

test('addAcceptHandler accepts in batches of at most 128 per readiness event', async () => {
  const check = fdLeakCheck();
  const loop = freshLoop();
  const [server] = bindSockets(0, '127.0.0.1', { backlog: 512 });
  const total = 300;
  const clients: Socket[] = [];
  const accepted: Socket[] = [];
  const perIteration = new Map<number, number>();
  try {
    for (let i = 0; i < total; i++) {
      const client = new Socket();
      client.connect(server!.getsockname());
      clients.push(client);
    }
    const all = new Future<void>();
    addAcceptHandler(server!, (conn) => {
      accepted.push(conn);
      const iteration = loop.stats().iterations;
      perIteration.set(iteration, (perIteration.get(iteration) ?? 0) + 1);
      if (accepted.length === total) all.setResult(undefined);
    }, loop);
    await loop.runSync(() => all, 10);
    assert.is(accepted.length, total);
    assert.ok(Math.max(...perIteration.values()) <= 128, JSON.stringify([...perIteration]));
    assert.ok(perIteration.size >= 3);
  } finally {
    closeAll([...accepted, ...clients, server!]);
    loop.close();
  }
  check();
});

test('a remover called after the socket was closed does not throw', async () => {
  const check = fdLeakCheck();
  const loop = freshLoop();
  const [server] = bindSockets(0, '127.0.0.1');
  const remove = addAcceptHandler(server!, (conn) => conn.close(), loop);
  server!.close();
  remove();
  await loop.runSync(() => sleep(0.01), 5);
  loop.close();
  check();
});

// ------------------------------------------------------------ running out of fds

test('EMFILE: logged once, the loop does not spin, accepting resumes once fds are back', async () => {
  const check = fdLeakCheck();
  const loop = freshLoop();
  const [server] = bindSockets(0, '127.0.0.1');
  const client = new Socket();
  client.connect(server!.getsockname()); // queued in the backlog
  const accepted: Socket[] = [];
  const arrived = new Future<void>();
  const remove = addAcceptHandler(server!, (conn) => {
    accepted.push(conn);
    arrived.setResult(undefined);
  }, loop);
  const restore = exhaustFds();
  let spent = -1;
  try {
    const { logs } = await captureLogs(async () => {
      await loop.runSync(async () => {
        const start = loop.stats().iterations;
        await sleep(0.8); // several backoff periods
        spent = loop.stats().iterations - start;
      }, 10);
      assert.is(accepted.length, 0, 'nothing can be accepted without fds');
      restore();
      await loop.runSync(() => arrived, 10);
    });
    // A spinning loop would run thousands of iterations in 0.8 s.
    assert.ok(spent >= 0 && spent < 200, `the loop ran ${spent} iterations while out of fds`);
    assert.is(accepted.length, 1);
    const errors = logs.filter(([level]) => level === 'error');
    assert.is(errors.length, 1, JSON.stringify(logs));
    assert.match(errors[0]![1], /EMFILE/);
  } finally {
    restore();
    remove();
    closeAll([...accepted, client, server!]);
    loop.close();
  }
  check();
});

test('EMFILE: the remover also cancels the pending retry', async () => {
  const check = fdLeakCheck();
  const loop = freshLoop();
  const [server] = bindSockets(0, '127.0.0.1');
  const client = new Socket();
  client.connect(server!.getsockname());
  const accepted: Socket[] = [];
  const remove = addAcceptHandler(server!, (conn) => accepted.push(conn), loop);
  const restore = exhaustFds();
  try {
    await captureLogs(async () => {
      await loop.runSync(() => sleep(0.15), 5); // failed once, a retry is scheduled
      remove();
      restore();
      await loop.runSync(() => sleep(1.5), 5); // longer than any backoff
    });
    assert.is(accepted.length, 0, 'the cancelled retry never accepted');
    const [queued] = server!.accept(); // the connection is still waiting
    queued.close();
  } finally {
    restore();
    closeAll([...accepted, client, server!]);
    loop.close();
  }
  check();
});

// ------------------------------------------------------------ isValidIp

test('isValidIp (Tornado test_is_valid_ip)', () => {
  const check = fdLeakCheck();
  for (const ip of ['127.0.0.1', '4.4.4.4', '::1', '2620:0:1cfe:face:b00c::3', '::ffff:1.2.3.4', '127.1']) {
    assert.ok(isValidIp(ip), ip);
  }
  for (const ip of ['www.google.com', 'localhost', '4.4.4.4<', ' 127.0.0.1', '', ' ', '\n', '\x00', 'a\x00b',
    '1.2.3.4 ', '1::2::3', ':::', 'garbage', '0'.repeat(5000)]) {
    assert.not.ok(isValidIp(ip), JSON.stringify(ip));
  }
  for (const value of [undefined, null, 42, {}, ['127.0.0.1']]) assert.not.ok(isValidIp(value as any));
  check();
});

test.run();
