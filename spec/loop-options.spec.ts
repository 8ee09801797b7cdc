/**
 * Loop options (reactor/loop-options.ts): the backend and the io_uring modes
 * are options of each loop, the GALE_* variables only their defaults, so two
 * loops in one process run different backends and modes side by side; bad
 * values are refused with a typed error naming the option, before the loop
 * acquires anything. And the transport each loop hands a stream or a
 * listener (reactor/transport.ts) follows its options.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop, type IOLoopOptions } from '../reactor/ioloop.js';
import { DEFAULT_SEND_BUDGET, resolveBackend, resolveURing } from '../reactor/loop-options.js';
import { AF_INET, AF_UNIX, SOCK_NONBLOCK, SOCK_STREAM, Socket, socketpair } from '../reactor/sys/socket.js';
import { addAcceptHandler } from '../net/netutil.js';
import { IOStream } from '../streams/iostream.js';
import { fdLeakCheck, pollerGiven } from './helpers.js';

const linux = process.platform === 'linux';

function transportOf(stream: IOStream): { mode: string; ringSends?: boolean } {
  return (stream as unknown as { transport: { mode: string; ringSends?: boolean } }).transport;
}

/** An echo over a socketpair on `loop`; returns the server side's transport. */
async function echoOn(loop: IOLoop): Promise<{ mode: string; ringSends?: boolean }> {
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
  const server = new IOStream(a, { ioLoop: loop });
  const client = new IOStream(b, { ioLoop: loop });
  try {
    const reply = await loop.runSync(async () => {
      const line = server.readUntil('\n')!;
      await client.write('ping\n');
      await server.write(await line);
      return client.readUntil('\n')!;
    }, 10);
    assert.is(reply.toString(), 'ping\n');
    return transportOf(server);
  } finally {
    server.close();
    client.close();
  }
}

test('two loops in one process run different backends and io_uring modes side by side', async () => {
  if (!linux) return;
  const check = fdLeakCheck();
  const made: Array<[IOLoopOptions, IOLoop]> = [];
  const options: IOLoopOptions[] = [
    { poller: 'uring', uring: { streams: 'ring' } },
    { poller: 'epoll' },
    { poller: 'uring', uring: { streams: 'reads' } },
    { poller: 'poll' },
    { poller: 'uring', uring: { streams: 'readiness' } },
  ];
  try {
    for (const option of options) made.push([option, new IOLoop({ ...option, makeCurrent: false, nodeInterop: false })]);
    // All open at once; each echo runs on its own loop, in turn.
    for (const [option, loop] of made) {
      const transport = await echoOn(loop);
      const onRing = loop.pollerName === 'uring' && option.uring?.streams !== 'readiness';
      assert.is(transport.mode, onRing ? 'completion' : 'readiness', JSON.stringify(option));
      if (onRing) assert.is(transport.ringSends, option.uring?.streams === 'ring', JSON.stringify(option));
    }
    // (Where the kernel refuses a ring, the uring loops are on the fallback.)
    assert.equal(made.map(([, loop]) => loop.pollerName), ['uring', 'epoll', 'uring', 'poll', 'uring'].map(pollerGiven));
  } finally {
    for (const [, loop] of made) loop.close();
  }
  check();
});

test('a listener accepts through the ring only where the loop says so (uring.accept), and never when shared', async () => {
  if (!linux) return;
  const check = fdLeakCheck();
  for (const accept of [true, false]) {
    const loop = new IOLoop({ poller: 'uring', uring: { accept }, makeCurrent: false, nodeInterop: false });
    const sock = new Socket(AF_INET, SOCK_STREAM);
    try {
      sock.bind(['127.0.0.1', 0]);
      sock.listen(8);
      sock.setBlocking(false);
      const listener = loop.transportFor(sock.fileno(), { kind: 'listener', nonblocking: true, shared: false });
      assert.is(listener.mode, accept && loop.pollerName === 'uring' ? 'completion' : 'readiness');
      listener.release();
      const shared = loop.transportFor(sock.fileno(), { kind: 'listener', nonblocking: true, shared: true });
      assert.is(shared.mode, 'readiness', 'a listener shared with sibling processes stays on readiness');
      // And through addAcceptHandler, a connection either way.
      const got: Socket[] = [];
      const remove = addAcceptHandler(sock, (conn) => got.push(conn), loop);
      const client = new Socket(AF_INET, SOCK_STREAM);
      try {
        client.connect(sock.getsockname());
        await loop.runSync(async () => {
          for (let i = 0; i < 200 && got.length === 0; i++) await new Promise((r) => loop.callLater(0.005, r));
        }, 5);
        assert.is(got.length, 1, `accept: ${accept}`);
      } finally {
        remove();
        client.close();
        for (const conn of got) conn.close();
      }
    } finally {
      sock.close();
      loop.close();
    }
  }
  check();
});

test('the options win over the environment, which is only their default (GALE_* digits or names)', () => {
  const env = { GALE_POLLER: 'poll', GALE_TRACE: '1', GALE_URING_STREAMS: '1', GALE_URING_ACCEPT: '0', GALE_URING_PIPES: '0', GALE_URING_CONNECT: '0', GALE_URING_SUBMIT: 'turn', GALE_URING_QUIET_SENDS: '0', GALE_URING_DIRECT_SENDS: '0' };
  assert.equal(resolveBackend({}, env), {
    poller: 'poll', trace: true,
    uring: { streams: 'reads', pipes: false, accept: false, connect: false, submit: 'turn', sendBudget: DEFAULT_SEND_BUDGET, quietSends: false, directSends: false },
  });
  assert.equal(resolveBackend({ poller: 'epoll', trace: false, uring: { streams: 'ring', pipes: true, accept: true, connect: true, submit: 'enter', sendBudget: 1024, quietSends: true, directSends: true } }, env), {
    poller: 'epoll', trace: false,
    uring: { streams: 'ring', pipes: true, accept: true, connect: true, submit: 'enter', sendBudget: 1024, quietSends: true, directSends: true },
  });
  assert.equal(resolveURing({}, {}), { streams: 'ring', pipes: true, accept: true, connect: true, submit: 'enter', sendBudget: DEFAULT_SEND_BUDGET, quietSends: true, directSends: true });
  for (const [value, mode] of [['0', 'readiness'], ['1', 'reads'], ['2', 'ring'], ['readiness', 'readiness'], ['reads', 'reads'], ['ring', 'ring']]) {
    assert.is(resolveURing({}, { GALE_URING_STREAMS: value }).streams, mode, value);
  }
});

test('bad options: a typed error naming the option, and nothing acquired', () => {
  const check = fdLeakCheck();
  const cases: Array<[IOLoopOptions, typeof TypeError | typeof RangeError, RegExp]> = [
    [{ poller: 'select' as 'poll' }, TypeError, /poller/],
    [{ trace: 1 as unknown as boolean }, TypeError, /trace/],
    [{ uring: 'fast' as never }, TypeError, /uring/],
    [{ uring: { streams: 'all' as 'ring' } }, TypeError, /uring\.streams/],
    [{ uring: { accept: 'no' as unknown as boolean } }, TypeError, /uring\.accept/],
    [{ uring: { quietSends: 1 as unknown as boolean } }, TypeError, /uring\.quietSends/],
    [{ uring: { directSends: 'yes' as unknown as boolean } }, TypeError, /uring\.directSends/],
    [{ uring: { submit: 'now' as 'turn' } }, TypeError, /uring\.submit/],
    [{ uring: { sendBudget: -1 } }, RangeError, /uring\.sendBudget/],
    [{ uring: { sendBudget: 1.5 } }, RangeError, /uring\.sendBudget/],
  ];
  for (const [options, type, message] of cases) {
    assert.throws(() => new IOLoop({ ...options, makeCurrent: false }), (e: Error) => e instanceof type && message.test(e.message), JSON.stringify(options));
  }
  assert.is(IOLoop.current(false), null);
  check();
});

test.run();
