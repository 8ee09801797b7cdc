/**
 * The FFI budget of DESIGN.md ("Streams"): an echo costs at most two FFI
 * calls per message (one read, one write) plus a share of the loop's poll,
 * and never churns the poll mask; and every call the server stream makes
 * moves bytes straight into or out of a JS Buffer (`ffiCounter.bufferCalls`:
 * a Buffer argument, or a read into the thread's spare read Buffer at its
 * address): no staging copy through the arena's chunk or outbox.
 *
 * Counting, not timing: every FFI call on this thread bumps `ffiCounter`
 * (the figure behind `IOLoop.stats().ffiCalls`). The echo client is a raw
 * socket whose calls are counted separately, the poller's own calls are
 * counted by wrapping it, and what is left is the server stream's.
 *
 * On a uring loop the server stream runs on completions (docs/uring.md):
 * its reads and writes ride in the loop's one io_uring_enter, so the tests
 * also check that it makes no FFI call of its own there, and that each
 * poll is exactly one enter.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { AF_UNIX, SOCK_STREAM, socketpair, type Socket } from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';
import { resolveURing } from '../reactor/loop-options.js';
import { fdLeakCheck } from './helpers.js';

interface Measure {
  messages: number;
  server: number;
  client: number;
  poll: number;
  polls: number;
  ctl: number;
  /** FFI calls made inside register/modify/unregister. */
  ctlFfi: number;
  iterations: number;
  total: number;
  /** The server's FFI calls that passed a Buffer argument (a read or write that bypassed the arena). */
  serverBufferCalls: number;
  /** The server stream runs on completions (a uring loop). */
  completion: boolean;
}

interface PollerLike {
  poll(timeoutMs: number): number;
  modify(fd: number, events: number): void;
  register(fd: number, events: number): void;
  unregister(fd: number): void;
}

/**
 * Echoes `messages` lines through an IOStream server, the client sending
 * `batch` lines per send and waiting for their echoes. The first `warmup`
 * messages (registration, the first EAGAIN) are not measured.
 */
async function echo(messages: number, batch: number, warmup: number): Promise<Measure> {
  // No Node interop: its hop would add FFI calls that belong to neither side.
  const loop = new IOLoop({ nodeInterop: false, makeCurrent: false });
  const poller = (loop as unknown as { poller: PollerLike }).poller;
  let pollFfi = 0;
  let polls = 0;
  let ctl = 0;
  let ctlFfi = 0;
  const poll = poller.poll.bind(poller);
  poller.poll = (timeoutMs) => {
    const before = ffiCounter.calls;
    try {
      return poll(timeoutMs);
    } finally {
      pollFfi += ffiCounter.calls - before;
      polls++;
    }
  };
  for (const name of ['modify', 'register', 'unregister'] as const) {
    const original = (poller[name] as (...a: number[]) => void).bind(poller);
    (poller as unknown as Record<string, unknown>)[name] = (...args: number[]) => {
      ctl++;
      const before = ffiCounter.calls;
      original(...args);
      ctlFfi += ffiCounter.calls - before;
    };
  }

  const [a, b]: [Socket, Socket] = socketpair(AF_UNIX, SOCK_STREAM);
  const server = new IOStream(a, { ioLoop: loop });
  b.setBlocking(false);
  let clientFfi = 0;
  let clientBufferCalls = 0;
  const counted = <T>(fn: () => T): T => {
    const before = ffiCounter.calls;
    const beforeBuffer = ffiCounter.bufferCalls;
    try {
      return fn();
    } finally {
      clientFfi += ffiCounter.calls - before;
      clientBufferCalls += ffiCounter.bufferCalls - beforeBuffer;
    }
  };

  const serving = (async () => {
    for (;;) {
      const line = await server.readUntil('\n')!;
      await server.write(line)!;
    }
  })().catch(() => undefined); // ends with StreamClosedError when the test closes the server

  type Snapshot = { ffi: number; buffer: number; clientBuffer: number; client: number; poll: number; polls: number; ctl: number; ctlFfi: number; iterations: number };
  let start: Snapshot | null = null;
  let end: Snapshot | null = null;
  const snapshot = (): Snapshot => ({ ffi: ffiCounter.calls, buffer: ffiCounter.bufferCalls, clientBuffer: clientBufferCalls, client: clientFfi, poll: pollFfi, polls, ctl, ctlFfi, iterations: loop.stats().iterations });
  const completion = (server as unknown as { transport: { mode: string } }).transport.mode === 'completion';
  try {
    await loop.runSync(() => new Promise<void>((resolve, reject) => {
      let sent = 0;
      let echoed = 0;
      let expected = 0;
      const sendBatch = () => {
        let text = '';
        for (let i = 0; i < batch && sent < messages; i++) text += `message number ${sent++}\n`;
        expected += Buffer.byteLength(text);
        counted(() => b.send(text));
      };
      loop.addHandler(b.fileno(), () => {
        try {
          const data = counted(() => b.recv(65536));
          expected -= data.length;
          for (const byte of data) if (byte === 0x0a) echoed++;
          if (expected > 0) return; // the rest of this batch is still on its way
          if (echoed === warmup) start = snapshot();
          if (echoed >= messages) {
            end = snapshot(); // before the teardown's own calls
            loop.removeHandler(b.fileno());
            resolve();
            return;
          }
          sendBatch();
        } catch (error) {
          reject(error);
        }
      }, IOLoop.READ);
      sendBatch();
    }), 60);
  } finally {
    server.close();
    b.close();
    await serving;
    loop.close();
  }
  const begin = start!;
  const finish = end!;
  const measured = messages - warmup;
  const total = finish.ffi - begin.ffi;
  const client = finish.client - begin.client;
  const pollCalls = finish.poll - begin.poll;
  return {
    messages: measured,
    total,
    client,
    poll: pollCalls,
    polls: finish.polls - begin.polls,
    ctl: finish.ctl - begin.ctl,
    ctlFfi: finish.ctlFfi - begin.ctlFfi,
    completion,
    // The loop's count is updated after each iteration, so this may lag by one.
    iterations: finish.iterations - begin.iterations,
    server: total - client - pollCalls,
    serverBufferCalls: (finish.buffer - begin.buffer) - (finish.clientBuffer - begin.clientBuffer),
  };
}

function report(label: string, m: Measure): void {
  if (process.env.GALE_BUDGET_REPORT) {
    process.stdout.write(`${label}: ${(m.server / m.messages).toFixed(3)} server FFI calls/message, ` +
      `${(m.polls / m.messages).toFixed(3)} polls/message, ${m.ctl} poll-mask changes (${JSON.stringify(m)})\n`);
  }
}

/** No mask churn; on completions, no FFI call of the stream's own and one enter per poll. */
function checkMasks(m: Measure): void {
  assert.is(m.serverBufferCalls, m.server, 'every read and write of the server stream passes a JS Buffer itself (no staging copy)');
  assert.is(m.ctl, 0, 'no epoll_ctl / poll-set changes in steady state (buffered lines do not toggle READ off and on)');
  assert.is(m.ctlFfi, 0);
  if (!m.completion) return;
  // uring.submit 'turn' adds one submit per turn that wrote (docs/uring.md), and
  // reads-only streams (uring.streams 'reads') one write(2) per reply: at most one per message here.
  const uring = resolveURing(); // the loop's options: the environment's defaults
  const own = uring.submit === 'turn' || uring.streams !== 'ring' ? 1 : 0.05;
  assert.ok(m.server <= own * m.messages, `the stream made ${m.server} FFI calls of its own for ${m.messages} messages`);
  assert.is(m.poll, m.polls, 'one io_uring_enter per poll');
}

test('ping-pong echo: at most 2 FFI calls per message plus polls, no mask churn', async () => {
  const check = fdLeakCheck();
  const m = await echo(3000, 1, 100);
  report('ping-pong', m);
  assert.ok(m.server <= 2 * m.messages, `${m.server} FFI calls for ${m.messages} messages`);
  checkMasks(m);
  // Each message wakes the server once and the client once.
  assert.ok(m.polls <= 2 * m.messages + 2, `${m.polls} polls for ${m.messages} messages`);
  check();
});

test('pipelined echo (16 lines per send): still within budget, no mask churn', async () => {
  const check = fdLeakCheck();
  const m = await echo(16 * 400, 16, 16 * 10);
  report('pipelined x16', m);
  assert.ok(m.server <= 2 * m.messages, `${m.server} FFI calls for ${m.messages} messages`);
  // One read per batch: well under 2 per message.
  assert.ok(m.server <= 1.25 * m.messages, `${m.server} FFI calls for ${m.messages} messages`);
  checkMasks(m);
  check();
});

test.run();
