/**
 * Every C layout and constant gale writes or reads that could differ by
 * architecture, each checked against the kernel (or libc, or Node's own
 * decoder) rather than against a constant: what gale encodes, the kernel
 * must act on, and what the kernel fills in, gale must decode. These run on
 * x86_64 natively and on aarch64 under qemu-user (scripts/arm64.sh), where
 * `struct epoll_event` is 16 bytes instead of 12. docs/arm64.md lists them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, rmSync } from 'node:fs';
import { connect, type Socket as NodeSocket } from 'node:net';
import { once } from 'node:events';
import { EPollPoller } from '../reactor/epoll.js';
import { PollPoller } from '../reactor/poll.js';
import { ERROR, READ, WRITE } from '../reactor/poller.js';
import { allocRegion, freeRegion } from '../reactor/sys/arena.js';
import { errno as E } from '../reactor/sys/errors.js';
import { c, close as closeFd, lastErrno, pipe, setNonblocking, socket } from '../reactor/sys/libc.js';
import {
  AF_INET, AF_INET6, AF_UNIX, FD_CLOEXEC, F_GETFD, F_GETFL, IPPROTO_TCP, O_CLOEXEC, O_NONBLOCK, SOCK_STREAM,
} from '../reactor/sys/constants.js';
import { Socket } from '../reactor/sys/socket.js';
import { getaddrinfo } from '../reactor/sys/getaddrinfo.js';
import { fdLeakCheck } from './helpers.js';

/** The fd's open-file flags as the kernel reports them (/proc/self/fdinfo, octal). */
function kernelFlags(fd: number): number {
  const line = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(line, `fdinfo of ${fd} has a flags line`);
  return parseInt(line[1]!, 8);
}

const EPOLLIN = 0x001;
const EPOLL_CTL_ADD = 1;
/** struct epoll_event as the kernel uses it here: packed on x86_64 only. */
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_AT = process.arch === 'x64' ? 4 : 8;

test('epoll_event: 64-bit data registered with epoll_ctl comes back from epoll_wait, entry after entry', () => {
  const check = fdLeakCheck();
  const epfd = c.epollCreate1(O_CLOEXEC) as number;
  assert.ok(epfd >= 0);
  const pipes = [pipe(), pipe(), pipe()];
  const region = allocRegion(16 * 8);
  try {
    // Each registration carries a distinct pattern in both halves of `data`.
    const expected = new Map<string, number>();
    pipes.forEach(([r, w], i) => {
      const hi = 0x11223300 + i;
      const lo = 0xa5a50000 + r;
      region.view.fill(0xee, 0, 16);
      region.view.writeUInt32LE(EPOLLIN, 0);
      region.view.writeUInt32LE(lo, DATA_AT);
      region.view.writeUInt32LE(hi, DATA_AT + 4);
      assert.is(c.epollCtl(epfd, EPOLL_CTL_ADD, r, region.addr), 0, `epoll_ctl ${lastErrno()}`);
      c.write(w, region.addr, 1); // anything: makes r readable
      expected.set(`${hi}:${lo}`, EPOLLIN);
    });
    region.view.fill(0xee);
    const n = c.epollWait(epfd, region.addr, 8, 0) as number;
    assert.is(n, pipes.length, 'every pipe is ready');
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const at = i * EVENT_SIZE;
      const key = `${region.view.readUInt32LE(at + DATA_AT + 4)}:${region.view.readUInt32LE(at + DATA_AT)}`;
      seen.set(key, region.view.readUInt32LE(at));
    }
    assert.equal(seen, expected, `entries of ${EVENT_SIZE} bytes, data at ${DATA_AT}`);
    // Past the last entry the kernel wrote nothing.
    assert.is(region.view.readUInt32LE(n * EVENT_SIZE), 0xeeeeeeee);
  } finally {
    freeRegion(region);
    closeFd(epfd);
    for (const [r, w] of pipes) { closeFd(r); closeFd(w); }
  }
  check();
});

for (const Poller of [EPollPoller, PollPoller]) {
  test(`${Poller.name} (epoll_event / pollfd): many ready fds at once each decode to their own fd and events`, () => {
    const check = fdLeakCheck();
    const poller = new Poller();
    const pipes = Array.from({ length: 5 }, () => pipe());
    const byte = allocRegion(8);
    try {
      for (const [r, w] of pipes) {
        poller.register(r, READ);
        poller.register(w, WRITE);
        c.write(w, byte.addr, 1);
      }
      const n = poller.poll(0);
      const got = new Map<number, number>();
      for (let i = 0; i < n; i++) got.set(poller.readyFds[i]!, poller.readyEvents[i]! & (READ | WRITE | ERROR));
      const want = new Map<number, number>();
      for (const [r, w] of pipes) { want.set(r, READ); want.set(w, WRITE); }
      assert.equal(got, want);
    } finally {
      poller.close();
      for (const [r, w] of pipes) { closeFd(r); closeFd(w); }
      freeRegion(byte);
    }
    check();
  });
}

test('errno: read through __errno_location after each failing call, the value the kernel returned', async () => {
  assert.is(c.close(-1), -1);
  assert.is(lastErrno(), E.EBADF);
  assert.is(c.socket(12345, SOCK_STREAM, 0), -1);
  assert.is(lastErrno(), E.EAFNOSUPPORT);
  const [r, w] = pipe();
  const byte = allocRegion(8);
  try {
    setNonblocking(r, true);
    assert.is(c.read(r, byte.addr, 1), -1);
    assert.is(lastErrno(), E.EAGAIN);
  } finally {
    closeFd(r);
    closeFd(w);
    freeRegion(byte);
  }
  // errno is per thread: a worker reads its own location's value.
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(new URL('../reactor/sys/libc.js', import.meta.url).href)}).then((m) => {
      m.c.close(-1);
      parentPort.postMessage(m.lastErrno());
    });`, { eval: true });
  assert.is(c.socket(12345, SOCK_STREAM, 0), -1);
  const [fromWorker] = await once(worker, 'message') as [number];
  await worker.terminate();
  assert.is(fromWorker, E.EBADF, 'the worker reads its own errno (its thread-local location)');
});

test('fcntl and socket flags: what gale sets is what the kernel reports', () => {
  const check = fdLeakCheck();
  const [r, w] = pipe();
  const s = socket(AF_INET, SOCK_STREAM, 0, true);
  try {
    for (const fd of [r, w, s]) {
      const flags = kernelFlags(fd);
      assert.is(flags & O_NONBLOCK, O_NONBLOCK, `fd ${fd} is O_NONBLOCK (0o${flags.toString(8)})`);
      assert.is(flags & O_CLOEXEC, O_CLOEXEC, `fd ${fd} is O_CLOEXEC (0o${flags.toString(8)})`);
      assert.is(c.fcntl(fd, F_GETFD, 0), FD_CLOEXEC);
      assert.is((c.fcntl(fd, F_GETFL, 0) as number) & O_NONBLOCK, O_NONBLOCK);
    }
    setNonblocking(r, false);
    assert.is(kernelFlags(r) & O_NONBLOCK, 0, 'cleared through F_SETFL');
    setNonblocking(r, true);
    assert.is(kernelFlags(r) & O_NONBLOCK, O_NONBLOCK, 'set through F_SETFL');
  } finally {
    for (const fd of [r, w, s]) closeFd(fd);
  }
  check();
});

/** Connects Node's own socket to `port` and returns the two ends' addresses as Node (libuv) decodes them. */
async function nodePeer(host: string, port: number): Promise<NodeSocket> {
  const client = connect({ host, port });
  await once(client, 'connect');
  return client;
}

test('sockaddr_in: bind, getsockname and accept agree with the kernel as Node decodes it', async () => {
  const check = fdLeakCheck();
  const server = new Socket(AF_INET);
  server.bind(['127.0.0.1', 0]);
  server.listen(1);
  const [host, port] = server.getsockname() as [string, number];
  assert.is(host, '127.0.0.1');
  assert.ok(port > 0);
  const client = await nodePeer('127.0.0.1', port);
  try {
    server.setBlocking(true);
    const [conn, peer] = server.accept();
    assert.equal(peer, [client.localAddress, client.localPort]);
    assert.equal(conn.getsockname(), [client.remoteAddress, client.remotePort]);
    assert.equal(conn.getpeername(), peer);
    conn.close();
  } finally {
    client.destroy();
    server.close();
  }
  check();
});

test('sockaddr_in6: the same over ::1, with flowinfo and scope id', async () => {
  const check = fdLeakCheck();
  const server = new Socket(AF_INET6);
  try {
    server.bind(['::1', 0]);
  } catch (error) {
    server.close();
    // No IPv6 loopback on this host: the kernel says so with EADDRNOTAVAIL.
    assert.is((error as { errno?: number }).errno, E.EADDRNOTAVAIL);
    return;
  }
  server.listen(1);
  const address = server.getsockname() as [string, number, number, number];
  assert.equal([address[0], address[2], address[3]], ['::1', 0, 0]);
  const client = await nodePeer('::1', address[1]);
  try {
    server.setBlocking(true);
    const [conn, peer] = server.accept();
    assert.equal(peer, [client.localAddress, client.localPort, 0, 0]);
    conn.close();
  } finally {
    client.destroy();
    server.close();
  }
  check();
});

test('sockaddr_un: a path and an abstract name come back from getsockname as bound', () => {
  const check = fdLeakCheck();
  const path = `/tmp/gale-layout-${process.pid}.sock`;
  const named = new Socket(AF_UNIX);
  const abstract = new Socket(AF_UNIX);
  try {
    named.bind(path);
    assert.is(named.getsockname(), path);
    const name = `\0gale-layout-${process.pid}`;
    abstract.bind(name);
    assert.is(abstract.getsockname(), name);
  } finally {
    named.close();
    abstract.close();
    rmSync(path, { force: true });
  }
  check();
});

test('struct addrinfo: getaddrinfo results decode to the family, type, protocol and address asked for', () => {
  const v4 = getaddrinfo('127.0.0.1', 8080, AF_INET, SOCK_STREAM);
  assert.equal(v4, [{ family: AF_INET, socktype: SOCK_STREAM, protocol: IPPROTO_TCP, address: ['127.0.0.1', 8080] }]);
  const v6 = getaddrinfo('::1', 443, AF_INET6, SOCK_STREAM);
  assert.equal(v6, [{ family: AF_INET6, socktype: SOCK_STREAM, protocol: IPPROTO_TCP, address: ['::1', 443, 0, 0] }]);
  // A name and several results: the ai_next chain is walked to its end.
  const all = getaddrinfo('localhost', 'http');
  assert.ok(all.length >= 1);
  for (const info of all) {
    assert.ok(info.family === AF_INET || info.family === AF_INET6, `family ${info.family}`);
    assert.is((info.address as [string, number])[1], 80, 'the service "http" decodes as port 80');
  }
  assert.ok(all.some((info) => info.socktype === SOCK_STREAM && info.protocol === IPPROTO_TCP));
});

test('struct rlimit: setrlimit then getrlimit and /proc/self/limits agree', () => {
  const RLIMIT_NOFILE = 7;
  const region = allocRegion(16);
  try {
    assert.is(c.getrlimit(RLIMIT_NOFILE, region.addr), 0);
    const soft = Number(region.view.readBigUInt64LE(0));
    const hard = Number(region.view.readBigUInt64LE(8));
    const lowered = Math.min(soft, 4096) - 1;
    region.view.writeBigUInt64LE(BigInt(lowered), 0);
    assert.is(c.setrlimit(RLIMIT_NOFILE, region.addr), 0);
    const limits = /^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    assert.equal([Number(limits?.[1]), Number(limits?.[2])], [lowered, hard]);
    region.view.writeBigUInt64LE(BigInt(soft), 0);
    assert.is(c.setrlimit(RLIMIT_NOFILE, region.addr), 0);
  } finally {
    freeRegion(region);
  }
});

test.run();
