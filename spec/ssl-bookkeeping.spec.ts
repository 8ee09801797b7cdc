/**
 * Node's bookkeeping in a TLS connection (reactor/node-interop.ts,
 * `beginNodeBookkeeping`): the async ids Node's TLS objects take for write
 * requests on the pipe's `JSStream` handle, for their own handles and for
 * the nextTicks of their start and close are left out of the loop's "did
 * Node get new work" mark, so an iteration that did TLS work no longer
 * hands its turn to Node for them, nor throws away what it knows about
 * Node's next timer. Checked here, by counting (never timing):
 *
 * - what Node creates inside the bracketed calls is only such bookkeeping
 *   (and the immediate that frees an OpenSSL session, which the next wait
 *   looks for): never a Timeout or a libuv handle or request;
 * - a TLS echo and whole connections (handshake, echo, close), both ends
 *   gale, leave the mark where it was, and a connection costs the loop
 *   (almost) no hop into libuv's poll phase and no yield per iteration;
 * - what the application does is still seen while TLS traffic keeps the
 *   loop busy: a Node timer, an immediate and node:net data get their turn
 *   within a batch, and a Node timer created by an SNI callback (application
 *   code inside the engine's read, so not bookkeeping) wakes the loop.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHook } from 'node:async_hooks';
import { once } from 'node:events';
import { TURN_BATCH, type IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { asyncIdMark, inNodeBookkeeping } from '../reactor/node-interop.js';
import { CipherPipe } from '../ssl/cipher-pipe.js';
import { createDefaultContext } from '../ssl/context.js';
import { spawn } from 'node:child_process';
import { Socket } from '../reactor/sys/socket.js';
import { TCPServer } from '../net/tcpserver.js';
import { bindSockets } from '../net/netutil.js';
import { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { clientContext, connectTls, EchoTlsServer, serverContext, testCerts } from './tls-certs.js';
import { captureLogs, fdLeakCheck, inLoop } from './helpers.js';
import { FEW, longestRunTracker, NodeWork } from './node-work.js';

/** At most this many iterations for something that needs one Node turn. */

/** A TLS echo server whose `closed(n)` settles once `n` of its streams have ended. */
class CountingEchoServer extends EchoTlsServer {
  private ended = 0;
  private waiting: { count: number; future: Future<void> } | null = null;

  override async handleStream(stream: Parameters<EchoTlsServer['handleStream']>[0]): Promise<void> {
    try {
      await super.handleStream(stream);
    } finally {
      this.ended++;
      if (this.waiting !== null && this.ended >= this.waiting.count) this.waiting.future.setResult(undefined);
    }
  }

  /** Settles once `count` streams have ended (a gale Future: no Node timer to wait with). */
  closed(count: number): Future<void> {
    const future = new Future<void>();
    if (this.ended >= count) future.setResult(undefined);
    else this.waiting = { count, future };
    return future;
  }
}

/** One connection from a gale client: handshake, echo a line, close; waits for the server's end. */
async function oneConnection(server: CountingEchoServer, context: ReturnType<typeof clientContext>, nth: number): Promise<void> {
  const client = await connectTls(server.port, context);
  await client.write('hello\n');
  assert.is((await client.readUntil('\n'))!.toString(), 'hello\n');
  client.close();
  await server.closed(nth);
}

test('what Node creates inside its bracketed TLS calls is bookkeeping: write requests, ticks, its own handles, never a Timeout or libuv work', async () => {
  const leaks = fdLeakCheck();
  // Node's net.Socket#_destroy compares \`this !== process.stderr\`, and the
  // first read of that getter makes the stderr stream (a PIPEWRAP or TTYWRAP
  // handle, no new fd): once per process, wherever it happens, so inside
  // the first bracketed TLS destroy unless something read it before, and
  // gale no longer does at import (docs/memory.md). Counted as bookkeeping
  // there it is harmless (a stream's handle starts no timer); this spec
  // makes it first so that what it counts is the engine's own work.
  void process.stderr;
  const inside = new Map<string, number>();
  let lastCreated = '';
  const hook = createHook({
    init(_id, type) {
      lastCreated = type;
      if (inNodeBookkeeping()) inside.set(type, (inside.get(type) ?? 0) + 1);
    },
  });
  // Each `onwrite` outside a bracket (on io_uring, the server's flight
  // usually comes from Node's `initRead` tick) is declared as one write
  // request (`tookBookkeepingId`): check that one was created right before it.
  const notWriteRequests: string[] = [];
  const engineWrite = CipherPipe.prototype.engineWrite;
  CipherPipe.prototype.engineWrite = function (this: CipherPipe, req: object, records: Buffer[]) {
    if (!inNodeBookkeeping() && lastCreated !== 'WRITEWRAP') notWriteRequests.push(lastCreated);
    return engineWrite.call(this, req, records);
  };
  hook.enable();
  try {
    await inLoop(async () => {
      const server = new CountingEchoServer(serverContext());
      const context = clientContext();
      for (let i = 1; i <= 4; i++) await oneConnection(server, context, i);
      // A handshake that fails (the client trusts only the system's CAs): the
      // engines are destroyed with an error on one end.
      const untrusting = new CountingEchoServer(serverContext());
      const { result: failed } = await captureLogs(() => connectTls(untrusting.port, createDefaultContext()).then(() => null, (error: unknown) => error));
      assert.ok(failed !== null, 'the handshake with an untrusted certificate failed');
      await untrusting.closed(1);
      untrusting.stop();
      server.stop();
    });
  } finally {
    hook.disable();
    CipherPipe.prototype.engineWrite = engineWrite;
  }
  // PROMISE: with an async hook enabled (this spec's) every Promise takes an
  // id, gale's microtasks' too; GALE_PROBE: the bracket's own probe.
  const allowed = new Set(['WRITEWRAP', 'SHUTDOWNWRAP', 'TickObject', 'JSSTREAM', 'TLSWRAP', 'Immediate', 'PROMISE', 'GALE_PROBE']);
  const kinds = JSON.stringify(Object.fromEntries(inside));
  for (const type of inside.keys()) assert.ok(allowed.has(type), `Node created a ${type} inside a bracketed call: ${kinds}`);
  // The brackets do cover the engine's work (these are what made the loop yield).
  assert.ok((inside.get('WRITEWRAP') ?? 0) >= 4 && (inside.get('TickObject') ?? 0) >= 4 && (inside.get('TLSWRAP') ?? 0) >= 10, kinds);
  assert.equal(notWriteRequests, [], 'every engine write outside a bracket follows the creation of its write request');
  leaks();
});

test('TLS echoes and whole connections, both ends gale, leave the async-id mark as it was: a connection no longer yields per iteration, nor hops', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async (loop) => {
    const server = new CountingEchoServer(serverContext());
    const context = clientContext();
    await oneConnection(server, context, 1); // warm up
    const client = await connectTls(server.port, context);
    for (let i = 0; i < 3; i++) {
      await client.write('warm\n');
      await client.readUntil('\n');
    }
    // Round trips: nothing on Node's side changes at all.
    let mark = asyncIdMark();
    for (let i = 0; i < 20; i++) {
      await client.write(`ping ${i}\n`);
      assert.is((await client.readUntil('\n'))!.toString(), `ping ${i}\n`);
    }
    assert.is(asyncIdMark() - mark, 0, 'async ids taken by 20 TLS round trips, bookkeeping left out');
    client.close();
    await server.closed(2);
    // Connections: Node's only work of its own is the immediate that frees
    // each OpenSSL session (one per end), which ends a batch (the next wait
    // sees it queued), not the answer about Node's timers. Measured: 1–2.5
    // yields, no hop and 5 iterations per connection (the rest of the
    // yields: batches that end for other reasons, such as libuv's fd made
    // ready by V8's own tasks). Before, every iteration yielded: 5–6 yields
    // and 1–3 hops per connection here (on the benchmark's server 4.7
    // yields and 2.9 hops per resumed handshake).
    const connections = 8;
    const before = loop.stats();
    mark = asyncIdMark();
    for (let i = 0; i < connections; i++) await oneConnection(server, context, 3 + i);
    const marked = asyncIdMark() - mark;
    const after = loop.stats();
    server.stop();
    const perConnection = `${(after.yields - before.yields) / connections} yields, ${(after.hops - before.hops) / connections} hops, `
      + `${(after.iterations - before.iterations) / connections} iterations per connection; mark moved by ${marked}`;
    assert.is(marked, 0, perConnection);
    assert.ok(after.hops - before.hops <= 2, perConnection);
    assert.ok(after.yields - before.yields <= 3 * connections, perConnection);
  });
  leaks();
});

test('while TLS echoes keep the loop busy, a Node timer, an immediate and node:net data get their turn within a batch', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async (loop) => {
    const work = await NodeWork.start(loop);
    try {
      const server = new CountingEchoServer(serverContext());
      const client = await connectTls(server.port, clientContext());
      const runs = longestRunTracker(loop);
      let trips = 0;
      while (!work.allRan() || trips < 20 + 2 * TURN_BATCH) {
        if (++trips > 20_000) throw new Error(`starved: ${JSON.stringify(work.at)}`);
        await client.write('ping\n');
        await client.readUntil('\n');
        runs.sample();
        if (trips === 10) work.queue();
      }
      client.close();
      await server.closed(1);
      server.stop();
      assert.ok(runs.longest <= TURN_BATCH, `${runs.longest} iterations in one Node turn`);
      work.assertRanPromptly();
    } finally {
      work.close();
    }
  });
  leaks();
});

// The client of the SNI test, in another process (so that nothing on this
// thread's Node side changes between the gale server's wait and its read of
// the ClientHello): a plaintext STARTTLS exchange, then Node's TLS client on
// the same connection, which stays open until the server closes it.
const STARTTLS_CLIENT = `
const net = require('node:net'), tls = require('node:tls'), fs = require('node:fs');
const [port, ca] = process.argv.slice(1);
setTimeout(() => process.exit(2), 20000).unref();
const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('STARTTLS\\n'));
let got = '';
const onData = (data) => {
  got += data;
  if (!got.includes('GO\\n')) return;
  socket.off('data', onData);
  // A pause, so that the server's engine surely reads before the ClientHello comes.
  setTimeout(handshake, 100);
};
const handshake = () => {
  const secure = tls.connect({ socket, servername: 'localhost', ca: fs.readFileSync(ca), ALPNProtocols: ['echo'] });
  secure.on('error', () => process.exit(1));
  secure.on('close', () => process.exit(0));
  secure.resume();
};
socket.on('data', onData);
`;

test('SNI and ALPN callbacks (application code inside the engine\'s read) are not bracketed: a Node timer one creates wakes the waiting loop', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async (loop) => {
    const context = serverContext();
    const fired = new Future<number>();
    let armedAt = -1;
    let inOurRead = false;
    let fromNodesTurn = false;
    let refereeFirst = false;
    // Whether each callback ran inside a bracket (it must not: what it
    // creates is the application's, and must count).
    const bracketed: Record<string, boolean> = {};
    context.setAlpnSelectCallback((protocols) => {
      bracketed.alpn = inNodeBookkeeping();
      return protocols[0];
    });
    context.setServernameCallback(() => {
      bracketed.sni = inNodeBookkeeping();
      armedAt = loop.stats().iterations;
      // Where it ran: inside our read (Node 20, 22: the engine calls it
      // while it takes the ClientHello), or from a turn of Node's own with
      // no gale frame below the callback's wrapper (Node 24 calls it from a
      // native callback). Either way it must not be bracketed. The whole
      // stack: Node's TLS frames can outnumber V8's default limit of 10.
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = Infinity;
      const stack = new Error().stack!.split('\n').slice(2);
      Error.stackTraceLimit = limit;
      inOurRead = stack.some((frame) => frame.includes('readCiphertext'));
      fromNodesTurn = stack.every((frame) => !/\/dist\/(ssl|streams|reactor|net)\//.test(frame) || frame.includes('SNICallback'));
      // Unref'd, like Node's own socket timeouts: only libuv knows it.
      setTimeout(() => fired.setResult(loop.stats().iterations), 20).unref();
      // The referee: a timeout of the loop's own, far behind the Node
      // timer. Were the timer hidden, the loop would wait on its last
      // answer about Node's timers (up to a second) or this, whichever is first.
      loop.callLater(0.5, () => { if (!fired.done()) refereeFirst = true; });
      return undefined;
    });
    // STARTTLS, so that the server's engine is reading before the
    // ClientHello comes (else the pipe keeps it and hands it over from
    // Node's \`initRead\`, outside our reads): the SNI callback then runs
    // inside \`SSLSocket.readCiphertext\`, the call that would be bracketed.
    const done = new Future<void>();
    const handshaken = new Future<IOStream>();
    const server = new (class extends TCPServer {
      override async handleStream(stream: IOStream): Promise<void> {
        let secure: IOStream | null = null;
        try {
          await stream.readUntil('STARTTLS\n');
          await stream.write('GO\n');
          secure = await stream.startTls(true, context);
          handshaken.setResult(secure);
          await secure.readUntilClose();
        } catch (error) {
          if (!handshaken.done()) handshaken.setException(error);
          if (!(error instanceof StreamClosedError)) throw error;
        } finally {
          secure?.close();
          stream.close();
          done.setResult(undefined);
        }
      }
    })();
    const sockets = bindSockets(0, '127.0.0.1');
    server.addSockets(sockets);
    const port = (sockets[0]!.getsockname() as [string, number])[1];
    const child = spawn(process.execPath, ['-e', STARTTLS_CLIENT, String(port), testCerts().ca.cert], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    const firedAt = await fired;
    // The server's end closes once its handshake is done (the timer may fire before).
    (await handshaken).close();
    await done;
    server.stop();
    const [code] = await exited;
    assert.is(code, 0, 'the client completed its handshake');
    assert.ok(inOurRead || fromNodesTurn, 'the SNI callback ran inside SSLSocket.readCiphertext or from a turn of Node\'s own');
    assert.equal(bracketed, { sni: false, alpn: false });
    assert.is(refereeFirst, false, 'the Node timer fired before the loop\'s own 0.5 s timeout');
    assert.ok(firedAt - armedAt <= FEW, `${firedAt - armedAt} iterations from the SNI callback to the timer`);
  });
  leaks();
});

test.run();
