/**
 * reactor/sys/socket.ts: Python socket semantics over raw fds, on 127.0.0.1, ::1
 * (when the host has it), Unix sockets in a temp dir, socketpairs and pipes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AF_INET, AF_INET6, AF_UNIX, IPPROTO_TCP, SHUT_WR, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET,
  SO_ERROR, SO_KEEPALIVE, SO_REUSEADDR, Socket, TCP_NODELAY, pipe, socketpair,
} from '../reactor/sys/socket.js';
import { OSError } from '../reactor/sys/errors.js';
import { c, close as closeFd, isNonblocking } from '../reactor/sys/libc.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { F_GETFD, FD_CLOEXEC } from '../reactor/sys/constants.js';
import { assertNoIpv6, expectOSError, fdLeakCheck, ipv6Loopback, thrown } from './helpers.js';

function isCloexec(fd: number): boolean {
  return ((c.fcntl(fd, F_GETFD, 0) as number) & FD_CLOEXEC) !== 0;
}

function listener(family = AF_INET, host = '127.0.0.1', nonblocking = false): Socket {
  const sock = new Socket(family, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0));
  sock.bind(family === AF_INET6 ? [host, 0, 0, 0] : [host, 0]);
  sock.listen();
  return sock;
}

/** A TCP port nothing listens on (bound once, then released). */
function closedPort(): number {
  const sock = new Socket();
  sock.bind(['127.0.0.1', 0]);
  const port = (sock.getsockname() as [string, number])[1];
  sock.close();
  return port;
}

test('TCP over 127.0.0.1: connect, accept, send, recv, names', () => {
  const check = fdLeakCheck();
  const server = listener();
  const address = server.getsockname() as [string, number];
  assert.is(address[0], '127.0.0.1');
  assert.ok(address[1] > 0);
  const client = new Socket();
  client.connect(address);
  const [conn, peer] = server.accept();
  assert.equal(peer, client.getsockname());
  assert.equal(client.getpeername(), address);
  assert.equal(conn.getsockname(), address);
  assert.is(conn.family, AF_INET);
  assert.is(conn.type, SOCK_STREAM);
  assert.is(client.send('hello'), 5);
  assert.is(conn.recv(100).toString(), 'hello');
  assert.is(conn.send(Buffer.from('world')), 5);
  const into = Buffer.alloc(10);
  assert.is(client.recvInto(into), 5);
  assert.is(into.subarray(0, 5).toString(), 'world');
  client.close();
  assert.is(conn.recv(10).length, 0, 'EOF once the peer closed');
  conn.close();
  server.close();
  check();
});

test('sockets are blocking by default, close-on-exec always', () => {
  const check = fdLeakCheck();
  const sock = new Socket();
  assert.ok(sock.getBlocking());
  assert.not.ok(isNonblocking(sock.fileno()));
  assert.ok(isCloexec(sock.fileno()));
  const nb = new Socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  assert.is(nb.type, SOCK_STREAM, 'type does not carry the flag bits');
  assert.not.ok(nb.getBlocking());
  assert.ok(isNonblocking(nb.fileno()));
  assert.ok(isCloexec(nb.fileno()));
  sock.close();
  nb.close();
  check();
});

test('setBlocking tracks the mode in JS: repeating it costs no FFI call', () => {
  const check = fdLeakCheck();
  const sock = new Socket();
  sock.setBlocking(false);
  assert.ok(isNonblocking(sock.fileno()));
  const before = ffiCounter.calls;
  sock.setBlocking(false);
  sock.setBlocking(false);
  assert.is(ffiCounter.calls, before);
  sock.setBlocking(true);
  assert.not.ok(isNonblocking(sock.fileno()));
  assert.ok(sock.getBlocking());
  sock.close();
  check();
});

test('nonblocking accept, recv and recvInto throw OSError EAGAIN', () => {
  const check = fdLeakCheck();
  const server = listener(AF_INET, '127.0.0.1', true);
  expectOSError(() => server.accept(), 'EAGAIN', 'accept');
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
  expectOSError(() => a.recv(10), 'EAGAIN', 'recv');
  expectOSError(() => a.recvInto(Buffer.alloc(4)), 'EAGAIN', 'recv');
  expectOSError(() => a.recv(100_000), 'EAGAIN', 'recv');
  for (const sock of [server, a, b]) sock.close();
  check();
});

test('accepted sockets inherit the listener\'s blocking mode, close-on-exec', () => {
  const check = fdLeakCheck();
  for (const nonblocking of [false, true]) {
    const server = listener(AF_INET, '127.0.0.1', nonblocking);
    const client = new Socket();
    client.connect(server.getsockname());
    const [conn] = server.accept();
    assert.is(conn.getBlocking(), !nonblocking);
    assert.is(isNonblocking(conn.fileno()), nonblocking);
    assert.ok(isCloexec(conn.fileno()));
    for (const sock of [conn, client, server]) sock.close();
  }
  check();
});

test('a nonblocking connect throws EINPROGRESS, then completes', () => {
  const check = fdLeakCheck();
  const server = listener();
  const client = new Socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  const error = expectOSError(() => client.connect(server.getsockname()), 'EINPROGRESS', 'connect');
  assert.is(error.errno, 115);
  const [conn] = server.accept();
  // Blocking recv on the server side paces the handshake without a loop.
  client.setBlocking(true);
  assert.is(client.getsockopt(SOL_SOCKET, SO_ERROR), 0);
  client.send('x');
  assert.is(conn.recv(1).toString(), 'x');
  for (const sock of [conn, client, server]) sock.close();
  check();
});

test('connectEx returns ECONNREFUSED for a closed port; connect throws it', () => {
  const check = fdLeakCheck();
  const port = closedPort();
  const a = new Socket();
  assert.is(a.connectEx(['127.0.0.1', port]), 111);
  const b = new Socket();
  expectOSError(() => b.connect(['127.0.0.1', port]), 'ECONNREFUSED', 'connect');
  a.close();
  b.close();
  check();
});

test('bind to a port in use throws EADDRINUSE', () => {
  const check = fdLeakCheck();
  const server = listener();
  const other = new Socket();
  expectOSError(() => other.bind(server.getsockname()), 'EADDRINUSE', 'bind');
  other.close();
  server.close();
  check();
});

test('wrong-typed addresses give clear TypeErrors and leave the socket usable', () => {
  const check = fdLeakCheck();
  const sock = new Socket();
  const bad: unknown[] = [undefined, null, 42, 'some/path', ['127.0.0.1'], ['127.0.0.1', '80'], [1, 80],
    ['127.0.0.1', 1.5], { host: '127.0.0.1', port: 80 }, ['127.0.0.1', 80, 0, 0], ['127.0.0.1\0', 80]];
  for (const address of bad) {
    for (const call of [() => sock.bind(address as any), () => sock.connect(address as any), () => sock.connectEx(address as any)]) {
      const error = thrown(call);
      assert.instance(error, TypeError, `${JSON.stringify(address)}: ${error}`);
      assert.ok(error.message.length > 10, error.message);
    }
  }
  assert.instance(thrown(() => sock.bind(['127.0.0.1', 70000])), RangeError);
  assert.instance(thrown(() => sock.bind(['127.0.0.1', -1])), RangeError);
  expectOSError(() => sock.bind(['not-an-ip', 80]), 'EINVAL');
  const unix = new Socket(AF_UNIX);
  assert.instance(thrown(() => unix.bind(['127.0.0.1', 80] as any)), TypeError);
  expectOSError(() => unix.bind(`/tmp/${'x'.repeat(200)}`), 'ENAMETOOLONG');
  const v6 = new Socket(AF_INET6);
  assert.instance(thrown(() => v6.bind(['::1', 0, 0] as any)), TypeError);
  expectOSError(() => v6.bind(['127.0.0.1', 0]), 'EINVAL');
  assert.instance(thrown(() => sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 'yes' as any)), TypeError);
  assert.instance(thrown(() => sock.send(42 as any)), TypeError);
  assert.instance(thrown(() => sock.recvInto('buffer' as any)), TypeError);
  assert.instance(thrown(() => sock.send('x', 'urgent' as any)), TypeError);
  assert.instance(thrown(() => sock.getsockopt('socket' as any, SO_REUSEADDR)), TypeError);
  assert.instance(thrown(() => new Socket('inet' as any)), TypeError);
  // Still a working socket after all that.
  sock.bind(['127.0.0.1', 0]);
  sock.listen();
  for (const s of [sock, unix, v6]) s.close();
  check();
});

test('socket(2) failures are OSErrors with Node codes', () => {
  const check = fdLeakCheck();
  expectOSError(() => new Socket(12345), 'EAFNOSUPPORT', 'socket');
  const [r, w] = pipe();
  expectOSError(() => new Socket(undefined, undefined, undefined, r), 'ENOTSOCK', 'getsockopt');
  closeFd(r);
  closeFd(w);
  check();
});

test('close is idempotent; a closed socket has fileno -1 and throws EBADF', () => {
  const check = fdLeakCheck();
  const sock = new Socket();
  sock.close();
  sock.close();
  assert.is(sock.fileno(), -1);
  expectOSError(() => sock.bind(['127.0.0.1', 0]), 'EBADF', 'bind');
  expectOSError(() => sock.send('x'), 'EBADF', 'send');
  expectOSError(() => sock.recv(1), 'EBADF', 'recv');
  expectOSError(() => sock.accept(), 'EBADF', 'accept');
  expectOSError(() => sock.getsockname(), 'EBADF', 'getsockname');
  expectOSError(() => sock.setBlocking(false), 'EBADF');
  expectOSError(() => sock.connect(['127.0.0.1', 1]), 'EBADF', 'connect');
  assert.is(sock.connectEx(['127.0.0.1', 1]), 9);
  check();
});

test('getpeername on an unconnected socket throws ENOTCONN; shutdown too', () => {
  const check = fdLeakCheck();
  const sock = new Socket();
  expectOSError(() => sock.getpeername(), 'ENOTCONN', 'getpeername');
  expectOSError(() => sock.shutdown(SHUT_WR), 'ENOTCONN', 'shutdown');
  sock.close();
  check();
});

test('detach hands the fd over; a Socket built on it detects its family and type', () => {
  const check = fdLeakCheck();
  const probe = ipv6Loopback();
  const cases: Array<[number, number]> = [[AF_INET, SOCK_STREAM], [AF_UNIX, SOCK_DGRAM], [AF_UNIX, SOCK_STREAM]];
  if (probe.ok) cases.push([AF_INET6, SOCK_STREAM]);
  for (const [family, type] of cases) {
    const original = new Socket(family, type);
    const fd = original.detach();
    assert.is(original.fileno(), -1);
    original.close(); // must not close the detached fd
    const adopted = new Socket(undefined, undefined, undefined, fd);
    assert.is(adopted.fileno(), fd);
    assert.is(adopted.family, family);
    assert.is(adopted.type, type);
    assert.ok(adopted.getBlocking());
    adopted.close();
  }
  // The mode of an adopted fd is read from the fd itself.
  const nb = new Socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  const adopted = new Socket(AF_INET, SOCK_STREAM, 0, nb.detach());
  assert.not.ok(adopted.getBlocking());
  adopted.close();
  check();
});

test('setsockopt/getsockopt with ints, booleans and bytes', () => {
  const check = fdLeakCheck();
  const sock = new Socket();
  assert.is(sock.getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
  sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  assert.is(sock.getsockopt(SOL_SOCKET, SO_REUSEADDR), 1);
  sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, true);
  assert.ok(sock.getsockopt(IPPROTO_TCP, TCP_NODELAY) !== 0);
  const bytes = Buffer.alloc(4);
  bytes.writeInt32LE(1);
  sock.setsockopt(SOL_SOCKET, SO_KEEPALIVE, bytes);
  const raw = sock.getsockopt(SOL_SOCKET, SO_KEEPALIVE, 4) as Buffer;
  assert.ok(Buffer.isBuffer(raw));
  assert.is(raw.length, 4);
  assert.is(raw.readInt32LE(0), 1);
  expectOSError(() => sock.setsockopt(SOL_SOCKET, 9999, 1), 'ENOPROTOOPT', 'setsockopt');
  sock.close();
  check();
});

test('IPv6 on ::1: four-tuple addresses both ways', () => {
  const check = fdLeakCheck();
  const probe = ipv6Loopback();
  if (!probe.ok) {
    assertNoIpv6(probe);
    return;
  }
  const server = listener(AF_INET6, '::1');
  const address = server.getsockname() as [string, number, number, number];
  assert.is(address.length, 4);
  assert.is(address[0], '::1');
  const client = new Socket(AF_INET6);
  client.connect(['::1', address[1]]);
  const [conn, peer] = server.accept();
  assert.equal(peer, client.getsockname());
  assert.is((peer as unknown[]).length, 4);
  assert.is(conn.family, AF_INET6);
  client.send('six');
  assert.is(conn.recv(3).toString(), 'six');
  for (const sock of [conn, client, server]) sock.close();
  check();
});

test('Unix sockets: path names, unnamed peers, the abstract namespace', () => {
  const check = fdLeakCheck();
  const dir = mkdtempSync(join(tmpdir(), 'gale-sock-'));
  try {
    const path = join(dir, 's');
    const server = new Socket(AF_UNIX);
    server.bind(path);
    server.listen();
    assert.is(server.getsockname(), path);
    const client = new Socket(AF_UNIX);
    client.connect(path);
    const [conn, peer] = server.accept();
    assert.is(peer, '', 'an unbound client has no name');
    assert.is(client.getpeername(), path);
    client.send('unix');
    assert.is(conn.recv(10).toString(), 'unix');
    for (const sock of [conn, client, server]) sock.close();
    const orphan = new Socket(AF_UNIX);
    expectOSError(() => orphan.connect(join(dir, 'missing')), 'ENOENT', 'connect');
    orphan.close();

    if (process.platform === 'linux') {
      const name = `\0gale-test-${process.pid}`;
      const abstract = new Socket(AF_UNIX);
      abstract.bind(name);
      assert.is(abstract.getsockname(), name);
      abstract.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  check();
});

test('socketpair: blocking by default, both directions, shutdown gives EOF', () => {
  const check = fdLeakCheck();
  const [a, b] = socketpair();
  assert.ok(a.getBlocking() && b.getBlocking());
  assert.ok(isCloexec(a.fileno()) && isCloexec(b.fileno()));
  assert.is(a.family, AF_UNIX);
  assert.is(a.type, SOCK_STREAM);
  a.send('ping');
  assert.is(b.recv(4).toString(), 'ping');
  b.send('pong');
  assert.is(a.recv(4).toString(), 'pong');
  a.shutdown(SHUT_WR);
  assert.is(b.recv(4).length, 0);
  a.close();
  b.close();
  const [x, y] = socketpair(AF_UNIX, SOCK_DGRAM);
  assert.is(x.type, SOCK_DGRAM);
  x.send('datagram');
  assert.is(y.recv(100).toString(), 'datagram');
  x.close();
  y.close();
  check();
});

test('large sends and receives bypass the arena chunk intact', () => {
  const check = fdLeakCheck();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
  const payload = Buffer.alloc(300_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const received: Buffer[] = [];
  let sent = 0;
  let got = 0;
  while (got < payload.length) {
    if (sent < payload.length) {
      try { sent += a.send(payload.subarray(sent)); } catch (error) { assert.is((error as OSError).code, 'EAGAIN'); }
    }
    try {
      const chunk = got % 2 ? b.recv(200_000) : (() => {
        const target = new Uint8Array(150_000);
        const n = b.recvInto(target.subarray(10), 100_000);
        return Buffer.from(target.subarray(10, 10 + n));
      })();
      received.push(chunk);
      got += chunk.length;
    } catch (error) {
      assert.is((error as OSError).code, 'EAGAIN');
    }
  }
  assert.ok(Buffer.concat(received).equals(payload));
  assert.instance(thrown(() => b.recvInto(Buffer.alloc(4), 8)), RangeError);
  assert.instance(thrown(() => b.recv(-1)), RangeError);
  a.close();
  b.close();
  check();
});

test('sendall sends everything; send to a closed peer throws EPIPE', () => {
  const check = fdLeakCheck();
  const [a, b] = socketpair();
  a.sendall('all of it');
  assert.is(b.recv(100).toString(), 'all of it');
  b.close();
  // Node ignores SIGPIPE, so the failure arrives as an errno.
  expectOSError(() => a.send('into the void'), 'EPIPE', 'send');
  a.close();
  check();
});

test('pipe(): nonblocking, close-on-exec', () => {
  const check = fdLeakCheck();
  const [r, w] = pipe();
  assert.ok(r !== w);
  for (const fd of [r, w]) {
    assert.ok(isNonblocking(fd));
    assert.ok(isCloexec(fd));
  }
  closeFd(r);
  closeFd(w);
  check();
});

// The family and type constants are checked against the kernel by the
// detach test above (an adopted fd's family and type are read back from it).
test('the constants mean to the kernel what their names say', () => {
  const check = fdLeakCheck();
  // SOCK_DGRAM keeps message boundaries; SOCK_STREAM does not.
  for (const [type, expected] of [[SOCK_DGRAM, 'one'], [SOCK_STREAM, 'onetwo']] as const) {
    const [a, b] = socketpair(AF_UNIX, type);
    a.send('one');
    a.send('two');
    assert.is(b.recv(100).toString(), expected, `type ${type}`);
    a.close();
    b.close();
  }
  // SO_REUSEADDR and SO_KEEPALIVE are two different SOL_SOCKET options.
  const sock = new Socket(AF_INET, SOCK_STREAM);
  sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  assert.is(sock.getsockopt(SOL_SOCKET, SO_KEEPALIVE), 0);
  sock.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1);
  assert.ok(sock.getsockopt(SOL_SOCKET, SO_REUSEADDR) !== 0);
  assert.ok(sock.getsockopt(SOL_SOCKET, SO_KEEPALIVE) !== 0);
  // SO_ERROR reads (and clears) the pending error: none on a fresh socket.
  assert.is(sock.getsockopt(SOL_SOCKET, SO_ERROR), 0);
  sock.close();
  check();
});

test.run();
