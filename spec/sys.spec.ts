/**
 * reactor/sys: OSError, sockaddr encoding and decoding (IPv4, IPv6 text
 * both ways — cross-checked against libc's inet_pton and the WHATWG URL
 * serializer — Unix paths), and the libc wrappers: pipes, eventfd, reads and
 * writes with EAGAIN as -1, socket calls through the staged sockaddr, socket
 * options, the waker, the arena and the FFI binding itself.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OSError, errno as E, errnoCode, errnoMessage } from '../reactor/sys/errors.js';
import {
  UNIX_PATH_MAX, decodeSockaddr, encodeSockaddr, formatIPv6, parseIPv4, parseIPv6, sockaddrFamily, type Address,
} from '../reactor/sys/sockaddr.js';
import {
  AF_INET, AF_INET6, AF_UNIX, F_GETFD, FD_CLOEXEC, IPPROTO_TCP, SHUT_WR, SOCK_STREAM, SOL_SOCKET, SO_ERROR,
  SO_KEEPALIVE, SO_RCVBUF, SO_REUSEADDR, TCP_NODELAY,
} from '../reactor/sys/constants.js';
import * as sys from '../reactor/sys/libc.js';
import { c, close as closeFd, lastErrno } from '../reactor/sys/libc.js';
import { CHUNK_SIZE, SCRATCH, SCRATCH_SIZE, allocRegion, chunk, freeRegion, scratch, viewAt } from '../reactor/sys/arena.js';
import { bind, ffiCounter, nativeView, openLibrary } from '../reactor/sys/ffi.js';
import { Waker, wakeFd } from '../reactor/waker.js';
import { fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();

function expectOSError(fn: () => unknown, code: string, syscall?: string): OSError {
  try {
    fn();
  } catch (error) {
    assert.instance(error, OSError, String(error));
    assert.is((error as OSError).code, code, (error as Error).message);
    if (syscall) assert.is((error as OSError).syscall, syscall);
    return error as OSError;
  }
  assert.unreachable(`expected OSError ${code}`);
  throw new Error('unreachable');
}

function isCloexec(fd: number): boolean {
  return ((c.fcntl(fd, F_GETFD, 0) as number) & FD_CLOEXEC) !== 0;
}

// ------------------------------------------------------------ OSError

test('OSError carries errno, Node\'s code and the syscall', () => {
  const err = new OSError(E.ECONNREFUSED, 'connect');
  assert.instance(err, Error);
  assert.is(err.name, 'OSError');
  assert.is(err.errno, E.ECONNREFUSED);
  assert.is(err.code, 'ECONNREFUSED');
  assert.is(err.syscall, 'connect');
  assert.is(err.message, `[Errno ${E.ECONNREFUSED}] connection refused (connect ECONNREFUSED)`);
  const bare = new OSError(E.EBADF);
  assert.is(bare.syscall, undefined);
  assert.is(bare.message, `[Errno ${E.EBADF}] bad file descriptor`);
  const custom = new OSError(E.EINVAL, 'inet_pton', 'not an address', 'EINVAL');
  assert.is(custom.message, 'not an address');
  assert.is(custom.code, 'EINVAL');
  assert.match(String(custom.stack), /^OSError: not an address/);
});

test('errno codes and messages, including unknown numbers', () => {
  assert.is(errnoCode(E.EAGAIN), 'EAGAIN');
  assert.is(errnoCode(E.EPIPE), 'EPIPE');
  assert.is(errnoMessage(E.EPIPE), 'broken pipe');
  assert.is(errnoCode(99999), 'Unknown system error 99999');
  assert.is(errnoMessage(99999), 'unknown error 99999');
  assert.is(new OSError(99999, 'x').code, 'Unknown system error 99999');
});

// ------------------------------------------------------------ addresses: text

// libc's own parser, bound here: gale itself never calls it.
const libcInetPton = bind('libc', 'inet_pton', 'i32', ['i32', 'ptr', 'ptr']);

/** libc's own answer for `text` (null when inet_pton rejects it). */
function inetPton(family: number, text: string): Uint8Array | null {
  const src = chunk.view;
  const at = src.write(text, 0, 'latin1');
  src[at] = 0;
  const dst = 256;
  const ok = libcInetPton(family, chunk.addr, chunk.addr + dst) as number;
  return ok === 1 ? Uint8Array.from(src.subarray(dst, dst + (family === AF_INET ? 4 : 16))) : null;
}

const v4Cases = [
  '0.0.0.0', '127.0.0.1', '255.255.255.255', '1.2.3.4', '10.0.0.255',
  '', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.-1', '01.2.3.4', '1.2.3.04', 'a.b.c.d', '1..2.3', ' 1.2.3.4',
  '1.2.3.4 ', '0x1.2.3.4', '1.2.3.4/8', '999.1.1.1', '1.2.3.1000',
];

test('parseIPv4 agrees with inet_pton', () => {
  for (const text of v4Cases) {
    const ours = parseIPv4(text);
    const libc = inetPton(AF_INET, text);
    assert.equal(ours && [...ours], libc && [...libc], `'${text}'`);
  }
  const out = new Uint8Array(8);
  assert.ok(parseIPv4('9.8.7.6', out, 4));
  assert.equal([...out], [0, 0, 0, 0, 9, 8, 7, 6]);
});

const v6Cases = [
  '::', '::1', '1::', 'fe80::1', '2001:db8::ff00:42:8329', '2001:0db8:0000:0000:0000:ff00:0042:8329',
  '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', 'ABCD:EF01::1', '::ffff:1.2.3.4', '::1.2.3.4',
  '1:2:3:4:5:6:1.2.3.4', '64:ff9b::192.0.2.33',
  '', ':', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7', ':1::', '1::2:', '::ffff:1.2.3',
  '::ffff:256.1.1.1', '1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::1.2.3.4:5', 'fe80::1%1', '[::1]', '1:2:3:4:5:6:7:8::',
  '::1:2:3:4:5:6:7:8',
];

test('parseIPv6 agrees with inet_pton', () => {
  for (const text of v6Cases) {
    const ours = parseIPv6(text);
    const libc = inetPton(AF_INET6, text);
    assert.equal(ours && [...ours], libc && [...libc], `'${text}'`);
  }
});

test('formatIPv6 writes RFC 5952 text (as the WHATWG URL serializer does)', () => {
  const cases: Array<[string, string]> = [
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // ties: the first run
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], // the longest run
    ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'], // a single zero is not compressed
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['FE80::ABCD', 'fe80::abcd'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'], // IPv4-mapped keeps its dotted tail, as inet_ntop writes it
  ];
  for (const [input, expected] of cases) assert.is(formatIPv6(parseIPv6(input)!), expected, input);
});

test('formatIPv6 matches the URL serializer on random addresses', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 48271) % 0x7fffffff) / 0x7fffffff);
  for (let n = 0; n < 2000; n++) {
    const bytes = new Uint8Array(16);
    for (let w = 0; w < 8; w++) {
      if (random() < 0.5) continue; // plenty of zero runs
      const v = Math.floor(random() * 0x10000);
      bytes[2 * w] = v >> 8;
      bytes[2 * w + 1] = v & 0xff;
    }
    const text = formatIPv6(bytes);
    if (text.startsWith('::ffff:') && text.includes('.')) continue; // dotted form is inet_ntop's, not URL's
    assert.is(`[${text}]`, new URL(`http://[${text}]/`).hostname, text);
    assert.equal([...parseIPv6(text)!], [...bytes], text);
  }
});

// ------------------------------------------------------------ addresses: sockaddrs

function roundTrip(family: number, address: Address): Address {
  const view = Buffer.alloc(128, 0xaa);
  const length = encodeSockaddr(view, 8, family, address);
  assert.is(sockaddrFamily(view, 8), family);
  return decodeSockaddr(view, 8, length);
}

test('sockaddr_in: encode/decode round trips, localhost and the wildcard', () => {
  assert.equal(roundTrip(AF_INET, ['127.0.0.1', 8080]), ['127.0.0.1', 8080]);
  assert.equal(roundTrip(AF_INET, ['255.255.255.255', 65535]), ['255.255.255.255', 65535]);
  assert.equal(roundTrip(AF_INET, ['localhost', 1]), ['127.0.0.1', 1]);
  assert.equal(roundTrip(AF_INET, ['', 0]), ['0.0.0.0', 0]);
  const view = Buffer.alloc(16);
  assert.is(encodeSockaddr(view, 0, AF_INET, ['1.2.3.4', 0x1234]), 16);
  assert.is(view.readUInt16LE(0), AF_INET);
  assert.is(view.readUInt16BE(2), 0x1234, 'port in network order');
  assert.equal([...view.subarray(4, 8)], [1, 2, 3, 4]);
});

test('sockaddr_in: the decoded host is right whichever host came before (the last one is reused)', () => {
  // decodeSockaddr keeps the last IPv4 host's text: repeats, changes,
  // 0.0.0.0 (its initial entry) and 255.255.255.255 (all bits set) in turn.
  const hosts = ['10.1.2.3', '10.1.2.3', '0.0.0.0', '255.255.255.255', '10.1.2.4', '0.0.0.0', '127.0.0.1', '10.1.2.3', '255.255.255.255'];
  for (const host of hosts) {
    for (const port of [1, 65535]) assert.equal(roundTrip(AF_INET, [host, port]), [host, port]);
  }
});

test('sockaddr_in6: round trips with flowinfo and scope id, text normalised', () => {
  assert.equal(roundTrip(AF_INET6, ['::1', 80]), ['::1', 80, 0, 0]);
  assert.equal(roundTrip(AF_INET6, ['::1', 80, 0, 0]), ['::1', 80, 0, 0]);
  assert.equal(roundTrip(AF_INET6, ['2001:0DB8:0:0:0:0:0:1', 443, 7, 3]), ['2001:db8::1', 443, 7, 3]);
  assert.equal(roundTrip(AF_INET6, ['fe80::1%4', 22]), ['fe80::1', 22, 0, 4]);
  assert.equal(roundTrip(AF_INET6, ['fe80::1%4', 22, 0, 9]), ['fe80::1', 22, 0, 9], 'an explicit scope id wins');
  assert.equal(roundTrip(AF_INET6, ['::ffff:10.0.0.1', 5]), ['::ffff:10.0.0.1', 5, 0, 0]);
  assert.equal(roundTrip(AF_INET6, ['localhost', 5]), ['::1', 5, 0, 0]);
  assert.equal(roundTrip(AF_INET6, ['', 5]), ['::', 5, 0, 0]);
  assert.equal(roundTrip(AF_INET6, ['::1', 5, 0xffffffff, 0]), ['::1', 5, 0xffffffff, 0]);
  const view = Buffer.alloc(28);
  assert.is(encodeSockaddr(view, 0, AF_INET6, ['::2', 0x0102, 0x01020304, 6]), 28);
  assert.is(view.readUInt16BE(2), 0x0102);
  assert.is(view.readUInt32BE(4), 0x01020304, 'flowinfo in network order');
  assert.is(view[23], 2);
  assert.is(view.readUInt32LE(24), 6, 'scope id in host order');
});

test('sockaddr_in6: a scope may name an interface, as Python allows (fe80::1%lo)', () => {
  const loIndex = Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
  assert.equal(roundTrip(AF_INET6, ['fe80::1%lo', 22]), ['fe80::1', 22, 0, loIndex]);
  expectOSError(() => encodeSockaddr(Buffer.alloc(28), 0, AF_INET6, ['fe80::1%no-such-if0', 22]), 'ENODEV');
  assert.throws(() => encodeSockaddr(Buffer.alloc(28), 0, AF_INET6, ['fe80::1%' + 'x'.repeat(20), 22]), /unknown network interface/);
});

test('sockaddr_un: paths, abstract names, unnamed peers', () => {
  assert.is(roundTrip(AF_UNIX, '/tmp/gale.sock'), '/tmp/gale.sock');
  assert.is(roundTrip(AF_UNIX, '\0abstract'), '\0abstract');
  const view = Buffer.alloc(128);
  assert.is(encodeSockaddr(view, 0, AF_UNIX, '/a'), 2 + 2 + 1, 'a path counts its NUL');
  assert.is(encodeSockaddr(view, 0, AF_UNIX, '\0a'), 2 + 2, 'an abstract name does not');
  assert.is(decodeSockaddr(view, 0, 2), '', 'an unnamed peer');
  assert.is(decodeSockaddr(view, 0, 0), '', 'an empty address');
  const longest = `/${'x'.repeat(UNIX_PATH_MAX - 1)}`;
  assert.is(roundTrip(AF_UNIX, longest), longest);
  expectOSError(() => encodeSockaddr(view, 0, AF_UNIX, `${longest}y`), 'ENAMETOOLONG');
  assert.is(roundTrip(AF_UNIX, '/tmp/ünïcødé'), '/tmp/ünïcødé');
});

test('bad addresses are refused with the right error', () => {
  const view = Buffer.alloc(128);
  expectOSError(() => encodeSockaddr(view, 0, AF_INET, ['1.2.3', 80]), 'EINVAL');
  expectOSError(() => encodeSockaddr(view, 0, AF_INET, ['example.com', 80]), 'EINVAL');
  expectOSError(() => encodeSockaddr(view, 0, AF_INET6, ['1.2.3.4', 80]), 'EINVAL');
  expectOSError(() => encodeSockaddr(view, 0, AF_INET6, ['fe80::1%no-such-if0', 80]), 'ENODEV'); // a named scope must exist
  expectOSError(() => encodeSockaddr(view, 0, 12345, ['1.2.3.4', 80]), 'EAFNOSUPPORT');
  assert.throws(() => encodeSockaddr(view, 0, AF_INET, ['1.2.3.4', 65536]), RangeError);
  assert.throws(() => encodeSockaddr(view, 0, AF_INET, ['1.2.3.4', -1]), RangeError);
  assert.throws(() => encodeSockaddr(view, 0, AF_INET, ['1.2.3.4', 1.5]), RangeError);
  assert.throws(() => encodeSockaddr(view, 0, AF_INET, '1.2.3.4'), TypeError);
  assert.throws(() => encodeSockaddr(view, 0, AF_UNIX, ['/tmp/x', 0]), TypeError);
  // Only the struct itself is written: a buffer of exactly its size will do,
  // and the bytes after it are left alone.
  const exact = Buffer.alloc(16 + 4, 0xcc);
  assert.is(encodeSockaddr(exact, 0, AF_INET, ['1.2.3.4', 80]), 16);
  assert.ok(exact.subarray(16).every((b) => b === 0xcc));
  assert.is(encodeSockaddr(Buffer.alloc(28), 0, AF_INET6, ['::1', 80]), 28);
  assert.is(encodeSockaddr(Buffer.alloc(110), 0, AF_UNIX, '/tmp/x'), 9);
  view.writeUInt16LE(12345, 0);
  expectOSError(() => decodeSockaddr(view, 0, 16), 'EAFNOSUPPORT');
});

// ------------------------------------------------------------ fds

test('pipe(): nonblocking and close-on-exec; EAGAIN comes back as -1, EOF as 0', () => {
  const [r, w] = sys.pipe();
  try {
    for (const fd of [r, w]) {
      assert.ok(sys.isNonblocking(fd));
      assert.ok(isCloexec(fd));
    }
    assert.is(sys.readToChunk(r), -1, 'empty pipe: would block');
    assert.is(sys.writeBytes(w, Buffer.from('hello')), 5);
    assert.is(sys.readToChunk(r, 2), 2, 'max limits the read');
    assert.is(chunk.view.toString('latin1', 0, 2), 'he');
    const into = Buffer.alloc(10);
    assert.is(sys.readInto(r, into), 3);
    assert.is(into.toString('latin1', 0, 3), 'llo');
    assert.is(sys.readInto(r, into), -1);
    closeFd(w);
    assert.is(sys.readToChunk(r), 0, 'EOF');
    assert.is(sys.readInto(r, into), 0);
  } finally {
    closeFd(r);
  }
});

test('writes fill a pipe, then report -1; every write goes zero-copy', () => {
  const [r, w] = sys.pipe();
  try {
    // Whatever its size, a write passes the Buffer itself: no staging copy
    // (through koffi a Buffer argument costs what an address does).
    const bufferCalls = ffiCounter.bufferCalls;
    assert.is(sys.writeBytes(w, Buffer.alloc(CHUNK_SIZE, 0x61)), CHUNK_SIZE);
    assert.is(ffiCounter.bufferCalls, bufferCalls + 1, 'a write of one chunk passes the Buffer itself');
    const afterWrite = ffiCounter.bufferCalls;
    while (sys.readToChunk(r) > 0) { /* drain */ }
    assert.is(ffiCounter.bufferCalls, afterWrite, 'no Buffer argument for a read into the chunk');
    const big = Buffer.alloc(CHUNK_SIZE * 3, 0x61);
    let written = 0;
    for (;;) {
      const n = sys.writeBytes(w, big);
      if (n < 0) break;
      written += n;
    }
    assert.ok(ffiCounter.bufferCalls > bufferCalls, 'a larger write passes the Buffer itself (zero-copy)');
    assert.ok(written >= CHUNK_SIZE, `pipe took ${written} bytes`);
    assert.is(sys.writeBytes(w, Buffer.from('x')), -1);
    let read = 0;
    for (;;) {
      const n = sys.readToChunk(r);
      if (n <= 0) break;
      read += n;
    }
    assert.is(read, written);
  } finally {
    closeFd(r);
    closeFd(w);
  }
});

test('writeGather coalesces several buffers (from an offset) into one write', () => {
  const [r, w] = sys.pipe();
  try {
    const parts = [Buffer.from('skip'), Buffer.from('abcdef'), Buffer.from('gh'), new Uint8Array([0x69])];
    const before = ffiCounter.calls;
    const bufferCalls = ffiCounter.bufferCalls;
    assert.is(sys.writeGather(w, parts, 1, 2), 7);
    assert.is(ffiCounter.calls - before, 1, 'one FFI call');
    assert.is(ffiCounter.bufferCalls, bufferCalls, 'through the outbox: no Buffer argument');
    const n = sys.readToChunk(r);
    assert.is(chunk.view.toString('latin1', 0, n), 'cdefghi');
    // A single part is written from where it is (from its offset), not copied.
    assert.is(sys.writeGather(w, parts, 3, 0), 1);
    assert.is(sys.writeGather(w, [Buffer.from('xyef')], 0, 2), 2);
    assert.is(ffiCounter.bufferCalls, bufferCalls + 2, 'a single part goes zero-copy');
    assert.is(chunk.view.toString('latin1', 0, sys.readToChunk(r)), 'ief');
    // Larger than the outbox: it takes what fits in one chunk.
    const large = [Buffer.alloc(CHUNK_SIZE - 10, 1), Buffer.alloc(100, 2)];
    assert.is(sys.writeGather(w, large), CHUNK_SIZE);
    while (sys.readToChunk(r) > 0) { /* drain */ }
    // A full pipe: -1.
    while (sys.writeBytes(w, Buffer.alloc(CHUNK_SIZE)) > 0) { /* fill */ }
    assert.is(sys.writeGather(w, [Buffer.from('x')]), -1);
  } finally {
    closeFd(r);
    closeFd(w);
  }
});

test('failures throw OSError with the syscall: closing twice, reading a bad fd, writing a closed pipe', () => {
  const [r, w] = sys.pipe();
  closeFd(r);
  expectOSError(() => closeFd(r), 'EBADF', 'close');
  expectOSError(() => sys.readToChunk(r), 'EBADF', 'read');
  expectOSError(() => sys.readInto(r, Buffer.alloc(1)), 'EBADF', 'read');
  expectOSError(() => sys.writeBytes(w, Buffer.from('x')), 'EPIPE', 'write'); // Node ignores SIGPIPE
  expectOSError(() => sys.writeBytes(w, Buffer.alloc(CHUNK_SIZE + 1)), 'EPIPE', 'write');
  expectOSError(() => sys.writeGather(w, [Buffer.from('x')]), 'EPIPE', 'write');
  closeFd(w);
  expectOSError(() => sys.setNonblocking(w, true), 'EBADF', 'fcntl');
  expectOSError(() => sys.isNonblocking(w), 'EBADF', 'fcntl');
  expectOSError(() => sys.setCloexec(w), 'EBADF', 'fcntl');
  assert.is(c.close(w), -1);
  assert.is(lastErrno(), E.EBADF);
  expectOSError(() => sys.check(c.close(w) as number, 'close'), 'EBADF', 'close');
  assert.is(sys.check(7, 'close'), 7, 'a non-negative result passes through');
  expectOSError(() => sys.checkWait(c.close(w) as number, 'poll'), 'EBADF', 'poll');
  assert.is(sys.checkWait(3, 'poll'), 3);
});

test('setNonblocking toggles O_NONBLOCK (and skips the write when unchanged)', () => {
  const [r, w] = sys.pipe();
  try {
    sys.setNonblocking(r, false);
    assert.not.ok(sys.isNonblocking(r));
    let before = ffiCounter.calls;
    sys.setNonblocking(r, false);
    assert.is(ffiCounter.calls - before, 1, 'only F_GETFL');
    sys.setNonblocking(r, true);
    assert.ok(sys.isNonblocking(r));
    before = ffiCounter.calls;
    sys.setCloexec(r);
    assert.is(ffiCounter.calls - before, 1);
    assert.ok(isCloexec(r));
  } finally {
    closeFd(r);
    closeFd(w);
  }
});

test('eventfd: one counter, one read drains it; the waker wakes and consumes', () => {
  const fd = sys.eventfd();
  try {
    assert.ok(sys.isNonblocking(fd));
    assert.ok(isCloexec(fd));
    wakeFd(fd);
    wakeFd(fd);
    assert.is(sys.readToChunk(fd, 8), 8);
    assert.is(chunk.view.readBigUInt64LE(0), 2n, 'two wake-ups, one count');
    assert.is(sys.readToChunk(fd, 8), -1);
  } finally {
    closeFd(fd);
  }
  const waker = new Waker();
  try {
    assert.is(waker.writeFileno(), waker.fileno(), 'an eventfd is both ends on Linux');
    waker.consume(); // nothing pending: harmless
    waker.wake();
    waker.wake();
    waker.consume();
    assert.is(sys.readToChunk(waker.fileno(), 8), -1, 'drained');
  } finally {
    waker.close();
    waker.close(); // twice: harmless
  }
  expectOSError(() => wakeFd(-1), 'EBADF', 'write');
});

// ------------------------------------------------------------ sockets

function stage(family: number, address: Address): number {
  return encodeSockaddr(scratch.view, sys.SOCKADDR_OFFSET, family, address);
}

function stagedAddress(): Address {
  return decodeSockaddr(scratch.view, sys.SOCKADDR_OFFSET, sys.stagedAddressLength());
}

test('the scratch slots lie inside scratch and never overlap', () => {
  const slots = Object.entries(SCRATCH).map(([name, [offset, size]]) => ({ name, offset, size }));
  slots.sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const { name, offset, size } of slots) {
    assert.ok(size > 0, `${name} has a size`);
    assert.ok(offset >= end, `${name} (@${offset}) starts after the slot before it ends (@${end})`);
    end = offset + size;
  }
  assert.ok(end <= SCRATCH_SIZE, 'the last slot ends inside scratch');
  assert.is(scratch.view.byteLength, SCRATCH_SIZE);
  assert.is(sys.SOCKADDR_OFFSET, SCRATCH.SOCKADDR[0]);
  assert.ok(SCRATCH.SOCKADDR[1] >= 110, 'the sockaddr slot holds a sockaddr_un');
});

test('a staged sockaddr survives getsockoptBytes (regression: its length sat at offset 600, inside the sockaddr)', () => {
  // A Unix path long enough for its sockaddr to run past scratch offset 600.
  const dir = mkdtempSync(join(tmpdir(), 'gale-sys-'));
  const path = join(dir, 'p'.repeat(Math.max(1, 100 - dir.length - 1)));
  assert.ok(Buffer.byteLength(path) >= 100, `path of ${Buffer.byteLength(path)} bytes reaches offset 600`);
  const fd = sys.socket(AF_UNIX, SOCK_STREAM, 0, false);
  try {
    sys.bindStaged(fd, stage(AF_UNIX, path));
    sys.sockname(fd, false);
    assert.is(sys.getsockoptBytes(fd, SOL_SOCKET, SO_ERROR, 4).byteLength, 4);
    sys.getsockoptInt(fd, SOL_SOCKET, SO_ERROR);
    assert.is(stagedAddress(), path, 'the sockaddr left staged by getsockname is intact');
  } finally {
    closeFd(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TCP through the staged sockaddr: bind, listen, connect, accept, names, shutdown', () => {
  const listener = sys.socket(AF_INET, SOCK_STREAM, 0, true);
  const client = sys.socket(AF_INET, SOCK_STREAM, 0, true);
  let server = -1;
  try {
    assert.ok(sys.isNonblocking(listener));
    assert.ok(isCloexec(listener));
    sys.setsockoptInt(listener, SOL_SOCKET, SO_REUSEADDR, 1);
    assert.ok(sys.getsockoptInt(listener, SOL_SOCKET, SO_REUSEADDR) !== 0);
    sys.bindStaged(listener, stage(AF_INET, ['127.0.0.1', 0]));
    sys.listen(listener, 8);
    sys.sockname(listener, false);
    const [host, port] = stagedAddress() as [string, number];
    assert.is(host, '127.0.0.1');
    assert.ok(port > 0);
    assert.is(sys.accept(listener), -1, 'nothing pending: -1');
    const err = sys.connectStaged(client, stage(AF_INET, ['127.0.0.1', port]));
    assert.ok(err === 0 || err === E.EINPROGRESS, `connect: ${errnoCode(err)}`);
    for (let i = 0; i < 1000 && server < 0; i++) server = sys.accept(listener);
    assert.ok(server >= 0, 'accepted');
    assert.equal(stagedAddress().slice(0, 1), ['127.0.0.1'], 'the peer address is staged');
    assert.ok(sys.isNonblocking(server));
    assert.ok(isCloexec(server));
    sys.sockname(server, true);
    const peer = stagedAddress() as [string, number];
    sys.sockname(client, false);
    assert.equal(stagedAddress(), peer);
    assert.is(sys.getsockoptInt(client, SOL_SOCKET, SO_ERROR), 0);
    sys.setsockoptInt(server, IPPROTO_TCP, TCP_NODELAY, 1);
    assert.ok(sys.getsockoptInt(server, IPPROTO_TCP, TCP_NODELAY) !== 0);
    assert.is(sys.writeBytes(client, Buffer.from('ping')), 4);
    sys.shutdown(client, SHUT_WR);
    let got = '';
    for (let i = 0; i < 1000; i++) {
      const n = sys.readToChunk(server);
      if (n === 0) break;
      if (n > 0) got += chunk.view.toString('latin1', 0, n);
    }
    assert.is(got, 'ping');
  } finally {
    for (const fd of [listener, client, server]) if (fd >= 0) closeFd(fd);
  }
});

test('socket failures: refused connect returns the errno; bad binds and options throw', () => {
  const probe = sys.socket(AF_INET, SOCK_STREAM, 0, false);
  sys.bindStaged(probe, stage(AF_INET, ['127.0.0.1', 0]));
  sys.sockname(probe, false);
  const [, port] = stagedAddress() as [string, number];
  const blocking = sys.socket(AF_INET, SOCK_STREAM, 0, false);
  try {
    assert.not.ok(sys.isNonblocking(blocking));
    assert.is(sys.connectStaged(blocking, stage(AF_INET, ['127.0.0.1', port])), E.ECONNREFUSED);
    const other = sys.socket(AF_INET, SOCK_STREAM, 0, false);
    try {
      expectOSError(() => sys.bindStaged(other, stage(AF_INET, ['127.0.0.1', port])), 'EADDRINUSE', 'bind');
      expectOSError(() => sys.listen(-1, 1), 'EBADF', 'listen');
      expectOSError(() => sys.accept(-1), 'EBADF', 'accept');
      expectOSError(() => sys.sockname(-1, true), 'EBADF', 'getpeername');
      expectOSError(() => sys.sockname(other, true), 'ENOTCONN', 'getpeername');
      expectOSError(() => sys.shutdown(other, SHUT_WR), 'ENOTCONN', 'shutdown');
      expectOSError(() => sys.setsockoptInt(-1, SOL_SOCKET, SO_KEEPALIVE, 1), 'EBADF', 'setsockopt');
      expectOSError(() => sys.getsockoptInt(-1, SOL_SOCKET, SO_KEEPALIVE), 'EBADF', 'getsockopt');
      expectOSError(() => sys.setsockoptBytes(other, SOL_SOCKET, SO_KEEPALIVE, new Uint8Array(600)), 'EINVAL');
      expectOSError(() => sys.getsockoptBytes(other, SOL_SOCKET, SO_KEEPALIVE, 600), 'EINVAL');
      expectOSError(() => sys.socket(12345, SOCK_STREAM, 0, false), 'EAFNOSUPPORT', 'socket');
    } finally {
      closeFd(other);
    }
  } finally {
    closeFd(blocking);
    closeFd(probe);
  }
});

test('socket options as raw bytes', () => {
  const fd = sys.socket(AF_INET, SOCK_STREAM, 0, false);
  try {
    const one = Buffer.alloc(4);
    one.writeInt32LE(1, 0);
    sys.setsockoptBytes(fd, SOL_SOCKET, SO_KEEPALIVE, one);
    const raw = sys.getsockoptBytes(fd, SOL_SOCKET, SO_KEEPALIVE, 4);
    assert.is(raw.length, 4);
    assert.is(raw.readInt32LE(0), 1);
    sys.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, 65536);
    assert.ok(sys.getsockoptInt(fd, SOL_SOCKET, SO_RCVBUF) >= 65536);
  } finally {
    closeFd(fd);
  }
});

test('socketpair: connected, nonblocking on request, close-on-exec always', () => {
  const [a, b] = sys.socketpair(AF_UNIX, SOCK_STREAM, true);
  const [x, y] = sys.socketpair(AF_UNIX, SOCK_STREAM, false);
  try {
    assert.ok(sys.isNonblocking(a) && sys.isNonblocking(b));
    assert.not.ok(sys.isNonblocking(x) || sys.isNonblocking(y));
    for (const fd of [a, b, x, y]) assert.ok(isCloexec(fd));
    assert.is(sys.writeBytes(a, Buffer.from('both ways')), 9);
    assert.is(sys.readToChunk(b), 9);
    assert.is(sys.writeBytes(b, Buffer.from('back')), 4);
    assert.is(sys.readToChunk(a), 4);
    assert.is(chunk.view.toString('latin1', 0, 4), 'back');
    sys.sockname(a, true);
    assert.is(stagedAddress(), '', 'an unnamed Unix peer');
    expectOSError(() => sys.socketpair(AF_INET, SOCK_STREAM, false), 'ENOTSUP', 'socketpair');
  } finally {
    for (const fd of [a, b, x, y]) closeFd(fd);
  }
});

// ------------------------------------------------------------ arena and FFI

test('arena: regions are zeroed native memory, viewable at their address', () => {
  const region = allocRegion(64);
  assert.is(region.view.length, 64);
  assert.ok(region.view.every((b) => b === 0));
  region.view.write('gale', 8, 'latin1');
  assert.is(viewAt(region.addr + 8, 4).toString('latin1'), 'gale');
  assert.is(sys.peek(region.addr + 8, 4).toString('latin1'), 'gale');
  assert.is(sys.cString(region.addr + 8), 'gale');
  assert.is(sys.cString(0), '');
  assert.throws(() => sys.peek(region.addr, CHUNK_SIZE + 1), RangeError);
  const before = ffiCounter.calls;
  freeRegion(region);
  assert.is(ffiCounter.calls - before, 1, 'freeRegion is one free(3)');
});

test('send/recv wrappers: staged or zero-copy, EAGAIN and EBADF throw with the syscall name', () => {
  const [a, b] = sys.socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    expectOSError(() => sys.recvToChunk(b, 8, 0), 'EAGAIN', 'recv');
    let before = ffiCounter.calls;
    assert.is(sys.send(a, Buffer.from('small'), 0), 5);
    assert.is(sys.recvToChunk(b, 100, 0), 5);
    assert.is(ffiCounter.calls - before, 2, 'one call each');
    assert.is(chunk.view.toString('latin1', 0, 5), 'small');
    const big = Buffer.alloc(CHUNK_SIZE + 10, 0x61);
    const sent = sys.send(a, big, 0);
    assert.ok(sent > 0);
    const into = Buffer.alloc(CHUNK_SIZE + 10);
    let got = 0;
    before = ffiCounter.calls;
    for (let i = 0; i < 100 && got < sent; i++) got += sys.recvToBuffer(b, into.subarray(got), into.byteLength - got, 0);
    assert.is(got, sent);
    assert.ok(into.subarray(0, got).every((x) => x === 0x61));
  } finally {
    closeFd(a);
    closeFd(b);
  }
  expectOSError(() => sys.send(a, Buffer.from('x'), 0), 'EBADF', 'send');
  expectOSError(() => sys.recvToBuffer(a, Buffer.alloc(1), 1, 0), 'EBADF', 'recv');
});

test('poller wrappers: failures throw the syscall name; uv and gai wrappers answer', () => {
  expectOSError(() => sys.poll(0, 1, 0), 'EFAULT', 'poll');
  if (process.platform === 'linux') {
    // A valid events buffer, so the bad fd is the only fault: qemu-user checks
    // the buffer first (EFAULT for address 0), where Linux checks the fd first.
    expectOSError(() => sys.epollWait(-1, chunk.addr, 1, 0), 'EBADF', 'epoll_wait');
    expectOSError(() => sys.epollCtl(-1, 1, 0, chunk.addr), 'EBADF', 'epoll_ctl');
    sys.epollCtlDel(-1, 0, 0); // EBADF: the fd is already out of the set
    expectOSError(() => sys.epollCreate1(-1), 'EINVAL', 'epoll_create1');
    expectOSError(() => sys.kqueue(), 'ENOSYS', 'kqueue');
    expectOSError(() => sys.keventWait(0, 0, 0, 0), 'ENOSYS', 'kevent');
    expectOSError(() => sys.keventChange(0, 0, 0), 'ENOSYS', 'kevent');
  }
  const loop = sys.uvDefaultLoop();
  assert.ok(loop > 0, 'Node\'s loop has an address');
  assert.is(sys.uvDefaultLoop(), loop);
  assert.type(sys.uvBackendFd(loop), 'number');
  assert.ok(sys.uvBackendTimeout(loop) >= -1);
  assert.ok(sys.gaiStrerror(-2).length > 0 || process.platform !== 'linux');
});

test('ffi: bind counts every call (and those with a Buffer argument); arities 0-6 work; openLibrary is idempotent', () => {
  openLibrary('libc', '');
  const getpid = bind('libc', 'getpid', 'i32', []);
  const before = ffiCounter.calls;
  assert.is(getpid(), process.pid);
  assert.is(ffiCounter.calls - before, 1);
  const region = allocRegion(32);
  try {
    // 3 params (memcpy), 4 (send via socketpair), 5 (getsockopt), 6 (kevent-shaped: not on Linux).
    region.view.write('abc', 0, 'latin1');
    c.memcpy(region.addr + 16, region.addr, 3);
    assert.is(region.view.toString('latin1', 16, 19), 'abc');
    const strlen = bind('libc', 'strlen', 'u64', ['ptr']);
    assert.is(strlen(region.addr + 16), 3);
    const memset = bind('libc', 'memset', 'ptr', ['ptr', 'i32', 'u64']);
    memset(region.addr, 0x7a, 2);
    assert.is(region.view.toString('latin1', 0, 2), 'zz');
    const [a, b] = sys.socketpair(AF_UNIX, SOCK_STREAM, true);
    try {
      assert.is(c.send(a, region.addr, 3, 0), 3);
      assert.is(c.recv(b, region.addr + 8, 3, 0), 3);
      const buf = Buffer.from('buf');
      const bufferCalls = ffiCounter.bufferCalls;
      assert.is(c.sendBuf(a, buf, 3, 0), 3, 'a Buffer argument');
      const out = Buffer.alloc(3);
      assert.is(c.recvBuf(b, out, 3, 0), 3);
      assert.is(ffiCounter.bufferCalls - bufferCalls, 2, 'bufferCalls counts the calls with a Buffer argument');
      assert.is(out.toString(), 'buf');
    } finally {
      closeFd(a);
      closeFd(b);
    }
  } finally {
    freeRegion(region);
  }
  if (process.platform === 'linux') {
    expectOSError(() => c.kqueue(), 'ENOSYS', 'kqueue');
    expectOSError(() => c.kevent(0, 0, 0, 0, 0, 0), 'ENOSYS', 'kevent');
  }
});

test('ffi: the edges of koffi that gale smooths or documents', () => {
  // A null address would abort the process inside koffi.view: refused first.
  assert.throws(() => nativeView(0, 8), (e: unknown) => e instanceof RangeError && /addr/.test((e as Error).message));
  assert.throws(() => nativeView(chunk.addr, -1), RangeError);
  assert.is(nativeView(chunk.addr, 16).byteLength, 16);
  // A missing symbol binds; the call throws (as dlsym would tell only then).
  const missing = bind('libc', 'gale_spec_no_such_function', 'i32', []);
  assert.throws(() => missing(), /Cannot find function/);
  assert.throws(() => bind('no-such-library', 'getpid', 'i32', []), /library 'no-such-library' is not open/);
  // A u64 result beyond 2^53 comes back as a BigInt (memset returns its first argument; n = 0 touches nothing).
  const memsetU64 = bind('libc', 'memset', 'u64', ['u64', 'i32', 'u64']);
  assert.is(memsetU64(2 ** 53 + 2, 0, 0), 2n ** 53n + 2n);
  assert.is(memsetU64(2 ** 40, 0, 0), 2 ** 40, 'below 2^53: a number');
  // A 'buf' argument is the buffer's own memory, at a subarray's offset too.
  const memsetBuf = bind('libc', 'memset', 'ptr', ['buf', 'i32', 'u64']);
  const whole = Buffer.alloc(16);
  memsetBuf(whole.subarray(4, 8), 0x41, 4);
  assert.is(whole.toString('latin1'), '\0\0\0\0AAAA\0\0\0\0\0\0\0\0');
  // errno, read through the view right after each failing call, is that call's.
  assert.is(c.close(-1), -1);
  assert.is(lastErrno(), E.EBADF);
  assert.is(c.fcntl(0, 99999, 0), -1);
  assert.is(lastErrno(), E.EINVAL);
  assert.is(c.read(-1, chunk.addr, 1), -1);
  assert.is(lastErrno(), E.EBADF);
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
