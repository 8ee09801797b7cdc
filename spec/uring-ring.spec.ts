/**
 * The ring's SQE writers, each against the real kernel with no poller in
 * between: ACCEPT (single and multishot), CONNECT from a native sockaddr,
 * READ/WRITE on a pipe, CLOSE (alone and linked behind a SEND), and that
 * every CQE comes back with the user_data it was sent with.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { Ring, IORING_CQE_F_MORE, IOSQE_IO_LINK } from '../reactor/uring/ring.js';
import { allocRegion, freeRegion } from '../reactor/sys/arena.js';
import { encodeSockaddr } from '../reactor/sys/sockaddr.js';
import { close as closeFd, pipe, readToChunk, socket, socketpair, writeBytes } from '../reactor/sys/libc.js';
import { AF_INET, AF_UNIX, SOCK_STREAM } from '../reactor/sys/constants.js';
import { chunk } from '../reactor/sys/arena.js';
import { Socket } from '../reactor/sys/socket.js';
import { fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

interface Cqe { lo: number; hi: number; res: number; flags: number }

/** Submits what is queued and collects CQEs until `count` came (bounded: 50 waits of 100 ms). */
function reap(ring: Ring, count: number): Cqe[] {
  const out: Cqe[] = [];
  for (let round = 0; round < 50 && out.length < count; round++) {
    ring.submitAndWait(1, 100);
    ring.forEachCqe((lo, hi, res, flags) => out.push({ lo, hi, res, flags }) > 0);
  }
  return out;
}

function listener(): { sock: Socket; port: number } {
  const sock = new Socket(AF_INET, SOCK_STREAM);
  sock.bind(['127.0.0.1', 0]);
  sock.listen(16);
  return { sock, port: (sock.getsockname() as [string, number])[1] };
}

test('multishot ACCEPT: one request, one CQE per connection, each a nonblocking fd, F_MORE while armed', () => {
  const ring = new Ring();
  const { sock, port } = listener();
  const clients: Socket[] = [];
  try {
    ring.accept(sock.fileno(), SOCK_NONBLOCK | SOCK_CLOEXEC, true, 7, 0x05000001);
    reap(ring, 0); // armed, nothing yet
    for (let i = 0; i < 3; i++) {
      const client = new Socket(AF_INET, SOCK_STREAM);
      client.setBlocking(true);
      client.connect(['127.0.0.1', port]);
      clients.push(client);
    }
    const cqes = reap(ring, 3);
    assert.is(cqes.length, 3);
    for (const cqe of cqes) {
      assert.is(cqe.lo, 7);
      assert.is(cqe.hi, 0x05000001);
      assert.ok(cqe.res >= 0, `accepted fd ${cqe.res}`);
      assert.ok(cqe.flags & IORING_CQE_F_MORE, 'still armed');
      assert.ok(existsSync(`/proc/self/fd/${cqe.res}`));
      closeFd(cqe.res);
    }
  } finally {
    for (const client of clients) client.close();
    ring.close(); // cancels the ACCEPT: it holds the listener's file
    sock.close();
  }
});

test('CONNECT from a native sockaddr, then single-shot ACCEPT sees it', () => {
  const ring = new Ring();
  const { sock, port } = listener();
  const addr = allocRegion(128);
  const fd = socket(AF_INET, SOCK_STREAM, 0, true);
  try {
    const length = encodeSockaddr(addr.view, 0, AF_INET, ['127.0.0.1', port]);
    ring.connect(fd, addr.addr, length, 1, 0x07000001);
    ring.accept(sock.fileno(), SOCK_NONBLOCK | SOCK_CLOEXEC, false, 2, 0x05000002);
    const cqes = reap(ring, 2);
    const connected = cqes.find((c) => c.lo === 1)!;
    const accepted = cqes.find((c) => c.lo === 2)!;
    assert.is(connected.res, 0, 'connect succeeded');
    assert.ok(accepted.res >= 0);
    assert.not.ok(accepted.flags & IORING_CQE_F_MORE, 'single-shot');
    closeFd(accepted.res);
  } finally {
    closeFd(fd);
    freeRegion(addr);
    ring.close();
    sock.close();
  }
});

test('CONNECT to a closed port fails with -ECONNREFUSED in the CQE', () => {
  const ring = new Ring();
  const { sock, port } = listener();
  sock.close(); // nothing listens there any more
  const addr = allocRegion(128);
  const fd = socket(AF_INET, SOCK_STREAM, 0, true);
  try {
    const length = encodeSockaddr(addr.view, 0, AF_INET, ['127.0.0.1', port]);
    ring.connect(fd, addr.addr, length, 3, 0x07000003);
    const [cqe] = reap(ring, 1);
    assert.is(cqe!.res, -111); // ECONNREFUSED
  } finally {
    closeFd(fd);
    freeRegion(addr);
    ring.close();
  }
});

test('WRITE then READ on a pipe at the current position', () => {
  const ring = new Ring();
  const [r, w] = pipe();
  const out = allocRegion(64);
  const into = allocRegion(64);
  try {
    out.view.write('through the ring', 0);
    ring.readWrite(true, w, out.addr, 16, 1, 0x09000001);
    ring.readWrite(false, r, into.addr, 64, 2, 0x08000001);
    const cqes = reap(ring, 2);
    assert.is(cqes.find((c) => c.lo === 1)!.res, 16);
    assert.is(cqes.find((c) => c.lo === 2)!.res, 16);
    assert.is(into.view.toString('latin1', 0, 16), 'through the ring');
  } finally {
    closeFd(r);
    closeFd(w);
    freeRegion(out);
    freeRegion(into);
    ring.close();
  }
});

test('CLOSE closes the fd; linked behind a SEND it runs after the bytes went out', () => {
  const ring = new Ring();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  const data = allocRegion(16);
  try {
    data.view.write('last words', 0);
    ring.send(a, data.addr, 10, 0x4000, 1, 0x04000001, IOSQE_IO_LINK);
    ring.closeFile(a, 0, 2, 0x06000001);
    const cqes = reap(ring, 2);
    assert.equal(cqes.map((c) => [c.lo, c.res]), [[1, 10], [2, 0]], 'the SEND, then the CLOSE');
    assert.not.ok(existsSync(`/proc/self/fd/${a}`), 'closed by the ring');
    const n = readToChunk(b, 64);
    assert.is(chunk.view.toString('latin1', 0, n), 'last words');
    assert.is(readToChunk(b, 64), 0, 'then EOF: the peer saw the close');
    // A CLOSE of a fd that is not open reports EBADF in its CQE.
    ring.closeFile(a, 0, 3, 0x06000002);
    assert.is(reap(ring, 1)[0]!.res, -9);
  } finally {
    closeFd(b);
    freeRegion(data);
    ring.close();
  }
});

test('setSendAddr points a SEND written but not yet submitted at other memory (a direct SEND whose SQE the kernel has not consumed)', () => {
  const ring = new Ring();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  const first = allocRegion(16);
  const second = allocRegion(16);
  try {
    first.view.write('from the caller', 0);
    second.view.write('from the slot!!', 0);
    ring.send(a, first.addr, 15, 0x4000, 1, 0x04000001);
    const position = ring.sqPosition();
    assert.not.ok(ring.consumed(position), 'written, not submitted');
    ring.setSendAddr(position, second.addr);
    const cqes = reap(ring, 1);
    assert.equal(cqes.map((c) => [c.lo, c.res]), [[1, 15]]);
    assert.ok(ring.consumed(position));
    const n = readToChunk(b, 64);
    assert.is(chunk.view.toString('latin1', 0, n), 'from the slot!!', 'the SEND read the memory it was pointed at last');
  } finally {
    closeFd(a);
    closeFd(b);
    freeRegion(first);
    freeRegion(second);
    ring.close();
  }
});

test('a short pipe WRITE count comes back as the result (nonblocking pipe full)', () => {
  const ring = new Ring();
  const [r, w] = pipe();
  try {
    // Fill the pipe with write(2) first, then a ring WRITE waits for room:
    // draining one chunk lets it complete.
    const block = Buffer.alloc(4096, 1);
    let filled = 0;
    while (writeBytes(w, block) > 0 && filled < 1 << 22) filled += 4096;
    const out = allocRegion(8);
    try {
      ring.readWrite(true, w, out.addr, 8, 1, 0x09000002);
      assert.is(reap(ring, 0).length, 0);
      assert.ok(readToChunk(r, 65536) > 0);
      const cqes = reap(ring, 1);
      assert.is(cqes.length, 1);
      assert.is(cqes[0]!.res, 8);
    } finally {
      freeRegion(out);
    }
  } finally {
    closeFd(r);
    closeFd(w);
    ring.close();
  }
});

test('a reused SQE slot is written whole: a SEND after a multishot RECV and a multishot POLL_ADD in the same slot carries none of their fields', () => {
  // One SQ entry: every SQE lands in slot 0. getSqe zeroes a slot with
  // eight f64 stores and writeHeader sets opcode and flags as one u32
  // (docs/uring.md, "Ping-pong on the ring (eighth speed session)"): a
  // field a writer leaves alone must read 0, not what the last user left.
  const ring = new Ring({ sqEntries: 1 });
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  const data = allocRegion(16);
  const words = (ring as unknown as { sqeWords: Uint32Array }).sqeWords;
  try {
    assert.is(ring.sqEntries, 1);
    // ioprio (RECV_MULTISHOT), flags (BUFFER_SELECT), buf_group: set here.
    ring.recvMultishot(b, 0x1234, 1, 0x02000001);
    assert.is(words[0]! & 0xff, 27, 'opcode RECV');
    assert.is((words[0]! >>> 8) & 0xff, 1 << 5, 'flags: BUFFER_SELECT');
    assert.is(words[0]! >>> 16, 1 << 1, 'ioprio: multishot');
    assert.is(words[10], 0x1234, 'buf_group');
    ring.flush(); // consumed: the slot is free again (the RECV fails: no such buffer group)
    ring.pollAdd(b, 1, 2, 0x09000001, true); // len @24: the multishot flag
    ring.flush();
    ring.send(a, data.addr, 10, 0x4000, 3, 0x04000001);
    data.view.write('fresh slot', 0);
    const expected = new Uint32Array(16);
    expected[0] = 26; // opcode SEND, no flags, ioprio 0
    expected[1] = a;
    expected[4] = data.addr % 0x100000000;
    expected[5] = Math.floor(data.addr / 0x100000000);
    expected[6] = 10;
    expected[7] = 0x4000;
    expected[8] = 3;
    expected[9] = 0x04000001;
    assert.equal([...words.subarray(0, 16)], [...expected], 'every other word 0');
    const cqes = reap(ring, 3);
    assert.equal(cqes.find((c) => c.lo === 3)?.res, 10, 'the SEND went out whole');
    const n = readToChunk(b, 64);
    assert.is(chunk.view.toString('latin1', 0, n), 'fresh slot');
  } finally {
    closeFd(a);
    closeFd(b);
    freeRegion(data);
    ring.close();
  }
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
