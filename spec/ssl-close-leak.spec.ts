/**
 * A closed SSLIOStream that still had data to send keeps its fd for a while
 * (its linger: streams/ssl-iostream.ts, `TlsLinger`). The differential fuzz
 * found it could keep it for good (seed 347460342, path
 * 11:1:1:1:1:1:5:5:1:3:4:5: TLS over a Unix socketpair, a flood from each
 * side, then both closed): neither linger read, so each waited for the
 * other to make room, the 10 s bound was the only way out, and closing the
 * loop before it dropped the timer and left both fds open. Fixed: a linger
 * ends when data comes in that no one will read (Tornado's close over
 * unread data resets the connection), or when its loop closes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { moment } from '../reactor/gen.js';
import { AF_UNIX, SHUT_WR, SOCK_STREAM, socketpair } from '../reactor/sys/socket.js';
import { sslWrapSocket } from '../ssl/ssl-socket.js';
import { SSLIOStream } from '../streams/ssl-iostream.js';
import { clientContext, serverContext } from './tls-certs.js';
import { EACH_TURN, fdLeakCheck, inLoop, openFds, until } from './helpers.js';

const PIECE = Buffer.alloc(1000, 'p');
// Loop turns a linger may take to end once its peer has closed or sent data
// (one event each way; the bound only stops a hang from passing).
const TURNS = 100;

/** Both ends of a Unix socketpair as TLS streams on `loop`, handshake done (the fuzz's setup). */
async function tlsSocketPair(loop: IOLoop): Promise<[SSLIOStream, SSLIOStream]> {
  const [x, y] = socketpair(AF_UNIX, SOCK_STREAM);
  const a = new SSLIOStream(sslWrapSocket(x, clientContext(), 'localhost', { doHandshakeOnConnect: false }), { ioLoop: loop });
  const b = new SSLIOStream(sslWrapSocket(y, serverContext(), null, { serverSide: true, doHandshakeOnConnect: false }), { ioLoop: loop });
  await Promise.all([a.waitForHandshake(), b.waitForHandshake()]);
  return [a, b];
}

/** `count` writes of 1000 bytes, one loop turn apart (the fuzz's flood). */
async function flood(stream: SSLIOStream, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    stream.write(PIECE);
    await moment;
  }
}

function isOpen(fd: number): boolean {
  return openFds().has(fd);
}

test('both sides flood, neither reads, both close: both fds are closed (fuzz seed 347460342)', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async (loop) => {
    const [a, b] = await tlsSocketPair(loop);
    const fds = [a.fileno(), b.fileno()];
    await flood(b, 400);
    await flood(a, 2000);
    assert.ok(a.writing() && b.writing(), 'both wait for a peer that does not read');
    a.close();
    b.close();
    assert.ok(a.closed() && b.closed());
    await until(() => !fds.some(isOpen), () => `both fds closed (open: ${fds.filter(isOpen).join(', ')})`, { ...EACH_TURN, tries: TURNS });
  });
  leaks();
});

test('a linger ends when data comes in that no one will read (the peer writes, does not read)', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async (loop) => {
    const [a, b] = await tlsSocketPair(loop);
    const fd = a.fileno();
    await flood(a, 1000);
    a.close();
    assert.ok(isOpen(fd), 'a lingers: b may still read');
    b.write(PIECE);
    await until(() => !isOpen(fd), 'a\'s fd closed', { ...EACH_TURN, tries: TURNS });
    b.close();
  });
  leaks();
});

test('a linger to a peer that is alive but does not read ends with its loop: no fd left', async () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  let b: SSLIOStream | null = null;
  let fd = -1;
  try {
    await loop.runSync(async () => {
      let a: SSLIOStream;
      [a, b] = await tlsSocketPair(loop);
      fd = a.fileno();
      await flood(a, 1000);
      a.close();
    });
    assert.ok(isOpen(fd), 'a lingers: b may still read');
  } finally {
    loop.close();
  }
  assert.not.ok(isOpen(fd), 'closing the loop closed the lingering fd');
  // b's stream was never closed (its loop is gone): its socket is closed directly.
  b!.sslSocket.close();
  leaks();
});

for (const halfClose of [false, true]) {
  const how = halfClose ? ', after half-closing (an end of file does not end the linger)' : '';
  test(`a linger still delivers everything to a peer that reads after the close${how}`, async () => {
    const leaks = fdLeakCheck();
    await inLoop(async (loop) => {
      const [a, b] = await tlsSocketPair(loop);
      await flood(a, 1000);
      a.close();
      // An end of file without close_notify reaches a's linger, which goes on sending.
      if (halfClose) b.socket.shutdown(SHUT_WR);
      const data = (await b.readUntilClose())!;
      assert.is(data.length, 1000 * PIECE.length);
      b.close();
    });
    leaks();
  });
}

test.run();
