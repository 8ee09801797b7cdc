/**
 * IOStream.connect through the ring (IORING_OP_CONNECT) on a uring loop:
 * TCP over IPv4 and IPv6, Unix sockets, refused and missing targets (same
 * errors as the readiness path), a close while the CONNECT is in flight
 * (cancelled before the fd closes, no fd or native-memory leak, the id's
 * generation keeps its stale CQE away), and the FFI calls a connect costs
 * against connect(2) + POLLOUT + SO_ERROR (`uring.connect: false`'s path).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IOLoop } from '../reactor/ioloop.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { errno as E } from '../reactor/sys/errors.js';
import { connectAddrsInUse, type CompletionSocket } from '../reactor/uring/socket-transport.js';
import { AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM, Socket } from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { fdLeakCheck } from './helpers.js';

/** A uring loop whose streams connect through the ring (`connect`) or with connect(2) + POLLOUT, whatever the environment says. */
function uringLoop(connect = true): IOLoop {
  return new IOLoop({ poller: 'uring', makeCurrent: false, nodeInterop: false, uring: { streams: 'ring', connect } });
}

/** Whether `loop`'s streams connect through the ring. */
function ringConnects(loop: IOLoop): boolean {
  return (loop as unknown as { poller: { config: { connect: boolean } } }).poller.config.connect;
}

function completionOf(stream: IOStream): CompletionSocket {
  const transport = (stream as unknown as { transport: CompletionSocket }).transport;
  assert.is(transport.mode, 'completion', 'the stream has a completion transport');
  return transport;
}

function listener(family = AF_INET, address: string | [string, number] = ['127.0.0.1', 0], backlog = 16): Socket {
  const sock = new Socket(family, SOCK_STREAM);
  if (family !== AF_UNIX) sock.setsockopt(1, 2, 1); // SO_REUSEADDR
  sock.bind(address);
  sock.listen(backlog);
  return sock;
}

/** Connects a stream on `loop` to `address`, checks it carries bytes to `server`; returns the FFI calls from connect() to its Future. */
async function connectAndPing(loop: IOLoop, family: number, server: Socket, address: string | [string, number], warm = true): Promise<number> {
  const stream = new IOStream(new Socket(family, SOCK_STREAM), { ioLoop: loop });
  try {
    const before = ffiCounter.calls;
    const future = stream.connect(address)!;
    const insideConnect = ffiCounter.calls - before;
    const throughRing = ringConnects(loop);
    if (throughRing) assert.ok(completionOf(stream).connectPending(), 'the CONNECT is queued');
    if (throughRing && warm) {
      assert.is(insideConnect, 0, 'connect() itself makes no FFI call: the CONNECT goes out with the next enter');
    }
    const connected = await loop.runSync(() => future, 10);
    const calls = ffiCounter.calls - before;
    assert.is(connected, stream);
    const [peer] = server.accept();
    try {
      await loop.runSync(() => stream.write(Buffer.from('ping\n')), 10);
      peer.setBlocking(true);
      assert.is(peer.recv(16).toString(), 'ping\n');
      peer.sendall('pong\n');
      const reply = await loop.runSync(() => stream.readUntil(Buffer.from("\n"))!, 10);
      assert.is(reply.toString(), 'pong\n');
    } finally {
      peer.close();
    }
    return calls;
  } finally {
    stream.close();
  }
}

test('TCP over IPv4: a connect through the ring carries data, and costs fewer FFI calls than connect(2) + POLLOUT + SO_ERROR', async () => {
  const check = fdLeakCheck();
  const loop = uringLoop();
  const connect2Loop = uringLoop(false);
  const server = listener();
  const address = server.getsockname() as [string, number];
  try {
    // The first CONNECT mallocs its sockaddr region (later ones reuse it).
    await connectAndPing(loop, AF_INET, server, address, false);
    await connectAndPing(connect2Loop, AF_INET, server, address, false); // its provided buffers
    const readiness = await connectAndPing(connect2Loop, AF_INET, server, address);
    const ring = await connectAndPing(loop, AF_INET, server, address);
    console.log(`FFI calls from connect() to its Future: readiness ${readiness}, ring ${ring}`);
    assert.ok(ring < readiness, `ring ${ring} < readiness ${readiness}`);
  } finally {
    server.close();
    loop.close();
    connect2Loop.close();
  }
  assert.is(connectAddrsInUse(), 0, 'the sockaddrs are freed');
  check();
});

test('TCP over IPv6 (::1) connects through the ring', async () => {
  const check = fdLeakCheck();
  const loop = uringLoop();
  let server: Socket;
  try {
    server = listener(AF_INET6, ['::1', 0]);
  } catch {
    loop.close();
    console.log('no ::1 here: IPv6 connect not exercised');
    return;
  }
  try {
    const [host, port] = server.getsockname() as [string, number];
    await connectAndPing(loop, AF_INET6, server, [host, port]);
  } finally {
    server.close();
    loop.close();
  }
  check();
});

test('a Unix socket connects through the ring (its connect completes at once: the CQE says so at the next enter)', async () => {
  const check = fdLeakCheck();
  const dir = mkdtempSync(join(tmpdir(), 'gale-connect-'));
  const path = join(dir, 'sock');
  const loop = uringLoop();
  const server = listener(AF_UNIX, path);
  try {
    await connectAndPing(loop, AF_UNIX, server, path);
  } finally {
    server.close();
    loop.close();
    rmSync(dir, { recursive: true, force: true });
  }
  check();
});

/** The error a connect to `address` fails with, through the ring and through connect(2). */
async function failure(family: number, address: string | [string, number], throughRing: boolean): Promise<StreamClosedError> {
  const loop = uringLoop(throughRing);
  const stream = new IOStream(new Socket(family, SOCK_STREAM), { ioLoop: loop });
  let closed = 0;
  stream.setCloseCallback(() => closed++);
  try {
    const future = stream.connect(address)!;
    const error = await loop.runSync(() => future.then(() => null, (e: unknown) => e), 10);
    assert.instance(error, StreamClosedError);
    await loop.runSync(async () => { for (let i = 0; i < 5 && closed === 0; i++) await new Promise((r) => loop.addCallback(r)); }, 5);
    assert.is(closed, 1, 'the close callback ran');
    assert.ok(stream.closed());
    return error as StreamClosedError;
  } finally {
    stream.close();
    loop.close();
  }
}

test('a refused TCP connect and a missing Unix path fail as on the readiness path (same realError)', async () => {
  const check = fdLeakCheck();
  const probe = listener();
  const port = (probe.getsockname() as [string, number])[1];
  probe.close(); // nobody listens there now
  const dir = mkdtempSync(join(tmpdir(), 'gale-connect-'));
  try {
    for (const [family, address, errno] of [[AF_INET, ['127.0.0.1', port], E.ECONNREFUSED], [AF_UNIX, join(dir, 'missing'), E.ENOENT]] as const) {
      const ring = await failure(family, address as never, true);
      const readiness = await failure(family, address as never, false);
      assert.is((ring.realError as { errno?: number }).errno, errno);
      assert.is((readiness.realError as { errno?: number }).errno, errno);
      assert.is(ring.realError!.message, readiness.realError!.message);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.is(connectAddrsInUse(), 0);
  check();
});

test('a stream closed while its CONNECT is in flight: cancelled before the fd closes, its Future fails, no leak, the id is reused safely', async () => {
  const check = fdLeakCheck();
  const loop = uringLoop();
  // A full accept queue makes the kernel drop further SYNs: a connect then stays in flight.
  const server = listener(AF_INET, ['127.0.0.1', 0], 0);
  const address = server.getsockname() as [string, number];
  const fillers: Socket[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const filler = new Socket(AF_INET, SOCK_STREAM);
      filler.setBlocking(false);
      filler.connectEx(address);
      fillers.push(filler);
    }
    await loop.runSync(() => new Promise((r) => loop.callLater(0.05, r)), 5);
    const stream = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
    const completion = completionOf(stream);
    const future = stream.connect(address)!;
    // Let the CONNECT go out and sit there for a few iterations.
    await loop.runSync(() => new Promise((r) => loop.callLater(0.05, r)), 5);
    assert.ok(completion.connectOp.armed, 'the CONNECT is in flight');
    assert.not.ok(future.done());
    stream.close();
    const error = await loop.runSync(() => future.then(() => null, (e: unknown) => e), 5);
    assert.instance(error, StreamClosedError);
    // The cancel's CQE and the CLOSE's come at the next enters.
    for (let i = 0; i < 20 && completion.inFlight(); i++) await loop.runSync(() => new Promise((r) => loop.callLater(0.005, r)), 5);
    assert.not.ok(completion.inFlight(), 'the CONNECT ended (cancelled) and the fd is closed');
    assert.is(connectAddrsInUse(), 0, 'its sockaddr is freed');
    // A new stream, likely on the same fd number and id: the old generation's CQEs never reach it.
    for (const filler of fillers.splice(0)) filler.close();
    server.setBlocking(false);
    for (let i = 0; i < 3; i++) {
      try { server.accept()[0].close(); } catch { break; }
    }
    const next = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
    try {
      const connected = await loop.runSync(() => next.connect(address)!, 10);
      assert.is(connected, next);
      const calls = ffiCounter.calls;
      assert.is(completionOf(next).connectResult(), 0);
      assert.is(ffiCounter.calls, calls, "the CONNECT's own CQE said so (no SO_ERROR call)");
    } finally {
      next.close();
    }
  } finally {
    for (const filler of fillers) filler.close();
    server.close();
    loop.close();
  }
  assert.is(connectAddrsInUse(), 0);
  check();
});

test('a stream closed before the next enter: its CONNECT is never issued, and its memory is freed', async () => {
  const check = fdLeakCheck();
  const loop = uringLoop();
  const server = listener();
  try {
    const stream = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
    const future = stream.connect(server.getsockname())!;
    assert.is(connectAddrsInUse(), 1, 'the sockaddr waits in its own memory');
    stream.close();
    assert.is(connectAddrsInUse(), 0);
    const error = await loop.runSync(() => future.then(() => null, (e: unknown) => e), 5);
    assert.instance(error, StreamClosedError);
    await loop.runSync(() => new Promise((r) => loop.callLater(0.02, r)), 5);
    let accepted = 0;
    server.setBlocking(false);
    try { server.accept()[0].close(); accepted++; } catch { /* nothing: the CONNECT never went out */ }
    assert.is(accepted, 0);
  } finally {
    server.close();
    loop.close();
  }
  check();
});

test('a malformed address throws from connect() and queues nothing', () => {
  const loop = uringLoop();
  const stream = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
  try {
    assert.throws(() => stream.connect(['127.0.0.1', 70000]), RangeError);
    assert.throws(() => stream.connect('/not/an/inet/address' as never), TypeError);
    assert.is(connectAddrsInUse(), 0);
    assert.not.ok(completionOf(stream).connectPending());
  } finally {
    stream.close();
    loop.close();
  }
});

test.run();
