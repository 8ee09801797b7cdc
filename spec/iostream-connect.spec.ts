/**
 * streams/iostream.ts beyond the shared suite: nonblocking connect (success,
 * refusal reported later or at once, writes queued while connecting),
 * TCP_NODELAY, SO_ERROR, and reads larger than the native chunk.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OSError } from '../reactor/sys/errors.js';
import { isNonblocking } from '../reactor/sys/libc.js';
import {
  AF_INET, AF_UNIX, IPPROTO_TCP, SOCK_STREAM, Socket, TCP_NODELAY, socketpair, type Address,
} from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { rejection, thrown } from './helpers.js';
import { buffered, streamTest, tcp, turns, waiter, type Ctx } from './stream-helpers.js';

const s = suite('IOStream');
const t = (name: string, body: (ctx: Ctx) => Promise<void>) => s(name, streamTest(tcp, body));

function listener(): Socket {
  const sock = new Socket(AF_INET, SOCK_STREAM);
  sock.bind(['127.0.0.1', 0]);
  sock.listen(8);
  return sock;
}

/** A loopback port nothing listens on (bound once, then released). */
function closedPort(): number {
  const sock = new Socket(AF_INET, SOCK_STREAM);
  sock.bind(['127.0.0.1', 0]);
  const port = (sock.getsockname() as [string, number])[1];
  sock.close();
  return port;
}

t('connect with a Future resolves to the stream, and data flows both ways', async ({ loop }) => {
  const server = listener();
  const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  let accepted: IOStream | null = null;
  try {
    assert.ok(isNonblocking(client.fileno()), 'the constructor made the socket nonblocking');
    const connected = client.connect(server.getsockname())!;
    assert.ok(connected instanceof Object && typeof connected.then === 'function');
    assert.is(await connected, client);
    const [conn] = server.accept();
    accepted = new IOStream(conn, { ioLoop: loop });
    client.write('ping\n');
    assert.is((await accepted.readUntil('\n')!).toString(), 'ping\n');
    accepted.write('pong\n');
    assert.is((await client.readUntil('\n')!).toString(), 'pong\n');
    assert.is(client.getFdError(), null);
  } finally {
    accepted?.close();
    client.close();
    server.close();
  }
});

t('connect with a callback returns null and runs it on the loop', async ({ loop }) => {
  const server = listener();
  const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  try {
    const connected = waiter();
    assert.is(client.connect(server.getsockname(), { callback: connected.cb }), null);
    await connected.done;
    server.accept()[0].close();
  } finally {
    client.close();
    server.close();
  }
});

t('a write while connecting is queued and sent once connected', async ({ loop }) => {
  const server = listener();
  const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  let accepted: IOStream | null = null;
  try {
    const connected = waiter();
    const written = waiter();
    let connectedFirst = false;
    client.connect(server.getsockname(), () => connected.cb());
    client.write('GET / HTTP/1.0\r\n\r\n', () => { connectedFirst = connected.done.done(); written.cb(); });
    // Nothing goes out before the connection is made.
    assert.ok(client.writing());
    await connected.done;
    await written.done;
    assert.ok(connectedFirst, 'by the time the write has flushed, the connect callback has run');
    const [conn] = server.accept();
    accepted = new IOStream(conn, { ioLoop: loop });
    assert.is((await accepted.readUntil('\r\n\r\n')!).toString(), 'GET / HTTP/1.0\r\n\r\n');
    accepted.write('Hello');
    accepted.close();
    assert.ok((await client.readUntilClose()!).toString().endsWith('Hello'));
  } finally {
    accepted?.close();
    client.close();
    server.close();
  }
});

t('a write Future issued while connecting resolves after the connect', async ({ loop }) => {
  const server = listener();
  const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  try {
    const connected = client.connect(server.getsockname())!;
    const written = client.write('early')!;
    await written;
    assert.ok(connected.done());
    const [conn] = server.accept();
    // The recv below blocks this thread. On epoll the bytes are in the kernel
    // once the write's Future has resolved; on a uring loop they are in the
    // ring's send buffer and go out with its next io_uring_enter
    // (docs/uring.md), so the loop first turns past one poll.
    await turns(2);
    assert.is(conn.recv(16).toString(), 'early');
    conn.close();
  } finally {
    client.close();
    server.close();
  }
});

t('connection refused with a Future: StreamClosedError(ECONNREFUSED), no log', async ({ loop, logs }) => {
  const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  const closed = waiter();
  client.setCloseCallback(closed.cb);
  const connecting = client.connect(['127.0.0.1', closedPort()])!;
  const queued = client.write('never sent')!;
  const error = await rejection(connecting);
  assert.instance(error, StreamClosedError);
  assert.instance(error.realError, OSError);
  assert.is(error.realError.code, 'ECONNREFUSED');
  assert.match(error.message, /^Stream is closed: .*ECONNREFUSED/); // the first line says why
  assert.is(client.error, error.realError);
  assert.ok(client.closed());
  assert.is((await rejection(queued)).realError, error.realError);
  await closed.done;
  assert.not.ok(logs.some(([, text]) => /Connect error/.test(text)));
});

t('connection refused with a callback: a warning, the close callback, never the connect callback', async ({ loop, expectLog }) => {
  const logged = expectLog(/^Connect error on fd \d+: ECONNREFUSED$/);
  const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  const closed = waiter();
  client.setCloseCallback(closed.cb);
  let connectedCalled = false;
  assert.is(client.connect(['127.0.0.1', closedPort()], () => { connectedCalled = true; }), null);
  await closed.done;
  assert.not.ok(connectedCalled);
  assert.is((client.error as OSError).code, 'ECONNREFUSED');
  logged();
});

t('a connect that fails at once (no such Unix socket) fails the same way', async ({ loop, expectLog }) => {
  const dir = mkdtempSync(join(tmpdir(), 'gale-iostream-'));
  try {
    const path = join(dir, 'nobody-listens');
    const first = new IOStream(new Socket(AF_UNIX, SOCK_STREAM), { ioLoop: loop });
    const error = await rejection(first.connect(path)!);
    assert.instance(error, StreamClosedError);
    assert.is(error.realError.code, 'ENOENT');
    assert.ok(first.closed());
    const logged = expectLog(/^Connect error on fd \d+: .*ENOENT/);
    const second = new IOStream(new Socket(AF_UNIX, SOCK_STREAM), { ioLoop: loop });
    const closed = waiter();
    second.setCloseCallback(closed.cb);
    assert.is(second.connect(path, { callback: () => assert.unreachable('refused') }), null);
    await closed.done;
    assert.is((second.error as OSError).code, 'ENOENT');
    logged();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('an address the socket cannot use fails the connect like a refusal', async ({ loop }) => {
  const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  const error = await rejection(client.connect(['::1', 80])!);
  assert.instance(error, StreamClosedError);
  assert.is(error.realError.code, 'EINVAL');
  assert.ok(client.closed());
});

t('a malformed address throws synchronously and leaves the stream usable', async ({ loop }) => {
  const server = listener();
  const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  try {
    assert.instance(thrown(() => client.connect('not an inet address' as unknown as Address)), TypeError);
    assert.instance(thrown(() => client.connect(['127.0.0.1', 70000])), RangeError);
    assert.not.ok(client.closed());
    assert.is(await client.connect(server.getsockname())!, client);
    server.accept()[0].close();
  } finally {
    client.close();
    server.close();
  }
});

t('setNodelay sets TCP_NODELAY on TCP, is a no-op elsewhere and after close', async ({ pair, loop }) => {
  const [a] = pair();
  const stream = a as IOStream;
  stream.setNodelay(true);
  assert.is(stream.socket.getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);
  stream.setNodelay(false);
  assert.is(stream.socket.getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
  const [u1, u2] = socketpair(AF_UNIX, SOCK_STREAM);
  const unix = new IOStream(u1, { ioLoop: loop });
  unix.setNodelay(true);
  unix.close();
  u2.close();
  stream.close();
  stream.setNodelay(true);
  assert.is(stream.socket.fileno(), -1, 'the socket is closed with the stream');
  assert.is(stream.getFdError(), null);
});

t('reads larger than the native chunk (readChunkSize 256 KiB)', async ({ pair }) => {
  const [w, r] = pair({ reader: { readChunkSize: 256 * 1024 } });
  assert.is(r.readChunkSize, 256 * 1024);
  const payload = Buffer.alloc(3 * 1024 * 1024 + 5);
  for (let i = 0; i < payload.length; i++) payload[i] = (i ^ (i >> 9)) & 0xff;
  w.write(payload);
  const got = await r.readBytes(payload.length)!;
  assert.ok(got.equals(payload));
  w.write('tiny');
  assert.is((await r.readBytes(4)!).toString(), 'tiny');
  assert.is(buffered(r), 0);
});

t('a read issued before the connection is made completes once data arrives', async ({ loop }) => {
  const server = listener();
  const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  try {
    const connected = client.connect(server.getsockname())!;
    const line = client.readUntil('\n')!;
    await connected;
    const [conn] = server.accept();
    conn.send('early bird\n');
    assert.is((await line).toString(), 'early bird\n');
    conn.close();
  } finally {
    client.close();
    server.close();
  }
});

s.run();
