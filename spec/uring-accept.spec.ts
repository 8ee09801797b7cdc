/**
 * Accepting through the ring (reactor/uring/acceptor.ts, wired into
 * net/netutil.ts addAcceptHandler): connections and their exact peer
 * addresses with no FFI call per connection, the queue cap and recovery,
 * EMFILE as on epoll, cancel on removing the handler (the listener really
 * closes), fd reuse, no leaked fds, and worker processes sharing a listener.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { URingPoller } from '../reactor/uring/poller.js';
import { Acceptor, DEFAULT_ACCEPT_SLOTS } from '../reactor/uring/acceptor.js';
import { READ } from '../reactor/poller.js';
import { IOLoop } from '../reactor/ioloop.js';
import { sleep } from '../reactor/gen.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { liveRegions } from '../reactor/sys/arena.js';
import { OSError } from '../reactor/sys/errors.js';
import { addAcceptHandler, bindSockets } from '../net/netutil.js';
import { AF_INET, SOCK_STREAM, Socket, type Address } from '../reactor/sys/socket.js';
import { captureLogs, fdLeakCheck } from './helpers.js';
import { exhaustFds } from './fd-limit.js';
import { Fixture, ask, blockedAndOther, freePort } from './fixtures/multiproc-harness.js';

function listener(backlog = 128): Socket {
  const [sock] = bindSockets(0, '127.0.0.1', { backlog });
  return sock!;
}

function portOf(sock: Socket): number {
  return (sock.getsockname() as [string, number])[1];
}

/** A blocking client connected to `port` (the kernel completes the handshake from its backlog). */
function connectTo(port: number): Socket {
  const client = new Socket(AF_INET, SOCK_STREAM);
  client.connect(['127.0.0.1', port]);
  return client;
}

function uringLoop(): IOLoop {
  // These tests are about the ring's acceptor, whatever the environment asks the suite for.
  return new IOLoop({ poller: 'uring', uring: { accept: true }, makeCurrent: false, nodeInterop: false });
}

function pollerOf(loop: IOLoop): URingPoller {
  return (loop as unknown as { poller: URingPoller }).poller;
}

/** The acceptor attached for `fd`, if any. */
function acceptorOf(poller: URingPoller, fd: number): Acceptor | undefined {
  const endpoint = (poller as unknown as { endpointByFd: unknown[] }).endpointByFd[fd];
  return endpoint instanceof Acceptor ? endpoint : undefined;
}

/** Runs `loop` until `done()` holds, checking every 5 ms, at most `seconds`. */
function runUntil(loop: IOLoop, done: () => boolean, seconds = 20): Promise<void> {
  return loop.runSync(() => new Promise<void>((resolve) => {
    const check = (): void => { if (done()) resolve(); else loop.callLater(0.005, check); };
    check();
  }), seconds);
}

/**
 * The server side of `client` is gone: accepted by the ring and closed (EOF),
 * or still in the backlog when the listener closed (ECONNRESET). Which one
 * depends on whether the kernel ran the ACCEPT before its cancel.
 */
function assertClosedByServer(client: Socket): void {
  try {
    assert.is(client.recv(16).length, 0);
  } catch (error) {
    assert.is((error as OSError).code, 'ECONNRESET');
  }
}

/** Polls a bare poller `rounds` times without waiting long. */
function spin(poller: URingPoller, rounds: number): void {
  for (let i = 0; i < rounds; i++) poller.poll(5);
}

test('500 connections from another process: exact peer addresses, no FFI call per connection beyond the loop\'s one enter', async () => {
  const check = fdLeakCheck();
  const count = 500;
  const loop = uringLoop();
  const sock = listener(1024);
  const port = portOf(sock);
  const accepted: Array<[Socket, Address]> = [];
  const remove = addAcceptHandler(sock, (conn, address) => accepted.push([conn, address]), loop);
  // The child connects `count` times, keeps them open, and prints each local port.
  const child = spawn(process.execPath, ['-e', `
    const net = require('node:net');
    const ports = [];
    const sockets = [];
    let open = 0;
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect(${port}, '127.0.0.1', () => { ports.push(s.localPort); if (++open === ${count}) console.log(JSON.stringify(ports)); });
      s.on('error', (e) => { console.error(e.message); process.exit(2); });
      sockets.push(s);
    }
    process.stdin.on('data', () => process.exit(0));
  `], { stdio: ['pipe', 'pipe', 'inherit'] });
  let printed = '';
  child.stdout!.on('data', (data: Buffer) => { printed += data.toString(); });
  const poller = pollerOf(loop);
  try {
    const callsBefore = ffiCounter.calls;
    const entersBefore = poller.ringStats().enters;
    await runUntil(loop, () => accepted.length >= count, 60);
    const calls = ffiCounter.calls - callsBefore;
    const enters = poller.ringStats().enters - entersBefore;
    assert.is(accepted.length, count);
    // Every FFI call the loop made while accepting was its io_uring_enter.
    assert.is(calls, enters, `${calls} FFI calls for ${enters} enters`);
    const acceptor = acceptorOf(poller, sock.fileno())!;
    assert.ok(acceptor, 'the listener accepts through the ring');
    assert.is(acceptor.stats.accepted, count);
    await new Promise<void>((resolve) => {
      const wait = (): void => { if (printed.includes('\n')) resolve(); else setTimeout(wait, 5); };
      wait();
    });
    const clientPorts = new Set<number>(JSON.parse(printed) as number[]);
    for (const [conn, address] of accepted) {
      assert.equal(address, conn.getpeername(), 'the address the kernel wrote is the peer\'s');
      assert.ok(clientPorts.delete((address as [string, number])[1]), 'each client port once');
      assert.not.ok(conn.getBlocking(), 'the listener\'s (nonblocking) mode');
    }
    assert.is(clientPorts.size, 0);
  } finally {
    child.stdin!.write('done');
    await new Promise((resolve) => child.once('exit', resolve));
    remove();
    for (const [conn] of accepted) conn.close();
    sock.close();
    loop.close();
  }
  check();
});

test('queue cap: accepted + in flight never exceed it, the backlog holds the rest, taking re-arms', () => {
  const check = fdLeakCheck();
  const poller = new URingPoller();
  const sock = listener();
  const port = portOf(sock);
  const clients: Socket[] = [];
  const taken: Socket[] = [];
  try {
    const acceptor = poller.attachEndpoint(sock.fileno(), (id, gen) => new Acceptor(poller, sock.fileno(), id, gen,
      { nonblocking: true, slots: 4, queueCap: 8 }))!;
    poller.register(sock.fileno(), READ);
    for (let i = 0; i < 20; i++) clients.push(connectTo(port));
    spin(poller, 10);
    assert.is(acceptor.queued() + acceptor.inFlightCount(), 8, 'capped');
    assert.ok(acceptor.queued() >= 4, `${acceptor.queued()} queued`);
    assert.ok(acceptor.stats.capped > 0);
    const peers = new Set(clients.map((c) => (c.getsockname() as [string, number])[1]));
    // Take them all, a few at a time: each take lets the slots re-arm.
    for (let round = 0; round < 50 && taken.length < 20; round++) {
      for (let fd = acceptor.take(); fd >= 0; fd = acceptor.take()) {
        taken.push(new Socket(AF_INET, SOCK_STREAM, 0, fd));
        assert.ok(peers.delete((acceptor.acceptedAddress as [string, number])[1]), 'a client port, once');
      }
      spin(poller, 1);
    }
    assert.is(taken.length, 20);
    assert.is(acceptor.stats.accepted, 20);
    assert.ok(acceptor.queued() + acceptor.inFlightCount() <= 8);
  } finally {
    poller.close();
    for (const s of [...clients, ...taken]) s.close();
    sock.close();
  }
  check();
});

test('EMFILE through the ring: logged once, no spin, the connection is accepted once fds are back, then the ring accepts again', async () => {
  const check = fdLeakCheck();
  const loop = uringLoop();
  const sock = listener();
  const port = portOf(sock);
  const accepted: Array<[Socket, Address]> = [];
  const client = new Socket(AF_INET, SOCK_STREAM);
  const clients: Socket[] = [client];
  const poller = pollerOf(loop);
  // The kernel reads the fd limit when an ACCEPT is prepared, so fds run
  // short before the handler arms its ACCEPTs (in its first enter).
  const restore = exhaustFds();
  const remove = addAcceptHandler(sock, (conn, address) => accepted.push([conn, address]), loop);
  try {
    let spent = -1;
    try {
      assert.ok(acceptorOf(poller, sock.fileno()), 'accepting through the ring');
      client.connect(['127.0.0.1', port]);
      const { logs } = await captureLogs(async () => {
        await loop.runSync(async () => {
          const start = loop.stats().iterations;
          await sleep(0.5);
          spent = loop.stats().iterations - start;
        }, 10);
      });
      assert.is(accepted.length, 0, 'nothing can be accepted without fds');
      const errors = logs.filter(([level]) => level === 'error');
      assert.is(errors.length, 1, JSON.stringify(logs));
      assert.match(errors[0]![1], /EMFILE/);
      assert.ok(spent >= 0 && spent < 200, `the loop ran ${spent} iterations while out of fds`);
      assert.is(acceptorOf(poller, sock.fileno()), undefined, 'paused: the acceptor is detached');
    } finally {
      restore();
    }
    await runUntil(loop, () => accepted.length === 1, 10);
    assert.equal(accepted[0]![1], clients[0]!.getsockname(), 'the connection that failed was still in the backlog');
    const acceptor = acceptorOf(poller, sock.fileno());
    assert.ok(acceptor, 'watching through the ring again');
    clients.push(connectTo(port));
    await runUntil(loop, () => accepted.length === 2, 10);
    assert.is(acceptor!.stats.accepted, 1, 'the next one came through the ring');
  } finally {
    remove();
    for (const s of [...clients, ...accepted.map(([c]) => c)]) s.close();
    sock.close();
    loop.close();
  }
  check();
});

test('removing the handler cancels the ACCEPTs: the closed listener refuses connections, unclaimed ones are closed', async () => {
  const check = fdLeakCheck();
  const loop = uringLoop();
  const sock = listener();
  const port = portOf(sock);
  const poller = pollerOf(loop);
  let calls = 0;
  const remove = addAcceptHandler(sock, () => { calls++; }, loop);
  const client = connectTo(port);
  try {
    // Let the kernel accept it into the queue without the handler running:
    // poll the ring directly (the loop is not running).
    const acceptor = acceptorOf(poller, sock.fileno())!;
    for (let i = 0; i < 20 && acceptor.queued() === 0; i++) poller.poll(5);
    assert.is(acceptor.queued(), 1, 'accepted by the ring, not yet taken');
    assert.is(acceptor.inFlightCount(), DEFAULT_ACCEPT_SLOTS - 1);
    remove();
    sock.close();
    assert.is(calls, 0);
    // The unclaimed connection was closed: the client reads EOF.
    assert.is(client.recv(16).length, 0);
    const late = new Socket(AF_INET, SOCK_STREAM);
    try {
      late.connect(['127.0.0.1', port]);
      assert.unreachable('the listener should be closed');
    } catch (error) {
      assert.instance(error, OSError);
      assert.is((error as OSError).code, 'ECONNREFUSED');
    } finally {
      late.close();
    }
    poller.poll(0); // the cancels' CQEs free the acceptor's id
    assert.is(poller.socketCount(), 0);
  } finally {
    client.close();
    sock.close();
    loop.close();
  }
  check();
});

test('a listener closed without removing its handler first: the next connection stops the handler, then the port refuses', async () => {
  const check = fdLeakCheck();
  const loop = uringLoop();
  const sock = listener();
  const port = portOf(sock);
  let calls = 0;
  addAcceptHandler(sock, () => { calls++; }, loop);
  const clients: Socket[] = [];
  try {
    await loop.runSync(() => sleep(0.01), 5); // ACCEPTs armed
    sock.close(); // the armed ACCEPTs still hold the socket open
    clients.push(connectTo(port));
    await runUntil(loop, () => pollerOf(loop).socketCount() === 0, 10); // the acceptor detached, its CQEs in
    assert.is(calls, 0, 'no connection reached the callback of a closed listener');
    assertClosedByServer(clients[0]!);
    const late = new Socket(AF_INET, SOCK_STREAM);
    clients.push(late);
    assert.throws(() => late.connect(['127.0.0.1', port]), (error: OSError) => error.code === 'ECONNREFUSED');
  } finally {
    for (const s of clients) s.close();
    loop.close();
  }
  check();
});

test('fd reuse: a connection accepted for a closed listener never reaches a new listener on the same fd number', async () => {
  const check = fdLeakCheck();
  const loop = uringLoop();
  const poller = pollerOf(loop);
  const first = listener();
  const fd = first.fileno();
  const got: Array<[string, Socket, Address]> = [];
  const removeFirst = addAcceptHandler(first, (conn, address) => got.push(['first', conn, address]), loop);
  poller.poll(0); // arm the first listener's ACCEPTs
  const early = connectTo(portOf(first)); // accepted by the kernel inside the next enter
  removeFirst();
  first.close();
  const second = listener();
  const clients = [early];
  let removeSecond = (): void => {};
  try {
    assert.is(second.fileno(), fd, 'the same fd number');
    removeSecond = addAcceptHandler(second, (conn, address) => got.push(['second', conn, address]), loop);
    clients.push(connectTo(portOf(second)));
    await runUntil(loop, () => got.length >= 1, 10);
    await loop.runSync(() => sleep(0.05), 5);
    assert.is(got.length, 1, JSON.stringify(got.map(([who, , a]) => [who, a])));
    assert.is(got[0]![0], 'second');
    assert.equal(got[0]![2], clients[1]!.getsockname());
    assertClosedByServer(early);
  } finally {
    removeSecond();
    for (const s of [...clients, ...got.map(([, c]) => c)]) s.close();
    second.close();
    loop.close();
  }
  check();
});

test('a detached acceptor closes connections that complete after its cancel, and frees its slots', () => {
  const check = fdLeakCheck();
  const poller = new URingPoller();
  const sock = listener();
  const clients: Socket[] = [];
  try {
    const acceptor = poller.attachEndpoint(sock.fileno(), (id, gen) => new Acceptor(poller, sock.fileno(), id, gen,
      { nonblocking: true, slots: 2 }))!;
    poller.register(sock.fileno(), READ);
    poller.poll(0);
    for (let i = 0; i < 3; i++) clients.push(connectTo(portOf(sock)));
    // No enter between the connects and the detach: the accepts' task work
    // runs inside the detach's flush, so their CQEs reach a detached acceptor.
    poller.unregister(sock.fileno());
    spin(poller, 3);
    assert.is(acceptor.inFlightCount(), 0);
    assert.is(poller.socketCount(), 0, 'the id is free');
    sock.close();
    for (const client of clients) assertClosedByServer(client);
  } finally {
    poller.close();
    for (const s of clients) s.close();
    sock.close();
  }
  check();
});

test('closing the loop closes connections the ring accepted and nobody took, and frees the slots', () => {
  const check = fdLeakCheck();
  const regions = liveRegions();
  const loop = uringLoop();
  const poller = pollerOf(loop);
  const sock = listener();
  addAcceptHandler(sock, () => assert.unreachable('the handler never runs'), loop);
  const clients: Socket[] = [];
  try {
    const acceptor = acceptorOf(poller, sock.fileno())!;
    poller.poll(0); // arm
    for (let i = 0; i < 3; i++) clients.push(connectTo(portOf(sock)));
    for (let i = 0; i < 20 && acceptor.queued() < 3; i++) poller.poll(5);
    assert.is(acceptor.queued(), 3);
    loop.close();
    for (const client of clients) assert.is(client.recv(16).length, 0, 'closed by the server side');
    assert.is(liveRegions(), regions, 'the sockaddr slots are freed');
  } finally {
    loop.close();
    for (const s of clients) s.close();
    sock.close();
  }
  check();
});

test('worker processes on uring loops share one listener: a blocked worker holds no connection', async () => {
  const port = await freePort();
  const fixture = new Fixture('multiproc-server.js', ['start', '2', String(port)], { GALE_POLLER: 'uring', GALE_URING_ACCEPT: '1' });
  try {
    await fixture.started(2);
    const seen = new Set<string>();
    for (let round = 0; round < 2; round++) {
      const [first, second] = (await blockedAndOther(port)).map((reply) => reply.split(' ')[0]!);
      assert.is.not(first, second, 'the other worker answered while the first was blocked');
      seen.add(first).add(second);
    }
    assert.equal([...seen].sort(), ['0', '1']);
  } finally {
    fixture.killAll();
  }
});

for (const ringAccept of ['1', '0']) {
  test(`a parent that added its accept handler before forking never accepts on the sockets it handed over (GALE_URING_ACCEPT=${ringAccept})`, async () => {
    const port = await freePort();
    const fixture = new Fixture('listen-then-start.js', [String(port)], { GALE_POLLER: 'uring', GALE_URING_ACCEPT: ringAccept });
    try {
      const { parentPid } = await fixture.started(2);
      const workers = new Set(fixture.readyWorkers().values());
      for (let i = 0; i < 10; i++) {
        const pid = Number((await ask(port, 'who', 5000)).split(' ')[1]);
        assert.ok(workers.has(pid), `answered by worker ${pid}, not the parent ${parentPid}`);
      }
    } finally {
      fixture.killAll();
    }
  });
}

test.run();
