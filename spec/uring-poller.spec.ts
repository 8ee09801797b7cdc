/**
 * The io_uring poller's own cases, on its own and under an IOLoop (the
 * readiness contract every backend keeps is spec/pollers.spec.ts's shared
 * suite, uring included): level-triggered readiness on one-shot polls,
 * stale completions after modify and fd reuse,
 * a full SQ and an overflowed CQ (counted, nothing lost), prompt release of
 * a socket closed while its poll was armed, many fds, one FFI call per
 * iteration, no fd or mapping left after close, and the fallback to epoll
 * when the kernel refuses a ring (simulated, and a real EINVAL).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { URingPoller } from '../reactor/uring/poller.js';
import { openURingPoller, resetFallbackNotice } from '../reactor/uring/probe.js';
import { kernelSetup } from '../reactor/uring/ring.js';
import { EPollPoller } from '../reactor/epoll.js';
import { ERROR, READ, WRITE, type Poller } from '../reactor/poller.js';
import { IOLoop } from '../reactor/ioloop.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { liveRegions, viewAt } from '../reactor/sys/arena.js';
import { close as closeFd, getsockoptInt, pipe, readToChunk, socketpair, writeBytes } from '../reactor/sys/libc.js';
import { AF_UNIX, SOCK_STREAM } from '../reactor/sys/constants.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { captureLogs, fdLeakCheck, openFds } from './helpers.js';

const checkFds = fdLeakCheck();

function ready(poller: Poller, timeoutMs = 0): Map<number, number> {
  const n = poller.poll(timeoutMs);
  const out = new Map<number, number>();
  for (let i = 0; i < n; i++) out.set(poller.readyFds[i]!, poller.readyEvents[i]!);
  return out;
}

function ringMappings(): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('io_uring')).length;
}

function ringFds(): number {
  return [...openFds().values()].filter((t) => t.includes('io_uring')).length;
}

test('modify swaps the poll in flight: events no longer asked for are not reported', () => {
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    poller.register(a, READ);
    assert.is(poller.poll(0), 0);
    poller.modify(a, WRITE);
    assert.equal([...ready(poller)], [[a, WRITE]]);
    writeBytes(b, Buffer.from('x'));
    assert.equal([...ready(poller)], [[a, WRITE]], 'readable too, but only WRITE is watched');
    poller.modify(a, READ | WRITE);
    assert.equal([...ready(poller)], [[a, READ | WRITE]]);
    poller.modify(a, READ);
    assert.equal([...ready(poller)], [[a, READ]]);
  } finally {
    poller.close();
    closeFd(a);
    closeFd(b);
  }
});

test('unregister of an fd never registered is a no-op (EEXIST and ENOENT: spec/pollers.spec.ts)', () => {
  const poller = new URingPoller();
  const [r, w] = pipe();
  try {
    poller.register(r, READ);
    poller.unregister(w);
    poller.unregister(100000);
  } finally {
    poller.close();
    closeFd(r);
    closeFd(w);
  }
});

test('a socket closed while its poll is armed is released at once: the peer sees EOF', () => {
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    poller.register(a, READ);
    assert.is(poller.poll(0), 0); // the poll is now armed and holds a reference to a's file
    poller.unregister(a);
    closeFd(a);
    assert.is(readToChunk(b), 0, 'EOF, not EAGAIN: the ring let go of the socket');
  } finally {
    poller.close();
    closeFd(b);
  }
});

test('fd reuse: a completion for a closed fd is not reported for the new file with its number', () => {
  const poller = new URingPoller();
  const [r1, w1] = pipe();
  try {
    poller.register(r1, READ);
    writeBytes(w1, Buffer.from('x'));
    assert.equal([...ready(poller)], [[r1, READ]]); // reported; its re-arm is pending
    poller.unregister(r1);
    closeFd(r1);
    closeFd(w1);
    const [r2, w2] = pipe();
    try {
      assert.is(r2, r1, 'the kernel reuses the lowest free fd');
      poller.register(r2, READ);
      assert.is(poller.poll(0), 0, 'the new pipe is empty');
      writeBytes(w2, Buffer.from('y'));
      assert.equal([...ready(poller)], [[r2, READ]]);
    } finally {
      closeFd(r2);
      closeFd(w2);
    }
  } finally {
    poller.close();
  }
});

test('fd reuse with the old poll still armed: remove then re-register before any poll', () => {
  const poller = new URingPoller();
  const [r1, w1] = pipe();
  try {
    poller.register(r1, READ);
    assert.is(poller.poll(0), 0); // armed
    poller.unregister(r1);
    closeFd(r1);
    closeFd(w1);
    const [r2, w2] = pipe();
    poller.register(r2, READ);
    writeBytes(w2, Buffer.from('z'));
    assert.equal([...ready(poller)], [[r2, READ]]);
    assert.equal([...ready(poller)], [[r2, READ]]);
    closeFd(r2);
    closeFd(w2);
  } finally {
    poller.close();
  }
});

test('SQ full: registrations beyond the SQ flush with an extra enter (counted) and none is lost', () => {
  const poller = new URingPoller({ sqEntries: 4, cqEntries: 64 });
  const pipes = Array.from({ length: 20 }, () => pipe());
  try {
    for (const [r, w] of pipes) { poller.register(r, READ); writeBytes(w, Buffer.from('x')); }
    const seen = ready(poller);
    assert.is(seen.size, 20);
    for (const [r] of pipes) assert.is(seen.get(r), READ);
    assert.ok(poller.ringStats().sqFullFlushes >= 4, JSON.stringify(poller.ringStats()));
  } finally {
    poller.close();
    for (const [r, w] of pipes) { closeFd(r); closeFd(w); }
  }
});

test('CQ overflow: more completions than the CQ holds are kept by the kernel and all reported', () => {
  const poller = new URingPoller({ sqEntries: 8, cqEntries: 8 });
  const pipes = Array.from({ length: 40 }, () => pipe());
  try {
    for (const [r, w] of pipes) { poller.register(r, READ); writeBytes(w, Buffer.from('x')); }
    const seen = new Map<number, number>();
    for (let round = 0; round < 20 && seen.size < 40; round++) {
      for (const [fd, events] of ready(poller)) seen.set(fd, events);
    }
    assert.is(seen.size, 40, 'every pipe reported');
    const stats = poller.ringStats();
    assert.ok(stats.cqOverflows >= 1, JSON.stringify(stats));
    assert.is(stats.cqDropped, 0);
    // Level-triggered still: after the overflow every pipe is re-armed and reported again.
    const again = new Map<number, number>();
    for (let round = 0; round < 20 && again.size < 40; round++) {
      for (const [fd, events] of ready(poller)) again.set(fd, events);
    }
    assert.is(again.size, 40);
  } finally {
    poller.close();
    for (const [r, w] of pipes) { closeFd(r); closeFd(w); }
  }
});

test('many fds: thousands of socketpairs registered, every one reported once written', () => {
  // Bounded by RLIMIT_NOFILE: two fds per pair, and room for the rest of the process.
  const soft = 20000;
  const count = Math.min(4000, Math.floor((soft - 500) / 2));
  const poller = new URingPoller();
  const pairs: Array<[number, number]> = [];
  try {
    for (let i = 0; i < count; i++) pairs.push(socketpair(AF_UNIX, SOCK_STREAM, true));
    for (const [a] of pairs) poller.register(a, READ);
    assert.is(poller.poll(0), 0);
    for (const [, b] of pairs) writeBytes(b, Buffer.from('!'));
    const seen = new Set<number>();
    // A blocking poll returns on the first completions; the polls after it
    // (as the loop's would, with handlers run) gather the rest in batches.
    for (let round = 0; round < 200 && seen.size < count; round++) {
      const n = poller.poll(seen.size ? 0 : 100);
      for (let i = 0; i < n; i++) {
        const fd = poller.readyFds[i]!;
        seen.add(fd);
        readToChunk(fd);
      }
    }
    assert.is(seen.size, count);
    for (const [a] of pairs) poller.unregister(a);
    assert.is(poller.poll(0), 0);
  } finally {
    poller.close();
    for (const [a, b] of pairs) { closeFd(a); closeFd(b); }
  }
});

test('close cancels every poll, unmaps both rings, frees its native memory and closes the ring fd', () => {
  const mapsBefore = ringMappings();
  const fdsBefore = ringFds();
  const regionsBefore = liveRegions();
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  poller.register(a, READ);
  assert.is(poller.poll(0), 0);
  assert.is(ringMappings(), mapsBefore + 2);
  assert.is(ringFds(), fdsBefore + 1);
  poller.close();
  poller.close(); // idempotent
  assert.is(ringMappings(), mapsBefore);
  assert.is(ringFds(), fdsBefore);
  assert.is(liveRegions(), regionsBefore, 'the params/timespec region is freed');
  closeFd(a);
  assert.is(readToChunk(b), 0, 'the closed ring holds no reference to the socket');
  closeFd(b);
  assert.throws(() => poller.register(b, READ), (e: OSError) => e.code === 'EBADF');
  assert.throws(() => poller.poll(0), (e: OSError) => e.code === 'EBADF');
});

test('an IOLoop on uring makes at most one FFI call per iteration; a loop that never waits enters every other iteration', async () => {
  const loop = new IOLoop({ poller: 'uring', makeCurrent: false, nodeInterop: false });
  const [r, w] = pipe();
  try {
    assert.is(loop.pollerName, 'uring');
    let rounds = 0;
    loop.addHandler(r, () => {}, IOLoop.READ); // armed once, then idle: costs nothing per iteration
    const poller = (loop as unknown as { poller: URingPoller }).poller;
    const marks: Array<[number, number, number]> = [];
    await loop.runSync(() => new Promise<void>((resolve) => {
      const again = () => {
        rounds++;
        if (rounds === 50 || rounds === 150) marks.push([loop.stats().iterations, ffiCounter.calls, poller.deferredEnters]);
        if (rounds < 200) loop.addCallback(again); else resolve();
      };
      loop.addCallback(again);
    }), 10);
    const iterations = marks[1]![0] - marks[0]![0];
    assert.is(iterations, 100);
    // Each iteration that enters makes one io_uring_enter and nothing else
    // touches the FFI. Callbacks keep every poll non-blocking and nothing
    // completes, so every other poll defers its enter (never two in a row).
    const deferred = marks[1]![2] - marks[0]![2];
    assert.is(deferred, iterations / 2);
    assert.is(marks[1]![1] - marks[0]![1], iterations - deferred);
    loop.removeHandler(r);
  } finally {
    loop.close();
    closeFd(r);
    closeFd(w);
  }
});

test('a non-blocking poll defers its enter only when nothing completed and nothing new is watched, never twice in a row', () => {
  const poller = new URingPoller();
  const [r, w] = pipe();
  try {
    poller.register(r, READ);
    // A fresh poll must be submitted to be reported: no deferral.
    writeBytes(w, Buffer.from('x'));
    assert.equal([...ready(poller)], [[r, READ]], 'reported at once, as on epoll');
    readToChunk(r, 16);
    poller.poll(0); // re-armed (a new POLL_ADD: entered)
    const enters = poller.ringStats().enters;
    const deferred = poller.deferredEnters;
    assert.is(poller.poll(0), 0);
    assert.is(poller.deferredEnters, deferred + 1, 'idle, armed, nothing completed: deferred');
    assert.is(poller.poll(0), 0);
    assert.is(poller.ringStats().enters, enters + 1, 'but not twice in a row');
    // Data arriving is flagged by the kernel (IORING_SQ_TASKRUN): the next poll enters and reports it.
    writeBytes(w, Buffer.from('y'));
    assert.equal([...ready(poller)], [[r, READ]]);
    assert.is(poller.deferredEnters, deferred + 1);
    poller.unregister(r);
  } finally {
    poller.close();
    closeFd(r);
    closeFd(w);
  }
});

test('fallback: a real kernel EINVAL (an unknown setup flag) also falls back', async () => {
  resetFallbackNotice();
  const { result, logs } = await captureLogs(() => openURingPoller(() => new EPollPoller(), {
    setup: (entries, params) => {
      const view = viewAt(params, 120);
      view.writeUInt32LE((view.readUInt32LE(8) | 0x80000000) >>> 0, 8); // a flag no kernel knows
      return kernelSetup(entries, params);
    },
  }));
  assert.is(result.name, 'epoll');
  assert.match(logs.map(([, t]) => t).join('\n'), 'EINVAL');
  result.close();
});

test('an IOLoop asked for uring on a refusing kernel still runs (on epoll)', async () => {
  resetFallbackNotice();
  const { result: poller, logs } = await captureLogs(() => openURingPoller(() => new EPollPoller(), { setup: () => -E.EPERM }));
  assert.is(poller.name, 'epoll');
  assert.is(logs.length, 1);
  poller.close();
  const loop = new IOLoop({ poller: 'uring', makeCurrent: false });
  try {
    assert.is(loop.pollerName, 'uring', 'this kernel has io_uring');
    assert.is(await loop.runSync(() => 42, 5), 42);
  } finally {
    loop.close();
  }
});

test('SO_ERROR stays readable on a socket the ring polled (no state left behind)', () => {
  const poller = new URingPoller();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  try {
    poller.register(a, READ | WRITE);
    assert.equal([...ready(poller)], [[a, WRITE]]);
    assert.is(getsockoptInt(a, 1 /* SOL_SOCKET */, 4 /* SO_ERROR */), 0);
  } finally {
    poller.close();
    closeFd(a);
    closeFd(b);
  }
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
