/**
 * Completion streams on a ring (`uring.streams: 'reads'`, ring sends where a test says so): the completion
 * socket under the poller (multishot RECV into provided buffers, readiness
 * emulated from its state), and IOStream on top of it. Buffer-ring
 * exhaustion (ENOBUFS) and recovery, cancel on close with data in flight,
 * fd reuse, thousands of sockets, 64 MiB through bounded memory, flow
 * control, zero read(2) calls for data the ring received, no fd leaks.
 */
import { test } from 'uvu';
import { readFileSync, readlinkSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { URingPoller } from '../reactor/uring/poller.js';
import { HIGH_WATER, type CompletionSocket, type CompletionStats } from '../reactor/uring/socket-transport.js';
import { MIN_SEND_SHARE } from '../reactor/uring/send-memory.js';
import { chunk } from '../reactor/sys/arena.js';
import { READ, WRITE, ERROR } from '../reactor/poller.js';
import { IOLoop } from '../reactor/ioloop.js';
import { resolveURing } from '../reactor/loop-options.js';
import { addressOf, ffiCounter } from '../reactor/sys/ffi.js';
import { accept as acceptFd, close as closeFd, readToChunk, shutdown, socketpair, writeBytes } from '../reactor/sys/libc.js';
import { errno as E } from '../reactor/sys/errors.js';
import { AF_INET, AF_UNIX, SOCK_NONBLOCK, SOCK_STREAM } from '../reactor/sys/constants.js';
import { Socket } from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';
import { fdLeakCheck, openFds } from './helpers.js';
import { pattern, withAttachedSocket } from './uring-socket.js';
import { tcpSockets, unixPair } from './stream-helpers.js';

const checkFds = fdLeakCheck();

/** Polls until `socket` is reported, at most `rounds` times; returns its events (0: never). */
function pollFor(poller: URingPoller, socket: CompletionSocket, rounds = 50): number {
  for (let i = 0; i < rounds; i++) {
    const n = poller.poll(100);
    for (let j = 0; j < n; j++) if (poller.readyFds[j] === socket.fd) return poller.readyEvents[j]!;
  }
  return 0;
}

/** Reads everything the socket has received, polling until `length` bytes came (bounded). */
function receive(poller: URingPoller, socket: CompletionSocket, length: number): Buffer {
  const parts: Buffer[] = [];
  let got = 0;
  for (let round = 0; round < 2000 && got < length; round++) {
    poller.poll(50);
    for (;;) {
      const data = socket.read(1 << 20);
      if (data === null || data.length === 0) break;
      parts.push(data);
      got += data.length;
    }
  }
  return Buffer.concat(parts);
}

/** Everything `fd` (a plain nonblocking peer) has to read now. */
function drainFd(fd: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let n = readToChunk(fd, 65536); n > 0; n = readToChunk(fd, 65536)) parts.push(Buffer.from(chunk.view.subarray(0, n)));
  return parts;
}

/** Reads `fd` (a plain peer) while polling, until `length` bytes came (bounded). */
function receiveFd(poller: URingPoller, fd: number, length: number): Buffer {
  const parts: Buffer[] = [];
  let got = 0;
  for (let round = 0; round < 2000 && got < length; round++) {
    poller.poll(10);
    for (const part of drainFd(fd)) {
      parts.push(part);
      got += part.length;
    }
  }
  return Buffer.concat(parts);
}

test('a poller with completion sockets unmaps its buffer ring and unregisters its buffers once closed', () => {
  // Whether any mapping contains `addr` (a count of all mappings moves with V8's heap).
  const mapped = (addr: number) => readFileSync('/proc/self/maps', 'utf8').split('\n').some((line) => {
    const [from, to] = line.split(' ', 1)[0]!.split('-').map((h) => parseInt(h, 16));
    return from !== undefined && to !== undefined && addr >= from && addr < to;
  });
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  let ringAddr = 0;
  let buffers: { ringAddr: number; buffers: Buffer[]; registered: boolean } | null = null;
  try {
    poller.attach(a)!;
    poller.register(a, READ);
    poller.poll(0);
    buffers = poller.providedBuffers() as unknown as { ringAddr: number; buffers: Buffer[]; registered: boolean };
    ({ ringAddr } = buffers);
    assert.ok(mapped(ringAddr), 'buffer ring mapped');
    assert.is(buffers.buffers.length, 64, 'a JS buffer under every bid');
  } finally {
    poller.close();
    closeFd(a);
    closeFd(b);
  }
  assert.not.ok(mapped(ringAddr), 'buffer ring unmapped');
  // The buffers are JS memory: dropped only after the group was unregistered (no kernel write can follow).
  assert.not.ok(buffers!.registered, 'buffer group unregistered before the close');
  assert.is(buffers!.buffers.length, 0, 'buffers dropped');
});

test('copies per chunk: a 64 KiB chunk is handed over in its provided buffer (no copy), echoed from it with no copy (a direct SEND: one enter); a small one is copied', () => {
  withAttachedSocket({}, (poller, socket, b) => {
    assert.is(poller.poll(0), 0);
    const buffers = poller.providedBuffers()!;
    const stats = poller.completionStats;
    const first = pattern(64 * 1024, 3);
    assert.is(writeBytes(b, first), first.length);
    assert.is(pollFor(poller, socket), READ);
    const chunk1 = socket.read(1 << 20)!; // the Buffer the stream would get, not a copy of it
    assert.ok(chunk1.equals(first));
    assert.is(buffers.handedOverBytes, first.length, 'the chunk came in the buffer it arrived in');
    assert.is(buffers.copiedBytes, 0, 'no copy on the way in');
    // The kernel never writes into a handed-over buffer: cycle every bid, twice.
    for (let i = 0; i < 2 * buffers.entries; i++) {
      const more = pattern(64 * 1024, 100 + i);
      assert.is(writeBytes(b, more), more.length);
      assert.ok(receive(poller, socket, more.length).equals(more));
    }
    assert.ok(chunk1.equals(first), 'a held chunk is intact after every buffer was filled again');
    // A small chunk is copied (it must not pin a 64 KiB buffer).
    const small = Buffer.from('a short line\n');
    assert.is(writeBytes(b, small), small.length);
    assert.ok(receive(poller, socket, small.length).equals(small));
    assert.is(buffers.copiedBytes, small.length);
    // Echoing a chunk: no copy, sent from its provided buffer inside send() (one FFI call: the enter).
    const copiedBefore = stats.sendCopiedBytes;
    const directBefore = stats.sendDirectBytes;
    const callsBefore = ffiCounter.calls;
    assert.is(socket.send([chunk1], 0, 0), chunk1.length, 'taken at once, as before');
    assert.is(ffiCounter.calls - callsBefore, 1, 'one enter');
    assert.is(stats.sendCopiedBytes - copiedBefore, 0, 'no copy per echoed byte');
    assert.is(stats.sendDirectBytes - directBefore, chunk1.length);
    assert.not.ok(socket.sends.busy(), 'sent in full: nothing queued or in flight');
    chunk1.fill(0); // the caller may reuse its Buffer once the write is taken
    assert.ok(receiveFd(poller, b, first.length).equals(first), 'the echo arrived intact');
  });
});

/** A 64 KiB chunk handed over by `socket`'s ring (written by peer `b`, received on the ring). */
function handedOver(poller: URingPoller, socket: CompletionSocket, b: number, seed: number): Buffer {
  const data = pattern(64 * 1024, seed);
  assert.is(writeBytes(b, data), data.length);
  assert.is(pollFor(poller, socket) & READ, READ);
  const got = socket.read(1 << 20)!; // the Buffer a stream would get
  assert.ok(got.equals(data));
  assert.ok(poller.providedBuffers()!.owns(got), 'a view of a provided buffer');
  return got;
}

/** Writes filler on `fd` until its socket buffer is full; returns what was written. */
function fillSocket(fd: number, seed: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < 10000; i++) {
    const part = pattern(4096, seed + i);
    const n = writeBytes(fd, part);
    if (n > 0) parts.push(part.subarray(0, n));
    if (n < part.length) break;
  }
  return Buffer.concat(parts);
}

test('direct SENDs: a full peer (the SEND fails EAGAIN or short) gets the chunk copied into a slot inside send(), then every byte once, in order; a chunk behind it is copied', () => {
  withAttachedSocket({}, (poller, socket, b) => {
    assert.is(poller.poll(0), 0);
    const stats = poller.completionStats;
    const first = handedOver(poller, socket, b, 1);
    const second = handedOver(poller, socket, b, 2);
    const expected = [fillSocket(socket.fd, 50)];
    const copiedBefore = stats.sendCopiedBytes;
    const directBefore = stats.sendDirectBytes;
    const retriesBefore = stats.quietRetries;
    assert.is(socket.send([first], 0, 0), first.length, 'taken (into the send buffer) all the same');
    assert.is(stats.sendCopiedBytes - copiedBefore, first.length, 'copied into a slot: the SEND could not take it');
    assert.is(stats.sendDirectBytes - directBefore, 0);
    expected.push(Buffer.from(first));
    first.fill(0); // the caller reuses its Buffer: the kernel must not read it any more
    // The queue is busy now: the next chunk is queued behind, copied.
    assert.is(socket.send([second], 0, 0), second.length);
    assert.is(stats.sendCopiedBytes - copiedBefore, first.length + second.length);
    expected.push(Buffer.from(second));
    second.fill(0);
    const all = Buffer.concat(expected);
    assert.ok(receiveFd(poller, b, all.length).equals(all), 'every byte once, in order');
    assert.is(stats.quietRetries - retriesBefore, 1, 'the failed SEND was resent as an ordinary one');
    for (let i = 0; i < 100 && socket.sends.busy(); i++) poller.poll(10);
    assert.not.ok(socket.sends.busy());
    // Drained: the next chunk goes direct again.
    const third = handedOver(poller, socket, b, 3);
    assert.is(socket.send([third], 0, 0), third.length);
    assert.is(stats.sendDirectBytes - directBefore, third.length);
    assert.ok(receiveFd(poller, b, third.length).equals(pattern(64 * 1024, 3)));
  });
});

test('direct SENDs: only for one part of 32-64 KiB (a chunk this ring handed over, or a Buffer of the caller\'s own); off (`directSends: false`) every write is copied', () => {
  for (const directSends of [true, false]) {
    const poller = new URingPoller({ directSends });
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
    try {
      const socket = poller.attach(a, true)!;
      poller.register(a, READ);
      assert.is(poller.poll(0), 0);
      const stats = poller.completionStats;
      const chunk1 = handedOver(poller, socket, b, 9);
      const own = pattern(64 * 1024, 9); // the same bytes in a Buffer of the caller's
      // Writes `parts`, reads them at the peer; returns the bytes copied into slots.
      const copied = (parts: Buffer[], offset = 0) => {
        const before = stats.sendCopiedBytes;
        const expected = Buffer.concat(parts).subarray(offset);
        assert.is(socket.send(parts, 0, offset), expected.length);
        assert.ok(receiveFd(poller, b, expected.length).equals(expected), 'every byte once, in order');
        for (let i = 0; i < 100 && socket.sends.busy(); i++) poller.poll(10);
        assert.not.ok(socket.sends.busy());
        return stats.sendCopiedBytes - before;
      };
      assert.is(copied([own]), directSends ? 0 : own.length, "the caller's own Buffer: sent from where it is");
      own.fill(0); // the caller may reuse it: the write was taken
      assert.is(copied([chunk1.subarray(0, 1000)]), 1000, 'a small part: copied');
      assert.is(copied([chunk1, own]), 2 * own.length, 'a gather: copied');
      assert.is(copied([chunk1], 4096), directSends ? 0 : chunk1.length - 4096, 'the rest of a handed-over chunk from an offset');
      assert.is(stats.sendDirectBytes, directSends ? own.length + chunk1.length - 4096 : 0);
      socket.detach();
    } finally {
      poller.close();
      closeFd(a);
      closeFd(b);
    }
  }
});

test('direct SENDs follow the loop option `uring.directSends` (and its variable) unless the poller is told otherwise', () => {
  const made = (config: Parameters<typeof resolveURing>[0], env: Record<string, string>, own?: boolean) => {
    const poller = new URingPoller({ uring: resolveURing(config, env), directSends: own });
    try {
      return poller.directSends;
    } finally {
      poller.close();
    }
  };
  assert.is(made({}, {}), true);
  assert.is(made({ directSends: false }, {}), false);
  assert.is(made({}, { GALE_URING_DIRECT_SENDS: '0' }), false);
  assert.is(made({ directSends: true }, { GALE_URING_DIRECT_SENDS: '0' }), true, 'the option wins over the variable');
  assert.is(made({ directSends: false }, {}, true), true, "the poller's own option wins");
});

test('ring sends reuse their records: one send entry serves every round trip, and a write keeps no reference to what it wrote', () => {
  withAttachedSocket({}, (poller, socket, b) => {
    // White-box: the queue's records and the socket's one-part list for `send`.
    const internals = socket as unknown as {
      sends: { busy(): boolean; entries: { length: number; at(i: number): object } };
      onePart: Uint8Array[];
    };
    const sends = internals.sends;
    const records = new Set<object>();
    for (let i = 0; i < 200; i++) {
      const line = Buffer.from(`line ${i}\n`);
      assert.is(socket.write(line), line.length);
      assert.is(sends.entries.length, 1);
      records.add(sends.entries.at(0));
      assert.equal(internals.onePart.map((part) => part.length), [0], 'the written Buffer is not held');
      assert.ok(receiveFd(poller, b, line.length).equals(line));
      for (let round = 0; round < 100 && sends.busy(); round++) poller.poll(10);
      assert.not.ok(sends.busy(), 'the SEND completed');
    }
    assert.is(records.size, 1, 'every write reused the record the first one made');
  });
});

test('a completion socket receives through the ring: READ while bytes wait, quiet once read', () => {
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    const socket = poller.attach(a)!;
    assert.ok(socket, 'attached');
    poller.register(a, READ | ERROR);
    assert.is(poller.poll(0), 0);
    // Regression: a connected socket watched for READ only must not arm a
    // POLLOUT (it completed on every enter and turned blocking waits into spins).
    assert.not.ok(socket.pollOutOp.armed);
    const enters = poller.ringStats().enters;
    assert.is(poller.poll(20), 0, 'an idle socket lets the poll block');
    assert.is(poller.ringStats().enters, enters + 1);
    writeBytes(b, Buffer.from('hello'));
    assert.is(pollFor(poller, socket), READ);
    assert.is(socket.buffered, 5, 'the RECV already put the bytes here');
    assert.is(pollFor(poller, socket, 1), READ, 'level-triggered: reported again while unread');
    const before = ffiCounter.calls;
    assert.is(socket.read(1024)!.toString(), 'hello');
    assert.is(ffiCounter.calls, before, 'no syscall to read what the ring received');
    assert.is(poller.poll(0), 0);
    poller.unregister(a);
    socket.detach();
  } finally {
    poller.close();
    closeFd(a);
    closeFd(b);
  }
});

/** The provided-buffer ring's inside, as the specs below read it. */
interface BufferRingInside {
  entries: number;
  target: number;
  inRing: number;
  allocations: number;
  tail: number;
  mask: number;
  ringWords: Uint32Array;
  spare: number[];
  buffers: Buffer[];
  registered: boolean;
  recycled: number;
  owns(bytes: Uint8Array): boolean;
}

/** The addresses the ring offers the kernel now (every CQE harvested: the last `inRing` entries put). */
function offered(ring: BufferRingInside): number[] {
  const out: number[] = [];
  for (let k = 1; k <= ring.inRing; k++) {
    const entry = ((ring.tail - k) & ring.mask) * 4;
    out.push(ring.ringWords[entry]! + ring.ringWords[entry + 1]! * 2 ** 32);
  }
  return out;
}

test('bulk hand-over: the ring keeps 8 fresh buffers, not 64; a handed-over buffer never goes back to the kernel while its chunk is held; one allocation per replaced buffer', () => {
  withAttachedSocket({}, (poller, socket, b) => {
    assert.is(poller.poll(0), 0);
    const ring = poller.providedBuffers() as unknown as BufferRingInside;
    assert.is(ring.entries, 64);
    assert.is(ring.allocations, 64, 'a buffer per bid at first');
    assert.is(ring.inRing, 64);
    assert.is(ring.target, 8);
    const held: Array<{ data: Buffer; seed: number; addr: number }> = [];
    let handOvers = 0;
    for (let i = 0; i < 3 * ring.entries; i++) {
      const sent = pattern(64 * 1024, i);
      assert.is(writeBytes(b, sent), sent.length);
      let got = 0;
      for (let round = 0; round < 200 && got < sent.length; round++) {
        poller.poll(20);
        for (let data = socket.read(1 << 20); data !== null && data.length > 0; data = socket.read(1 << 20)) {
          if (ring.owns(data)) {
            const addr = addressOf(data);
            handOvers++;
            held.push({ data, seed: i, addr });
          }
          got += data.length;
        }
      }
      assert.is(got, sent.length);
      // Every CQE is harvested: the kernel may fill only what the ring offers, and none of it is held.
      const offers = new Set(offered(ring));
      for (const chunk of held) assert.not.ok(offers.has(chunk.addr), 'a held chunk is not offered to the kernel');
      assert.ok(ring.inRing >= ring.target, `never below the target (${ring.inRing})`);
    }
    assert.ok(handOvers >= 2 * ring.entries, `the 64 KiB chunks were handed over (${handOvers})`);
    // The first 56 hand-overs left their bid empty; every one after got a fresh buffer.
    assert.is(ring.allocations, ring.entries + handOvers - (ring.entries - ring.target));
    assert.is(ring.inRing, ring.target);
    assert.is(ring.spare.length, ring.entries - ring.target);
    assert.is(ring.recycled, 0, 'read() hands chunks to user code: none is recycled');
    assert.is(poller.completionStats.enobufs, 0, 'one stream at a time never ran the ring dry');
    for (const chunk of held) {
      const whole = pattern(64 * 1024, chunk.seed);
      assert.ok(whole.subarray(0, chunk.data.length).equals(chunk.data) || whole.subarray(whole.length - chunk.data.length).equals(chunk.data),
        'every held chunk intact after the kernel filled buffer after buffer');
    }
  });
});

test('readInto recycles: a handed-over buffer read out by readInto goes back into the ring (no fresh buffer); one read by read() is held and never offered to the kernel again', () => {
  withAttachedSocket({}, (poller, socket, b) => {
    assert.is(poller.poll(0), 0);
    const ring = poller.providedBuffers() as unknown as BufferRingInside;
    assert.is(ring.allocations, 64);
    const target = Buffer.alloc(64 * 1024);
    const held: Array<{ data: Buffer; addr: number }> = [];
    for (let i = 0; i < 3 * ring.entries; i++) {
      const sent = pattern(64 * 1024, i);
      assert.is(writeBytes(b, sent), sent.length);
      const viaRead = i % 4 === 0; // every fourth chunk as a readBytes stream would take it
      let got = 0;
      for (let round = 0; round < 200 && got < sent.length; round++) {
        poller.poll(20);
        for (;;) {
          if (viaRead) {
            const data = socket.read(1 << 20);
            if (data === null || data.length === 0) break;
            if (ring.owns(data)) held.push({ data, addr: addressOf(data) });
            assert.ok(data.equals(sent.subarray(got, got + data.length)));
            got += data.length;
          } else {
            const n = socket.readInto(target);
            if (n <= 0) break;
            assert.ok(target.subarray(0, n).equals(sent.subarray(got, got + n)), 'readInto: every byte in order');
            got += n;
          }
        }
      }
      assert.is(got, sent.length);
      const offers = new Set(offered(ring));
      for (const chunk of held) assert.not.ok(offers.has(chunk.addr), 'a held chunk is not offered to the kernel');
    }
    assert.is(held.length >= ring.entries * 3 / 4 - 8 && held.length <= ring.entries - ring.target, true, `held ${held.length}`);
    assert.ok(ring.recycled >= 2 * ring.entries, `chunks read out by readInto went back (${ring.recycled})`);
    assert.is(ring.allocations, ring.entries, 'no fresh buffer: what readInto emptied was reused');
    assert.is(ring.inRing + held.length, ring.entries, 'every bid but the held ones is in the ring');
    for (const [k, chunk] of held.entries()) assert.ok(chunk.data.equals(pattern(64 * 1024, 4 * k).subarray(0, chunk.data.length)), 'held chunks intact');
  });
});

test('readInto recycles only a chunk it read out whole: after read() took the first part of a chunk, readInto of the rest leaves its buffer out of the ring', () => {
  withAttachedSocket({}, (poller, socket, b) => {
    assert.is(poller.poll(0), 0);
    const ring = poller.providedBuffers() as unknown as BufferRingInside;
    const target = Buffer.alloc(64 * 1024);
    const held: Array<{ data: Buffer; addr: number; seed: number }> = [];
    for (let i = 0; i < 16; i++) {
      const sent = pattern(64 * 1024, 100 + i);
      assert.is(writeBytes(b, sent), sent.length);
      let got = 0;
      for (let round = 0; round < 200 && got < sent.length; round++) {
        poller.poll(20);
        // The first 1000 bytes of what is there as a stream with a small readChunkSize takes them, the rest by readInto.
        if (got === 0) {
          const first = socket.read(1000);
          if (first === null || first.length === 0) continue;
          if (ring.owns(first)) held.push({ data: first, addr: addressOf(first), seed: 100 + i });
          assert.ok(first.equals(sent.subarray(0, first.length)));
          got += first.length;
        }
        for (let n = socket.readInto(target); n > 0; n = socket.readInto(target)) {
          assert.ok(target.subarray(0, n).equals(sent.subarray(got, got + n)), 'readInto: every byte in order');
          got += n;
        }
      }
      assert.is(got, sent.length);
      const offers = new Set(offered(ring));
      for (const part of held) assert.not.ok(offers.has(part.addr), 'memory user code holds is not offered to the kernel');
    }
    assert.ok(held.length > 0, 'first parts were views of provided buffers');
    for (const part of held) assert.ok(part.data.equals(pattern(64 * 1024, part.seed).subarray(0, part.data.length)), 'held parts intact');
  });
});

test('bulk hand-over: a RECV that finds the ring dry (ENOBUFS) doubles the fresh buffers kept in it and refills it at once; every byte arrives in order; closing drops every buffer', () => {
  let inside: BufferRingInside | null = null;
  withAttachedSocket({ bufferCount: 32, bufferSize: 4096 }, (poller, socket, b) => {
    assert.is(poller.poll(0), 0);
    const ring = poller.providedBuffers() as unknown as BufferRingInside;
    inside = ring;
    assert.is(ring.target, 8);
    // One 4 KiB chunk at a time: handed over, its bid left empty until 8 are left.
    const parts: Buffer[] = [];
    for (let i = 0; i < 24; i++) {
      const sent = pattern(4096, i);
      assert.is(writeBytes(b, sent), sent.length);
      parts.push(sent);
      const got = receive(poller, socket, sent.length);
      assert.ok(got.equals(sent));
    }
    assert.is(ring.inRing, 8);
    assert.is(ring.allocations, 32, 'no buffer replaced on the way down');
    assert.is(poller.completionStats.enobufs, 0);
    // 80 KiB waiting at once: the RECV fills the 8 buffers and ends ENOBUFS.
    const burst = pattern(80 * 1024, 99);
    assert.is(writeBytes(b, burst), burst.length);
    const got = receive(poller, socket, burst.length);
    assert.ok(got.equals(burst), 'same bytes, same order');
    assert.ok(poller.completionStats.enobufs >= 1, JSON.stringify(poller.completionStats));
    assert.ok(ring.target >= 16, `the target doubled (${ring.target})`);
    assert.ok(ring.inRing >= ring.target && ring.inRing <= ring.entries, `refilled (${ring.inRing})`);
  });
  const ring = inside as BufferRingInside | null;
  assert.ok(ring !== null);
  assert.not.ok(ring.registered, 'the buffer group unregistered');
  assert.is(ring.buffers.length, 0, 'every buffer dropped');
  assert.is(ring.spare.length, 0);
  assert.is(ring.inRing, 0);
});

test('ENOBUFS: a buffer ring too small for the data ends the RECV; it is re-armed and every byte arrives in order', () => {
  const poller = new URingPoller({ bufferCount: 2, bufferSize: 1024 });
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    const socket = poller.attach(a)!;
    poller.register(a, READ);
    assert.is(poller.poll(0), 0);
    const sent = pattern(48 * 1024, 7);
    let off = 0;
    while (off < sent.length) {
      const n = writeBytes(b, sent.subarray(off, off + 8192));
      if (n < 0) break;
      off += n;
    }
    assert.is(off, sent.length, 'the kernel took it all');
    const got = receive(poller, socket, sent.length);
    assert.is(got.length, sent.length);
    assert.ok(got.equals(sent), 'same bytes, same order');
    assert.ok(poller.completionStats.enobufs >= 1, JSON.stringify(poller.completionStats));
    socket.detach();
  } finally {
    poller.close();
    closeFd(a);
    closeFd(b);
  }
});

test('close with data in flight: the RECV is cancelled first, the peer sees EOF at once, the id is freed', () => {
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    const socket = poller.attach(a)!;
    poller.register(a, READ);
    assert.is(poller.poll(0), 0);
    writeBytes(b, Buffer.alloc(10000, 1));
    assert.is(pollFor(poller, socket), READ); // received, unread
    poller.unregister(a);
    socket.detach();
    closeFd(a);
    assert.is(readToChunk(b), 0, 'EOF, not EAGAIN: nothing holds the socket open');
    poller.poll(0); // the cancel's CQE
    assert.is(poller.socketCount(), 0);
  } finally {
    poller.close();
    closeFd(b);
  }
});

test('fd reuse: a new socket on a closed socket\'s fd number never sees the old one\'s completions', () => {
  const poller = new URingPoller();
  const [a1, b1] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    const first = poller.attach(a1)!;
    poller.register(a1, READ);
    assert.is(poller.poll(0), 0);
    writeBytes(b1, Buffer.from('old'));
    first.detach(); // cancelled before the data's CQE was read
    closeFd(a1);
    closeFd(b1);
    const [a2, b2] = socketpair(AF_UNIX, SOCK_STREAM, true);
    try {
      assert.is(a2, a1, 'the fd number is reused');
      const second = poller.attach(a2)!;
      assert.is.not(second, first);
      poller.register(a2, READ);
      writeBytes(b2, Buffer.from('new'));
      assert.is(receive(poller, second, 3).toString(), 'new');
      second.detach();
    } finally {
      closeFd(a2);
      closeFd(b2);
    }
    poller.poll(0);
    assert.is(poller.socketCount(), 0);
  } finally {
    poller.close();
  }
});

test('flow control: while READ is not watched the RECV stops near HIGH_WATER and the kernel pushes back', () => {
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    const socket = poller.attach(a)!;
    poller.register(a, READ);
    assert.is(poller.poll(0), 0);
    poller.modify(a, ERROR); // nobody reads now
    const block = Buffer.alloc(64 * 1024, 2);
    let written = 0;
    for (let round = 0; round < 400; round++) {
      const n = writeBytes(b, block);
      if (n > 0) written += n;
      poller.poll(0);
      if (n < 0 && !socket.recvOp.armed) break;
    }
    assert.not.ok(socket.recvOp.armed, 'the RECV was cancelled');
    assert.ok(socket.buffered >= HIGH_WATER, `buffered ${socket.buffered}`);
    assert.ok(socket.buffered < HIGH_WATER + 8 * 1024 * 1024, `buffered ${socket.buffered}`);
    assert.ok(written > socket.buffered, 'the rest waits in the kernel');
    poller.modify(a, READ); // reading again re-arms it
    let total = 0;
    for (let round = 0; round < 400 && total < written; round++) {
      poller.poll(50);
      for (let data = socket.read(1 << 20); data !== null && data.length > 0; data = socket.read(1 << 20)) total += data.length;
    }
    assert.is(total, written);
    socket.detach();
  } finally {
    poller.close();
    closeFd(a);
    closeFd(b);
  }
});

/** Reads what `socket` received until the end of file (bounded): the bytes. */
function readToEof(poller: URingPoller, socket: CompletionSocket): number {
  let got = 0;
  for (let round = 0; round < 100; round++) {
    poller.poll(20);
    for (let data = socket.read(1 << 20); data !== null; data = socket.read(1 << 20)) {
      if (data.length === 0) return got;
      got += data.length;
    }
  }
  throw new Error('no end of file');
}

test('a hang-up after an end of file (a Unix peer half-closes, then closes) is reported: the hang-up poll', () => {
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  let bOpen = true;
  try {
    const socket = poller.attach(a)!;
    poller.register(a, READ);
    writeBytes(b, Buffer.from('x'));
    shutdown(b, 1); // SHUT_WR: an end of file, not a hang-up
    assert.is(readToEof(poller, socket), 1);
    poller.poll(0);
    assert.ok(socket.hangupOp.armed, 'the hang-up poll is armed after an end of file that was not one');
    assert.is(pollFor(poller, socket, 1) & ERROR, 0, 'a half-close is no hang-up');
    closeFd(b);
    bOpen = false;
    assert.is(pollFor(poller, socket) & ERROR, ERROR, 'the peer\'s close is');
    poller.poll(0); // the poll, no longer wanted, is removed
    poller.poll(0);
    assert.not.ok(socket.hangupOp.armed, 'and removed once the hang-up is known');
    socket.detach();
  } finally {
    poller.close();
    closeFd(a);
    if (bOpen) closeFd(b);
  }
});

test('TCP: a FIN, then this side\'s own shutdown(SHUT_WR), is a hang-up (the hang-up poll)', () => {
  const poller = new URingPoller();
  const [s1, s2] = tcpSockets();
  try {
    const socket = poller.attach(s1.fileno())!;
    poller.register(s1.fileno(), READ);
    s2.send(Buffer.from('x'));
    s2.close(); // a FIN: readable, no hang-up
    assert.is(readToEof(poller, socket), 1);
    assert.is(pollFor(poller, socket, 1) & ERROR, 0, 'a FIN alone is no hang-up');
    assert.ok(socket.hangupOp.armed);
    s1.shutdown(1); // SHUT_WR: both directions shut now
    assert.is(pollFor(poller, socket) & ERROR, ERROR);
    socket.detach();
  } finally {
    poller.close();
    s1.close();
    s2.close();
  }
});

test('flow control: a peer\'s close while the RECV is paused at HIGH_WATER is reported (the hang-up poll)', () => {
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  let bOpen = true;
  try {
    const socket = poller.attach(a)!;
    poller.register(a, READ);
    assert.is(poller.poll(0), 0); // the RECV is armed
    poller.modify(a, ERROR); // nobody reads now
    const block = Buffer.alloc(64 * 1024, 3);
    for (let round = 0; round < 400; round++) {
      const n = writeBytes(b, block);
      poller.poll(0);
      if (n < 0 && !socket.recvOp.armed) break;
    }
    assert.not.ok(socket.recvOp.armed, 'the RECV was paused');
    poller.poll(0);
    assert.ok(socket.hangupOp.armed, 'the hang-up poll stands in for it');
    assert.is(pollFor(poller, socket, 1), 0, 'nothing to report yet');
    closeFd(b);
    bOpen = false;
    assert.is(pollFor(poller, socket) & ERROR, ERROR, 'the close is reported with the data still unread');
    assert.ok(socket.buffered >= HIGH_WATER);
    socket.detach();
  } finally {
    poller.close();
    closeFd(a);
    if (bOpen) closeFd(b);
  }
});

test('many sockets: thousands attached at once, each receives its own bytes', () => {
  const count = 3000; // 6000 fds; RLIMIT_NOFILE here is 20000
  const poller = new URingPoller();
  const pairs: Array<[number, number]> = [];
  const sockets: CompletionSocket[] = [];
  try {
    for (let i = 0; i < count; i++) pairs.push(socketpair(AF_UNIX, SOCK_STREAM, true));
    for (const [a] of pairs) {
      sockets.push(poller.attach(a)!);
      poller.register(a, READ);
    }
    assert.is(poller.poll(0), 0);
    pairs.forEach(([, b], i) => writeBytes(b, Buffer.from(`#${i}`)));
    let done = 0;
    const seen = new Set<number>();
    for (let round = 0; round < 200 && done < count; round++) {
      const n = poller.poll(100);
      for (let j = 0; j < n; j++) {
        const fd = poller.readyFds[j]!;
        const index = pairs.findIndex(([a]) => a === fd);
        const data = sockets[index]!.read(64);
        if (data === null) continue;
        assert.is(data.toString(), `#${index}`);
        if (!seen.has(fd)) { seen.add(fd); done++; }
      }
    }
    assert.is(done, count);
    for (const socket of sockets) socket.detach();
    poller.poll(0);
    assert.is(poller.socketCount(), 0);
  } finally {
    poller.close();
    for (const [a, b] of pairs) { closeFd(a); closeFd(b); }
  }
});

test('10,000 TCP connections from another process, each read through the ring', async () => {
  // Both ends in this process would need 20,000 fds; RLIMIT_NOFILE here is
  // 20,000, so a child process holds the client ends.
  const count = 10_000;
  const listener = new Socket(AF_INET, SOCK_STREAM);
  listener.bind(['127.0.0.1', 0]);
  listener.listen(4096);
  listener.setBlocking(false);
  const port = (listener.getsockname() as [string, number])[1];
  const child = spawn(process.execPath, ['-e', `
    const net = require('node:net');
    const sockets = [];
    let open = 0;
    function batch(start) {
      if (start >= ${count}) return;
      let pending = Math.min(250, ${count} - start);
      for (let i = 0; i < Math.min(250, ${count} - start); i++) {
        const s = net.connect(${port}, '127.0.0.1', () => { s.write('x'); open++; if (--pending === 0) batch(start + 250); });
        s.on('error', (e) => { console.error(e.message); process.exit(2); });
        sockets.push(s);
      }
    }
    batch(0);
    process.stdin.on('data', () => process.exit(0));
  `], { stdio: ['pipe', 'inherit', 'inherit'] });
  const poller = new URingPoller();
  const accepted: number[] = [];
  const byFd = new Map<number, CompletionSocket>();
  let received = 0;
  try {
    const deadline = Date.now() + 60_000;
    while ((accepted.length < count || received < count) && Date.now() < deadline) {
      for (let fd = acceptFd(listener.fileno()); fd >= 0; fd = acceptFd(listener.fileno())) {
        accepted.push(fd);
        byFd.set(fd, poller.attach(fd)!);
        poller.register(fd, READ);
      }
      const n = poller.poll(accepted.length < count ? 5 : 100);
      for (let i = 0; i < n; i++) {
        const socket = byFd.get(poller.readyFds[i]!)!;
        const data = socket.read(16);
        if (data !== null) received += data.length;
      }
      await new Promise((resolve) => setImmediate(resolve)); // let the child's pipe and exits be seen
    }
    assert.is(accepted.length, count, 'every connection accepted');
    assert.is(received, count, 'one byte from each, through the ring');
    for (const fd of accepted) {
      byFd.get(fd)!.detach();
      closeFd(fd);
    }
    poller.poll(0);
    assert.is(poller.socketCount(), 0);
  } finally {
    child.stdin!.write('done');
    await new Promise((resolve) => child.once('exit', resolve));
    poller.close();
    listener.close();
  }
});

test('IOStream on a uring loop reads through the ring: 64 MiB over TCP with bounded buffering', async () => {
  const loop = new IOLoop({ poller: 'uring', uring: { streams: 'reads' }, makeCurrent: false });
  const [s1, s2] = tcpSockets();
  const writer = new IOStream(s1, { ioLoop: loop });
  const reader = new IOStream(s2, { ioLoop: loop });
  try {
    const completion = transportOf(reader);
    assert.is(completion.mode, 'completion', 'the reader has a completion transport');
    const total = 64 * 1024 * 1024;
    const piece = pattern(1024 * 1024, 3);
    let maxHeld = 0;
    let received = 0;
    let mismatch = -1;
    await loop.runSync(async () => {
      const send = (async () => {
        for (let sent = 0; sent < total; sent += piece.length) await writer.write(piece);
      })();
      while (received < total) {
        const data = await reader.readBytes(256 * 1024, { partial: true })!;
        maxHeld = Math.max(maxHeld, completion.buffered + data.length);
        for (let i = 0; i < data.length && mismatch < 0; i += 4099) {
          if (data[i] !== piece[(received + i) % piece.length]) mismatch = received + i;
        }
        received += data.length;
      }
      await send;
    }, 120);
    assert.is(received, total);
    assert.is(mismatch, -1, 'bytes in order');
    // One enter can fill at most the provided buffers (4 MiB) beyond what was read.
    assert.ok(maxHeld <= 8 * 1024 * 1024, `held ${maxHeld} bytes at once`);
  } finally {
    writer.close();
    reader.close();
    loop.close();
  }
});

test('an echo over a uring loop: requests are read with no read(2) call, one enter per iteration', async () => {
  const loop = new IOLoop({ poller: 'uring', uring: { streams: 'reads' }, makeCurrent: false, nodeInterop: false });
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  const server = new IOStream(new Socket(AF_UNIX, SOCK_STREAM, 0, a), { ioLoop: loop });
  const client = new IOStream(new Socket(AF_UNIX, SOCK_STREAM, 0, b), { ioLoop: loop });
  try {
    let iterations = 0;
    let calls = 0;
    await loop.runSync(async () => {
      const echo = (async () => {
        for (;;) {
          const line = await server.readUntil('\n')!;
          await server.write(line);
          if (line.toString() === 'bye\n') return;
        }
      })();
      await client.write('warm-up\n');
      await client.readUntil('\n');
      const it0 = loop.stats().iterations;
      const calls0 = ffiCounter.calls;
      for (let i = 0; i < 50; i++) {
        await client.write(`line ${i}\n`);
        assert.is((await client.readUntil('\n')!).toString(), `line ${i}\n`);
      }
      iterations = loop.stats().iterations - it0;
      calls = ffiCounter.calls - calls0;
      await client.write('bye\n');
      await echo;
    }, 30);
    // Per round trip: two write(2)s (request, echo) and the enters; no read(2)
    // (epoll would add ~100), but for the odd inline read a stream makes
    // outside a READ event under load (flush + read(2)).
    assert.ok(calls >= iterations + 2 * 50 && calls <= iterations + 2 * 50 + 4, `${calls} FFI calls over ${iterations} iterations`);
  } finally {
    server.close();
    client.close();
    loop.close();
  }
});

test("ring sends (uring.streams 'ring'): an echo makes one FFI call per iteration, no write(2)", async () => {
  const loop = new IOLoop({ poller: 'uring', uring: { streams: 'ring' }, makeCurrent: false, nodeInterop: false });
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  const server = new IOStream(new Socket(AF_UNIX, SOCK_STREAM, 0, a), { ioLoop: loop });
  const client = new IOStream(new Socket(AF_UNIX, SOCK_STREAM, 0, b), { ioLoop: loop });
  try {
    assert.ok(transportOf(server).ringSends);
    let iterations = 0;
    let calls = 0;
    await loop.runSync(async () => {
      const echo = (async () => {
        for (;;) {
          const line = await server.readUntil('\n')!;
          await server.write(line);
          if (line.toString() === 'bye\n') return;
        }
      })();
      await client.write('warm-up\n');
      await client.readUntil('\n');
      const it0 = loop.stats().iterations;
      const calls0 = ffiCounter.calls;
      for (let i = 0; i < 50; i++) {
        await client.write(`line ${i}\n`);
        assert.is((await client.readUntil('\n')!).toString(), `line ${i}\n`);
      }
      iterations = loop.stats().iterations - it0;
      calls = ffiCounter.calls - calls0;
      await client.write('bye\n');
      await echo;
    }, 30);
    // One io_uring_enter per iteration and no write(2)/read(2), but for the
    // odd inline read a stream makes outside a READ event (flush + read(2)).
    assert.ok(calls >= iterations && calls <= iterations + 4, `${calls} FFI calls over ${iterations} iterations`);
  } finally {
    server.close();
    client.close();
    loop.close();
  }
});

test('a closed IOStream on a uring loop: the peer sees EOF and nothing is left behind', async () => {
  const loop = new IOLoop({ poller: 'uring', uring: { streams: 'reads' }, makeCurrent: false });
  const [s1, s2] = tcpSockets();
  const a = new IOStream(s1, { ioLoop: loop });
  const b = new IOStream(s2, { ioLoop: loop });
  try {
    const rest = await loop.runSync(async () => {
      const pending = b.readUntilClose()!;
      await a.write('last words');
      a.close();
      return pending;
    }, 10);
    assert.is(rest.toString(), 'last words');
    const poller = (loop as unknown as { poller: URingPoller }).poller;
    b.close();
    poller.poll(0);
    assert.is(poller.socketCount(), 0, 'every socket id freed');
  } finally {
    a.close();
    b.close();
    loop.close();
  }
});

test('a stream closed through the ring keeps its fd until the loop\'s next enter; a child started meanwhile does not inherit it; then the peer sees EOF', async () => {
  const loop = new IOLoop({ poller: 'uring', makeCurrent: false });
  const [s1, s2] = tcpSockets();
  const a = new IOStream(s1, { ioLoop: loop });
  const b = new IOStream(s2, { ioLoop: loop });
  // The child lists what its fds are (sockets by inode).
  const listFds = "const fs = require('fs'); for (const n of fs.readdirSync('/proc/self/fd')) { try { console.log(fs.readlinkSync('/proc/self/fd/' + n)); } catch {} }";
  try {
    const rest = await loop.runSync(async () => {
      const pending = b.readUntilClose()!;
      await a.write('bye');
      const fd = a.socket.fileno();
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      assert.match(target, /^socket:/);
      a.close();
      // Found when the CLOSE stopped having an enter of its own: a fork
      // spec counted one socket more in a worker that listed its fds in
      // the turn it closed a connection.
      assert.is(readlinkSync(`/proc/self/fd/${fd}`), target, 'open until the loop\'s next enter');
      const child = spawnSync(process.execPath, ['-e', listFds], { encoding: 'utf8' });
      assert.is(child.status, 0, child.stderr);
      const childFds = child.stdout.split('\n');
      assert.ok(childFds.some((line) => line.startsWith('socket:') || line.startsWith('pipe:') || line.startsWith('/')), 'the child listed its fds');
      assert.not.ok(childFds.includes(target), `the child does not hold ${target}`);
      const received = await pending;
      let now: string | null = null;
      try { now = readlinkSync(`/proc/self/fd/${fd}`); } catch { /* closed, not reused */ }
      assert.is.not(now, target, 'closed by the time the peer saw EOF');
      return received;
    }, 10);
    assert.is(rest.toString(), 'bye');
  } finally {
    a.close();
    b.close();
    loop.close();
  }
});

/** Runs `body`, a test of ring sends (its loops ask for `uring.streams: 'ring'`, the default; the rest of this file reads only). */
async function withRingSends<T>(body: () => Promise<T>): Promise<T> {
  return body();
}

function statsOf(loop: IOLoop): CompletionStats {
  return (loop as unknown as { poller: URingPoller }).poller.completionStats;
}

function transportOf(stream: IOStream): CompletionSocket {
  return (stream as unknown as { transport: CompletionSocket }).transport;
}

test('ring sends: write() then close() delivers every byte; the close lingers until the SENDs are done, then goes through the ring', async () => {
  await withRingSends(async () => {
    const loop = new IOLoop({ poller: 'uring', uring: { streams: 'ring' }, makeCurrent: false });
    const [s1, s2] = tcpSockets();
    const w = new IOStream(s1, { ioLoop: loop });
    const r = new IOStream(s2, { ioLoop: loop });
    try {
      const payload = pattern(3 * 1024 * 1024, 7);
      const stats = statsOf(loop);
      const before = { ...stats };
      const fd = w.fileno();
      const got = await loop.runSync(async () => {
        // Taken into the ring's send buffer at once, as write(2) takes it on epoll.
        const written = w.write(payload)!;
        assert.ok(written.done(), 'the write Future resolved inside write()');
        w.close();
        assert.ok(w.closed());
        assert.is(stats.lingering, before.lingering + 1, 'the close lingers');
        assert.ok(openFds().has(fd), 'the fd stays open while its SENDs run');
        const all = await r.readUntilClose()!;
        // The peer saw EOF: the CLOSE went through the ring after the last SEND.
        assert.is(stats.lingering, before.lingering);
        return all;
      }, 20);
      assert.ok(got.equals(payload), `${got.length} of ${payload.length} bytes arrived intact`);
      assert.is(stats.lingerCloses, before.lingerCloses + 1);
      assert.is(stats.lingerAborts, before.lingerAborts);
      assert.ok(stats.ringCloses >= before.ringCloses + 2, 'both streams were closed through the ring');
      assert.not.ok(openFds().has(fd));
    } finally {
      w.close();
      r.close();
      loop.close();
    }
  });
});

test('ring sends: an echo of 64 KiB chunks through IOStream sends every echoed chunk from its provided buffer and every 64 KiB write of the client\'s from its own Buffer (no copy), every byte once, in order', async () => {
  const loop = new IOLoop({ poller: 'uring', uring: { streams: 'ring' }, makeCurrent: false });
  const [client, server] = unixPair.make(loop, {}, {}) as [IOStream, IOStream];
  try {
    const stats = statsOf(loop);
    const before = { ...stats };
    const rounds = 32;
    await loop.runSync(async () => {
      const echo = (async () => {
        for (let i = 0; i < rounds; i++) {
          const data = await server.readBytes(65536, { partial: true })!;
          await server.write(data)!;
        }
      })();
      for (let i = 0; i < rounds; i++) {
        const sent = pattern(64 * 1024, i);
        await client.write(sent)!;
        const back = await client.readBytes(sent.length)!;
        assert.ok(back.equals(sent), `round ${i} echoed intact`);
      }
      await echo;
    }, 20);
    // One chunk at a time on a Unix socket: each arrives whole, is handed over and goes back direct.
    // The client's own 64 KiB Buffers go out from where they are as well (nothing queued before them).
    assert.is(stats.sendDirectBytes - before.sendDirectBytes, 2 * rounds * 64 * 1024, "the server's echoes and the client's writes: sent from where they are");
    assert.is(stats.sendCopiedBytes - before.sendCopiedBytes, 0, 'nothing copied');
  } finally {
    client.close();
    server.close();
    loop.close();
  }
});

test('ring sends: a lingering close is bounded — cut short (abortLinger) or finished by closing the loop, never an fd left open', async () => {
  await withRingSends(async () => {
    for (const ending of ['abort', 'loop close'] as const) {
      const loop = new IOLoop({ poller: 'uring', uring: { streams: 'ring' }, makeCurrent: false });
      const [s1, peer] = tcpSockets(); // the peer never reads
      const w = new IOStream(s1, { ioLoop: loop });
      const fd = w.fileno();
      const stats = statsOf(loop);
      try {
        await loop.runSync(async () => {
          // More than the kernel's buffers take while nobody reads: SENDs wait in flight.
          for (let i = 0; i < 64 && !w.writing(); i++) w.write(pattern(1024 * 1024, i));
          assert.ok(w.writing(), 'the send buffer is full, the rest waits in the stream');
          const transport = transportOf(w);
          w.close();
          assert.is(stats.lingering, 1);
          assert.ok(transport.inFlight());
          if (ending === 'abort') {
            transport.abortLinger(); // what LINGER_SECONDS' timer does
            for (let i = 0; i < 200 && openFds().has(fd); i++) await new Promise((resolve) => loop.addCallback(resolve));
          }
        }, 20);
        if (ending === 'abort') {
          assert.not.ok(openFds().has(fd), 'the fd closed once the cancelled SENDs were in');
          assert.is(stats.lingering, 0);
        } else {
          assert.ok(openFds().has(fd), 'still lingering when the loop stops');
          loop.close();
          assert.not.ok(openFds().has(fd), 'closing the loop closed the lingering fd');
        }
        assert.is(stats.lingerAborts, 1);
      } finally {
        w.close();
        peer.close();
        loop.close();
      }
    }
  });
});

test('ring sends: a write right before the loop stops still reaches the peer (the stop submits what is queued)', async () => {
  await withRingSends(async () => {
    const loop = new IOLoop({ poller: 'uring', uring: { streams: 'ring' }, makeCurrent: false });
    const [s1, peer] = tcpSockets();
    const w = new IOStream(s1, { ioLoop: loop });
    try {
      await loop.runSync(() => {
        assert.ok(transportOf(w).ringSends);
        w.write('sent before the stop');
      }, 10);
      peer.setBlocking(false);
      assert.is(peer.recv(64).toString(), 'sent before the stop');
    } finally {
      w.close();
      peer.close();
      loop.close();
    }
  });
});

test('ring sends: a line written right before process.exit() still reaches the peer (the exit hook submits it)', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as { port: number }).port;
    const received = new Promise<string>((resolve) => server.once('connection', (socket) => {
      let text = '';
      socket.on('data', (d) => { text += d; });
      socket.on('close', () => resolve(text));
    }));
    const fixture = new URL('./fixtures/write-then-exit.js', import.meta.url);
    const child = spawn(process.execPath, [fileURLToPath(fixture), String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    const [code] = await once(child, 'exit');
    assert.is(code, 0, stderr);
    assert.is(await received, 'last words (ring sends: true)\n');
  } finally {
    server.close();
  }
});

test('ring sends: a stream whose connect is under way is not reported writable by its empty send buffer', async () => {
  await withRingSends(async () => {
    // listen(0) queues one connection: fill it, and the next connect hangs in SYN_SENT.
    const listener = new Socket(AF_INET, SOCK_STREAM);
    listener.bind(['127.0.0.1', 0]);
    listener.listen(0);
    const fillers = [0, 1].map(() => {
      const filler = new Socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
      filler.connectEx(listener.getsockname());
      return filler;
    });
    const loop = new IOLoop({ poller: 'uring', uring: { streams: 'ring' }, makeCurrent: false });
    const client = new IOStream(new Socket(AF_INET, SOCK_STREAM), { ioLoop: loop });
    try {
      await loop.runSync(async () => {
        const connecting = client.connect(listener.getsockname())!;
        assert.ok(transportOf(client).ringSends);
        for (let i = 0; i < 20; i++) await new Promise((resolve) => loop.addCallback(resolve));
        // Before the fix, WRITE came from the empty send buffer and the stream took the connect for done.
        assert.not.ok(connecting.done(), 'the connect is still under way');
        client.close();
        assert.ok(await connecting.then(() => false, () => true), 'closing fails the connect');
      }, 10);
    } finally {
      client.close();
      loop.close();
      for (const filler of fillers) filler.close();
      listener.close();
    }
  });
});

test('the ring-wide send budget: past it a socket takes only its minimum share, and more as its own SENDs complete', () => {
  const budget = 1 << 20;
  const poller = new URingPoller({ sendBudget: budget });
  const [a1, b1] = socketpair(AF_UNIX, SOCK_STREAM, true);
  const [a2, b2] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    const first = poller.attach(a1, true)!;
    const second = poller.attach(a2, true)!;
    poller.register(a1, WRITE);
    poller.register(a2, WRITE);
    const data = Buffer.alloc(4 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 16)) & 0xff;
    assert.is(first.send([data], 0, 0), budget, 'the first takes the whole budget');
    assert.is(second.send([data], 0, 0), MIN_SEND_SHARE, 'the second only its minimum share');
    assert.is(second.send([data], 0, MIN_SEND_SHARE), 0, 'then no room');
    assert.is(poller.sendBudget.refusals, 1);
    assert.is(poller.sendBudget.used, budget + MIN_SEND_SHARE);
    // Drain both peers; whenever the second is reported writable, give it more.
    const received = [[] as Buffer[], [] as Buffer[]];
    let offered2 = MIN_SEND_SHARE;
    let wokenWithRoom = 0;
    const wanted2 = 2 * MIN_SEND_SHARE;
    for (let round = 0; round < 2000; round++) {
      const n = poller.poll(10);
      for (let i = 0; i < n; i++) {
        if (poller.readyFds[i] !== a2 || !(poller.readyEvents[i]! & WRITE) || offered2 >= wanted2) continue;
        const took = second.send([data.subarray(0, wanted2)], 0, offered2);
        if (took > 0) wokenWithRoom++;
        offered2 += took;
      }
      for (const [k, fd] of [[0, b1], [1, b2]] as const) {
        for (let got = readToChunk(fd, 65536); got > 0; got = readToChunk(fd, 65536)) received[k]!.push(Buffer.from(chunk.view.subarray(0, got)));
      }
      const total1 = received[0]!.reduce((t, b) => t + b.length, 0);
      const total2 = received[1]!.reduce((t, b) => t + b.length, 0);
      if (total1 === budget && total2 === wanted2) break;
    }
    assert.ok(wokenWithRoom > 0, 'the refused socket was reported writable again and took more');
    assert.ok(Buffer.concat(received[0]!).equals(data.subarray(0, budget)), 'first: every byte, in order');
    assert.ok(Buffer.concat(received[1]!).equals(data.subarray(0, wanted2)), 'second: every byte, in order');
    assert.is(poller.sendBudget.used, 0, 'every byte given back to the budget');
    // Bytes queued when a socket is dropped go back too.
    poller.register(a1, WRITE); // (already registered: watched again)
    assert.ok(first.send([data], 0, 0) > 0);
    assert.ok(poller.sendBudget.used > 0);
    poller.close();
    assert.is(poller.sendBudget.used, 0, 'given back when the ring goes');
  } finally {
    poller.close();
    for (const fd of [a1, b1, a2, b2]) closeFd(fd);
  }
});

test('ring sends: a lingering close cut short delivers a prefix of what was written, then EOF: nothing twice, nothing out of order', async () => {
  await withRingSends(async () => {
    const loop = new IOLoop({ poller: 'uring', uring: { streams: 'ring' }, makeCurrent: false });
    // A socketpair: its kernel buffers take far less than the ring holds (TCP's on loopback may take it all).
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
    const w = new IOStream(new Socket(AF_UNIX, SOCK_STREAM, 0, a), { ioLoop: loop });
    const r = new IOStream(new Socket(AF_UNIX, SOCK_STREAM, 0, b), { ioLoop: loop });
    const stats = statsOf(loop);
    try {
      const payload = pattern(8 * 1024 * 1024, 11);
      const [head, rest] = await loop.runSync(async () => {
        w.write(payload);
        // The peer reads a little, then stops: the chain in flight parks part-sent.
        const head = await r.readBytes(64 * 1024)!;
        for (let i = 0; i < 3; i++) await new Promise((resolve) => loop.addCallback(resolve));
        const transport = transportOf(w);
        w.close(); // lingers: the ring still holds most of the payload
        assert.is(stats.lingering, 1);
        transport.abortLinger(); // what LINGER_SECONDS' timer does
        return [head, await r.readUntilClose()!];
      }, 20);
      const got = Buffer.concat([head, rest]);
      assert.ok(got.length < payload.length, 'the cut dropped the unsent tail');
      assert.ok(got.equals(payload.subarray(0, got.length)), `the ${got.length} bytes received are the payload's first ones`);
      assert.is(stats.lingerAborts, 1);
    } finally {
      w.close();
      r.close();
      loop.close();
    }
  });
});

test('ring sends: a short SEND (the peer stops reading mid-SEND) is accounted exactly: the peer has the first `sent` bytes, then EPIPE', () => {
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    const socket = poller.attach(a, true)!;
    poller.register(a, WRITE);
    const payload = pattern(1024 * 1024, 3);
    assert.is(socket.send([payload], 0, 0), payload.length);
    // The peer's buffer (~200 KiB) fills partway through a 64 KiB SEND: it parks, part-sent.
    for (let i = 0; i < 5; i++) poller.poll(10);
    assert.ok(socket.sends.inFlight > 0, 'SENDs wait on the full peer');
    shutdown(b, 0); // SHUT_RD: the parked SEND fails EPIPE after the bytes it had sent
    for (let i = 0; i < 20 && socket.sends.errno === 0; i++) poller.poll(10);
    assert.is(socket.sends.errno, E.EPIPE);
    assert.ok(poller.completionStats.shortSends >= 1, 'the part-sent SEND completed short');
    const got = Buffer.concat(drainFd(b));
    assert.is(got.length, socket.sends.sent, 'the peer holds exactly the bytes counted sent');
    assert.ok(got.equals(payload.subarray(0, got.length)), 'in order, none twice');
    assert.is(poller.sendBudget.used, 0, 'the dropped rest went back to the budget');
    assert.throws(() => socket.send([payload], 0, 0), /EPIPE/);
  } finally {
    poller.close();
    closeFd(a);
    closeFd(b);
  }
});

test('ring sends: a linked chain is never split by an SQ-full flush, nor longer than the SQ (issue 16)', () => {
  // A 16-entry SQ with 5 SQEs already pending: a chain of 16 SENDs must wait
  // for a submission of its own, or the kernel runs its two parts as two
  // chains side by side (bytes out of order, CQEs interleaved).
  const poller = new URingPoller({ sqEntries: 16 });
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    const socket = poller.attach(a, true)!;
    poller.register(a, WRITE);
    poller.poll(0);
    const ring = poller.ring;
    const payload = pattern(3 * 1024 * 1024 + 123, 5);
    for (let i = 0; i < 5; i++) ring.cancel(0, 0); // harmless SQEs (nothing has user_data 0)
    const flushes = ring.stats.sqFullFlushes;
    // 49 slots of 64 KiB queued: chains of 16, the first submitted at once.
    assert.is(socket.send([payload], 0, 0), payload.length);
    assert.is(ring.pending(), 16, 'the whole first chain waits for one submission');
    assert.is(ring.stats.sqFullFlushes, flushes + 1, 'what was pending went first');
    assert.is(socket.sends.inFlight, 16);
    const got = receiveFd(poller, b, payload.length);
    assert.ok(got.equals(payload), `${got.length} of ${payload.length} bytes, in order, once`);
    assert.is(poller.completionStats.shortSends, 0);
    assert.is(poller.sendBudget.used, 0);
  } finally {
    poller.close();
    closeFd(a);
    closeFd(b);
  }
});

test('ring sends: a write after shutdown(SHUT_WR) fails with EPIPE and closes the stream, as write(2) does', async () => {
  await withRingSends(async () => {
    const loop = new IOLoop({ poller: 'uring', uring: { streams: 'ring' }, makeCurrent: false });
    const [s1, s2] = socketpair(AF_UNIX, SOCK_STREAM, true).map((fd) => new Socket(AF_UNIX, SOCK_STREAM, 0, fd));
    const a = new IOStream(s1!, { ioLoop: loop });
    const b = new IOStream(s2!, { ioLoop: loop });
    let closed = 0;
    a.setCloseCallback(() => { closed++; });
    try {
      const outcome = await loop.runSync(async () => {
        await a.write('x');
        s1!.shutdown(1); // SHUT_WR, behind the stream's back
        try {
          await a.write(Buffer.alloc(1000));
          return 'resolved';
        } catch (error) {
          return `${(error as Error).name}: ${(error as { realError?: { code?: string } }).realError?.code ?? ''}`;
        }
      }, 10);
      assert.match(outcome, /^StreamClosedError/);
      assert.ok(a.closed(), 'the stream closed');
      await loop.runSync(async () => {}, 5);
      assert.is(closed, 1, 'its close callback ran');
      assert.is(a.error?.message.includes('EPIPE') ?? false, true, `error: ${a.error?.message}`);
      assert.is(statsOf(loop).lingering, 0);
    } finally {
      a.close();
      b.close();
      loop.close();
    }
  });
});

test('closing over bytes received and never read resets a TCP peer, as on epoll (the RECV had taken them out of the kernel)', async () => {
  // Found by the differential fuzz (seed 1428237045): b closes on its full
  // read buffer with a's bytes unread; epoll leaves them in the kernel, whose
  // close resets the connection; the ring's RECV had taken them, so b's close
  // sent a FIN and a closed a step later, on an end of file.
  for (const poller of ['epoll', 'uring'] as const) {
    const loop = new IOLoop({ poller, makeCurrent: false });
    const [s1, s2] = tcpSockets();
    const a = new IOStream(s1, { ioLoop: loop });
    const b = new IOStream(s2, { ioLoop: loop, maxBufferSize: 4096 });
    try {
      const errors = await loop.runSync(async () => {
        const bRead = b.readUntilClose()!.then(() => null, (e: unknown) => e);
        const aRead = a.readUntilClose()!.then(() => null, (e: unknown) => e);
        await a.write(pattern(70_000, 9))!;
        await bRead;
        await aRead;
        return { b: b.error, a: a.error };
      }, 20);
      assert.ok(b.closed() && a.closed(), `${poller}: both closed`);
      assert.match(String(errors.b), /buffer/i, `${poller}: b closed on its full read buffer`);
      assert.is((errors.a as { errno?: number } | null)?.errno, E.ECONNRESET, `${poller}: a saw a reset, not an end of file (${String(errors.a)})`);
    } finally {
      a.close();
      b.close();
      loop.close();
    }
  }
});

test("uring.submit 'turn' submits with no async id of its own: awaited writes do not make every blocking wait hop through libuv", async () => {
  // queueMicrotask takes an async id, which tells the loop Node may have a
  // new timer, so its next blocking wait first hops through libuv's poll
  // phase (reactor/node-interop.ts): one hop per awaited write before the
  // fix (40 in 40 rounds); an answer of a hop is trusted for a while, so a
  // few remain.
  const loop = new IOLoop({ poller: 'uring', uring: { streams: 'ring', submit: 'turn' }, makeCurrent: false });
  const [s1, s2] = tcpSockets();
  const w = new IOStream(s1, { ioLoop: loop });
  const r = new IOStream(s2, { ioLoop: loop });
  try {
    const rounds = 40;
    const hops = await loop.runSync(async () => {
      await w.write('first\n');
      await r.readBytes(6);
      const before = loop.stats().hops;
      for (let i = 0; i < rounds; i++) {
        await w.write('small\n'); // flushed at the end of the turn
        await r.readBytes(6);
      }
      return loop.stats().hops - before;
    }, 20);
    assert.ok(hops < rounds / 4, `${hops} hops in ${rounds} rounds`);
  } finally {
    w.close();
    r.close();
    loop.close();
  }
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
