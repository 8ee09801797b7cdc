/**
 * The FFI calls a short connection costs the server (issue 18's connect
 * mode: accept, echo 64 bytes, the client closes), counted exactly.
 *
 * On a readiness loop each is one syscall, and the list is the floor for a
 * stream that reads inline, writes inline and learns of the close from a
 * read: `accept4`, the first `read` (the bytes came with the connection: no
 * poll round before it), `write`, registering READ (`epoll_ctl` ADD; poll's
 * set is in JS), the `read` that sees EOF, unregistering (`epoll_ctl` DEL,
 * kept on purpose: docs/streams.md, "What a stream costs"), `close` — plus
 * one `accept4` per batch that says EAGAIN, and `setsockopt` when the
 * handler asks for TCP_NODELAY (it is not inherited unless the listener has
 * it, and the stream does not cache it: the user may change it behind its
 * back). On a uring loop the server's reads, writes and close ride in the
 * ring: it never makes more calls than the readiness count.
 *
 * Counting, not timing: every FFI call on this thread bumps `ffiCounter`;
 * the clients' calls and the poller's own waits are counted apart and
 * taken off, and what is left is the server's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { hangupChecks } from '../reactor/uring/hangup.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { moment } from '../reactor/gen.js';
import { AF_INET, SOCK_STREAM, Socket } from '../reactor/sys/socket.js';
import { bindSockets } from '../net/netutil.js';
import { TCPServer } from '../net/tcpserver.js';
import { StreamClosedError } from '../streams/errors.js';
import type { IOStream } from '../streams/iostream.js';
import { fdLeakCheck } from './helpers.js';

const CONNECTIONS = 8;
const MESSAGE = Buffer.alloc(64, 0x61);

class EchoServer extends TCPServer {
  echoed = 0;
  ended = 0;
  allEchoed = new Future<void>();
  allEnded = new Future<void>();

  constructor(private readonly nodelay: boolean) {
    super();
  }

  /** Starts a round: the Futures settle when CONNECTIONS more have been echoed and have ended. */
  nextRound(): void {
    this.echoed = this.ended = 0;
    this.allEchoed = new Future<void>();
    this.allEnded = new Future<void>();
  }

  override async handleStream(stream: IOStream): Promise<void> {
    if (this.nodelay) stream.setNodelay(true);
    try {
      for (;;) {
        const data = await stream.readBytes(65536, { partial: true })!;
        await stream.write(data)!;
        if (++this.echoed === CONNECTIONS) this.allEchoed.setResult();
      }
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
    }
    if (++this.ended === CONNECTIONS) this.allEnded.setResult();
  }
}

interface RoundCounts {
  /** The server's FFI calls in the round. */
  total: number;
  perConnection: number;
  /** What is left over (total % CONNECTIONS): calls made once per accept batch. */
  batchCalls: number;
  /** Loop callbacks the server queued in the round (the clients' waits taken off). */
  callbacks: number;
  poller: string;
}

/**
 * The server's FFI calls and loop callbacks for a round of CONNECTIONS
 * connections (the clients' calls and the poller's waits taken off). Two
 * rounds on one server: the first warms it up (the listener's registration,
 * memory the loop keeps for later sockets), the second is counted.
 */
async function serverCostsPerConnection(nodelay: boolean): Promise<RoundCounts> {
  // No Node interop: its hop would add FFI calls that belong to neither side.
  const loop = new IOLoop({ nodeInterop: false, makeCurrent: false });
  const poller = (loop as unknown as { poller: { poll(t: number): number } }).poller;
  let apart = 0; // calls that are not the server's
  let moments = 0; // the clients' waits for their echo, one loop callback each
  const client = <T>(fn: () => T): T => {
    const before = ffiCounter.calls;
    try {
      return fn();
    } finally {
      apart += ffiCounter.calls - before;
    }
  };
  // The poller's own calls (the waits) are not the server's either, but
  // for the poll(2) a ring makes there when a RECV sees end of file
  // (reactor/uring/hangup.ts): that one is the connection's.
  const poll = poller.poll.bind(poller);
  poller.poll = (timeoutMs) => {
    const checks = hangupChecks.calls;
    try {
      return client(() => poll(timeoutMs));
    } finally {
      apart -= hangupChecks.calls - checks;
    }
  };
  const server = new EchoServer(nodelay);
  server.ioLoop = loop;
  const listeners = bindSockets(0, '127.0.0.1');
  const address = listeners[0]!.getsockname();
  let clients: Socket[] = [];
  let listening = false;
  const round = async (): Promise<RoundCounts> => {
    const start = ffiCounter.calls;
    const callbacksBefore = loop.stats().callbacks;
    apart = 0;
    moments = 0;
    server.nextRound();
    // Every client is connected and has sent its message before the server
    // looks: one accept batch, and each first read finds its bytes.
    clients = client(() => Array.from({ length: CONNECTIONS }, () => {
      const socket = new Socket(AF_INET, SOCK_STREAM);
      socket.connect(address);
      socket.sendall(MESSAGE);
      socket.setBlocking(false);
      return socket;
    }));
    if (!listening) server.addSockets(listeners);
    listening = true;
    await server.allEchoed;
    // On a ring the echo reaches the kernel with the loop's next enter:
    // read it without blocking the loop.
    for (const socket of clients) {
      let echo: Buffer | null = null;
      for (let turn = 0; turn < 1000 && echo === null; turn++) {
        echo = client(() => {
          try {
            return socket.recv(64);
          } catch (error) {
            if ((error as OSError).errno !== E.EAGAIN) throw error;
            return null;
          }
        });
        if (echo === null) {
          moments++;
          await moment;
        }
      }
      assert.equal(echo, MESSAGE);
      client(() => socket.close());
    }
    await server.allEnded;
    const total = ffiCounter.calls - start - apart;
    const batchCalls = total % CONNECTIONS;
    return {
      total, perConnection: (total - batchCalls) / CONNECTIONS, batchCalls,
      callbacks: loop.stats().callbacks - callbacksBefore - moments, poller: loop.pollerName,
    };
  };
  try {
    return await loop.runSync(async () => {
      await round(); // warm-up
      return round();
    }, 20);
  } finally {
    for (const socket of clients) socket.close();
    server.stop();
    if (!listening) for (const socket of listeners) socket.close();
    loop.close();
  }
}

for (const nodelay of [false, true]) {
  test(`a short connection costs the server ${nodelay ? 'one call more with setNodelay(true)' : 'accept, read, write, register, read EOF, unregister, close'}, and no loop callback`, async () => {
    const checkFds = fdLeakCheck();
    const { total, perConnection, batchCalls, callbacks, poller } = await serverCostsPerConnection(nodelay);
    const extra = nodelay ? 1 : 0;
    if (poller === 'epoll') {
      assert.is(perConnection, 7 + extra, 'accept4, read, write, epoll_ctl ADD, read (EOF), epoll_ctl DEL, close');
      assert.is(batchCalls, 1, 'the accept4 that says EAGAIN');
    } else if (poller === 'poll') {
      assert.is(perConnection, 5 + extra, 'accept4, read, write, read (EOF), close');
      assert.is(batchCalls, 1, 'the accept4 that says EAGAIN');
    } else {
      // The ACCEPT, the RECV, the SEND and the CLOSE ride in the loop's enters.
      assert.is(perConnection, 1 + extra, 'the first read(2) (no poll(2) at a TCP EOF while this side still writes: ./reactor/uring/socket-transport.ts endOfFile; the cancels and the CLOSE go with the loop\'s next enter)');
      assert.is(batchCalls, 0, `${total} calls`);
    }
    // A handler that ends well: no loop callback (Tornado's add_future
    // callback would only call result() on a fulfilled Future).
    assert.is(callbacks, 0, 'loop callbacks');
    checkFds();
  });
}

test.run();
