/**
 * Programs the differential spec always replays: each one a failing case
 * the fuzzer found (shrunk) or a bug it was written to catch, with what it
 * found. A new failure found by `npm run fuzz` goes here once understood.
 */
import type { Program } from './program.js';

export interface Regression {
  name: string;
  /** What went wrong, on which backend and mode. */
  found: string;
  program: Program;
}

export const REGRESSIONS: Regression[] = [
  {
    name: 'a read after the peer closed over unread bytes: thrown on epoll (the reset lost them), resolved on a ring',
    found: 'differential fuzz, seed 663552338 (Unix socketpair): b writes 1001 bytes, a floods b 20×1000, b closes '
      + 'with them unread, a reads 1000. On epoll a\'s flood meets the closed peer and a closes with b\'s bytes still '
      + 'in its kernel, so the read throws when called; a ring RECV had read them ahead, so it resolves with them. '
      + 'The comparison of reads after such a reset took "a prefix" of the bytes but not a read that threw at the '
      + 'call (docs/differential.md, exception 2)',
    program: {
      transport: 'unix', tls: false, a: {}, b: {},
      steps: [
        { op: 'write', side: 'b', size: 1 },
        { op: 'write', side: 'b', size: 1000 },
        { op: 'flood', side: 'a', size: 1000, count: 20 },
        { op: 'close', side: 'b' },
        { op: 'readBytesStreaming', side: 'a', n: 1000 },
      ],
    },
  },
  {
    name: 'a write rejected with StreamBufferFullError sends nothing (ring sends)',
    found: 'uring with ring sends (GALE_URING_STREAMS unset), Unix socket and TCP: after a flood of 1000-byte '
      + 'writes into maxWriteBufferSize 1024 tripped StreamBufferFullError, the reader received bytes that no '
      + 'accepted write carried (first at offset 369,096 on a socketpair): issue 16 part 2',
    program: {
      transport: 'unix', tls: false, a: { maxWriteBufferSize: 1024 }, b: {},
      steps: [
        { op: 'flood', side: 'a', size: 1000, count: 10_000 },
        { op: 'readUntilClose', side: 'b', streaming: false },
      ],
    },
  },
  {
    name: 'an idle Unix-socket stream with unread data learns of its peer\'s close',
    found: 'uring completion streams (GALE_URING_STREAMS unset or 1): b, with a close callback and one byte '
      + 'buffered that nothing asked for, never closed after a closed; epoll reports EPOLLHUP level-triggered '
      + 'and b closes at once. Fixed: a hang-up is ERROR whenever it is known (socket-transport readyEvents)',
    program: {
      transport: 'unix', tls: false, a: {}, b: {},
      steps: [
        { op: 'write', side: 'a', size: 1 },
        { op: 'close', side: 'a' },
      ],
    },
  },
  {
    name: 'a peer\'s half-close is an end of file, not a hang-up',
    found: 'with the fix above, uring completion streams took every end of file on a Unix socket for a hang-up: '
      + 'b, holding a byte nothing asked for, closed when a only half-closed (epoll: EPOLLIN|EPOLLRDHUP, no '
      + 'EPOLLHUP: b stays open). Fixed: at end of file the transport asks poll(2) for POLLHUP (uring/hangup.ts)',
    program: {
      transport: 'unix', tls: false, a: {}, b: {},
      steps: [
        { op: 'write', side: 'a', size: 1 },
        { op: 'halfClose', side: 'a' },
      ],
    },
  },
  {
    name: 'a FIN after this side\'s own half-close is a hang-up',
    found: 'uring completion streams, TCP: b holds a byte nothing asked for and shuts down its own writes; a '
      + 'sees end of file and closes; epoll reports EPOLLHUP on b (both directions shut) and b closes, while '
      + 'the ring took a TCP end of file for readable only and b stayed open. Fixed with the poll(2) check',
    program: {
      transport: 'tcp', tls: false, a: {}, b: {},
      steps: [
        { op: 'write', side: 'a', size: 1 },
        { op: 'halfClose', side: 'b' },
      ],
    },
  },
  {
    name: 'a read the stream completes as it closes on a full read buffer returns its bytes, not an error',
    found: 'every backend: readBytes(5000) with maxBufferSize 4096 read ahead past the limit, the close that '
      + 'StreamBufferFullError caused completed the read from the buffer (5000 bytes), and readBytes still threw: '
      + 'those bytes were lost, and readUntilClose returned the 1144 after them. Fixed in BaseIOStream.startRead',
    program: {
      transport: 'unix', tls: false, a: { maxBufferSize: 4096 }, b: {},
      steps: [
        { op: 'write', side: 'b', size: 300_000 },
        { op: 'readBytes', side: 'a', n: 5000, partial: false },
        { op: 'readUntilClose', side: 'a', streaming: false },
      ],
    },
  },
  {
    name: 'a reset with bytes unread: what the peer still receives is a prefix (documented exception)',
    found: 'harness: on a socketpair epoll delivered 1000 bytes then the reset, the RECV modes 20,000 (their '
      + 'read-ahead had taken the bytes the reset drops); both are prefixes of what was sent',
    program: {
      transport: 'unix', tls: false, a: {}, b: {},
      steps: [
        { op: 'flood', side: 'a', size: 1000, count: 20 },
        { op: 'write', side: 'b', size: 70_000 },
        { op: 'reset', side: 'a' },
        { op: 'readUntilClose', side: 'b', streaming: false },
      ],
    },
  },
  {
    name: 'writes to a peer that closed: accepted or refused (documented exception)',
    found: 'harness: b closed on its full read buffer during a\'s flood; on epoll a\'s sixth write failed with '
      + 'EPIPE, with ring sends eight were accepted by the send buffer and a closed on the reset',
    program: {
      transport: 'unix', tls: false, a: {}, b: { maxBufferSize: 4096 },
      steps: [
        { op: 'readUntilClose', side: 'b', streaming: false },
        { op: 'flood', side: 'a', size: 1000, count: 20 },
        { op: 'readUntilClose', side: 'a', streaming: false },
      ],
    },
  },
  {
    name: 'a write after shutdown(SHUT_WR) fails the write and closes the stream',
    found: 'uring with ring sends: the write resolved (the send buffer took it), its SEND failed with EPIPE, '
      + 'and the stream stayed open until the next write or close; epoll, poll and the RECV-only modes reject '
      + 'the write with StreamClosedError(EPIPE) and close the stream (close callbacks run). Fixed: ring sends '
      + 'refuse bytes once the socket\'s writes are shut down (Socket.writesShutDown)',
    program: {
      transport: 'unix', tls: false, a: {}, b: {},
      steps: [
        { op: 'write', side: 'a', size: 1 },
        { op: 'halfClose', side: 'a' },
        { op: 'write', side: 'a', size: 1000 },
      ],
    },
  },
  {
    name: 'a peer that half-closed, then closed, is seen closing',
    found: 'uring completion streams: b holds a byte nothing asked for; a half-closes (b gets end of file: no '
      + 'hang-up yet, as on epoll), then closes; epoll then reports EPOLLHUP and b closes at once, while b\'s '
      + 'RECV had ended at the end of file and nothing reported the later hang-up. Fixed: after an end of file '
      + 'that is not a hang-up, a multishot POLL_ADD waits for POLLHUP (socket-transport hangupOp)',
    program: {
      transport: 'unix', tls: false, a: {}, b: {},
      steps: [
        { op: 'write', side: 'a', size: 1 },
        { op: 'halfClose', side: 'a' },
        { op: 'close', side: 'a' },
      ],
    },
  },
  {
    name: 'a FIN, then this side\'s own half-close, is a hang-up',
    found: 'uring completion streams, TCP: b holds a byte nothing asked for; a closes (b: end of file, '
      + 'readable only, as on epoll); then b shuts down its own writes: epoll reports EPOLLHUP (both '
      + 'directions shut) and b closes, while the ring asked poll(2) only at the end of file and b stayed open. '
      + 'Fixed with the hang-up poll',
    program: {
      transport: 'tcp', tls: false, a: {}, b: {},
      steps: [
        { op: 'write', side: 'a', size: 1 },
        { op: 'close', side: 'a' },
        { op: 'halfClose', side: 'b' },
      ],
    },
  },
];

/**
 * Differences found and not fixed yet, each with its minimal program. The
 * random programs steer around them (program.ts `knownOpenDifference`) or
 * compare them as invariants only (compare.ts OPEN_DIFFERENCES); the spec
 * checks each still differs, so a fix is noticed and the exclusion removed.
 */
export const OPEN: Regression[] = [
  {
    name: 'writes still queued at a half-close: ring sends fail them at once',
    found: 'uring with ring sends: b floods a reader; at shutdown(SHUT_WR) the bytes in the ring\'s send buffer '
      + 'fail (EPIPE) and b closes at once, so a\'s readUntilClose ends a step earlier than on epoll, where the '
      + 'unwritten bytes wait in the stream\'s own buffer until a write attempt fails',
    program: {
      transport: 'unix', tls: false, a: {}, b: {},
      steps: [
        { op: 'readUntilClose', side: 'b', streaming: false },
        { op: 'flood', side: 'b', size: 1000, count: 10_000 },
        { op: 'halfClose', side: 'b' },
      ],
    },
  },
  {
    name: 'a stream holding much unread data learns of its peer\'s close',
    found: 'uring completion streams: a holds 256 KiB received and unread, its RECV is paused (read-ahead '
      + 'bound), and when b closes a does not close until it reads; epoll reports the hang-up and a closes at '
      + 'once (its close callback runs, its next write throws). Fixed for the RECV-only mode by the hang-up '
      + 'poll, which stands in for the paused RECV; still open with ring sends: b\'s close lingers until its '
      + 'queued SENDs are taken, which a\'s full socket buffer never allows, so b\'s fd stays open (a Unix '
      + 'socket has no sender-side kernel buffer that would keep epoll\'s close from hanging up)',
    program: {
      transport: 'unix', tls: false, a: {}, b: {},
      steps: [
        { op: 'flood', side: 'b', size: 1000, count: 400 },
        { op: 'close', side: 'b' },
        { op: 'write', side: 'a', size: 0 },
      ],
    },
  },
];
