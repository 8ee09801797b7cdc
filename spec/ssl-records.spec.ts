/**
 * How a TLS server's records reach the peer: the records the engine makes
 * while fed after the handshake (a TLS 1.3 server's session tickets) wait
 * for the server's reply and go out with it — or alone once the engine's
 * write cycle ends, when the server has nothing to say.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Future } from '../reactor/future.js';
import { withTimeout } from '../reactor/gen.js';
import { bindSockets } from '../net/netutil.js';
import { TCPServer } from '../net/tcpserver.js';
import { StreamClosedError } from '../streams/errors.js';
import type { IOStream } from '../streams/iostream.js';
import { serverContext, testCerts } from './tls-certs.js';
import { fdLeakCheck, inLoop } from './helpers.js';

const certs = testCerts();

/** A node:tls client that sends `message` (if any) and collects sessions and data until `until` holds. */
function nodeClient(port: number, message: string | null, until: (got: { sessions: number; data: string }) => boolean): Promise<{ sessions: number; data: string; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    const got = { sessions: 0, data: '' };
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(certs.ca.cert), maxVersion: 'TLSv1.3' }, () => {
      if (message !== null) socket.write(message);
    });
    const check = (): void => {
      if (until(got)) resolve({ ...got, socket });
    };
    socket.on('session', () => { got.sessions++; check(); });
    socket.on('data', (d: Buffer) => { got.data += d.toString(); check(); });
    socket.on('error', reject);
  });
}

test('a silent TLS 1.3 server still sends its session tickets (held records go out when the write cycle ends)', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const closed = new Future<void>();
    class Silent extends TCPServer {
      override async handleStream(stream: IOStream): Promise<void> {
        // Reads, never writes: the tickets the client's Finished provokes have no reply to ride on.
        try {
          for (;;) await stream.readBytes(1024, { partial: true });
        } catch (error) {
          if (!(error instanceof StreamClosedError)) throw error;
        }
        closed.setResult(undefined);
      }
    }
    const server = new Silent({ sslOptions: serverContext() });
    const sockets = bindSockets(0, '127.0.0.1');
    server.addSockets(sockets);
    const port = (sockets[0]!.getsockname() as [string, number])[1];
    const result = await withTimeout({ seconds: 10 }, nodeClient(port, 'ping', (got) => got.sessions >= 1));
    assert.ok(result.sessions >= 1);
    assert.is(result.socket.getProtocol(), 'TLSv1.3');
    result.socket.destroy();
    await withTimeout({ seconds: 10 }, closed);
    server.stop();
  });
  leaks();
});

test('a TLS 1.3 server that replies: the tickets and the reply both arrive, in order, on each of several connections', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const allClosed = new Future<void>();
    let closedCount = 0;
    class Echo extends TCPServer {
      override async handleStream(stream: IOStream): Promise<void> {
        try {
          for (;;) await stream.write((await stream.readBytes(1024, { partial: true }))!);
        } catch (error) {
          if (!(error instanceof StreamClosedError)) throw error;
        }
        if (++closedCount === 5) allClosed.setResult(undefined);
      }
    }
    const server = new Echo({ sslOptions: serverContext() });
    const sockets = bindSockets(0, '127.0.0.1');
    server.addSockets(sockets);
    const port = (sockets[0]!.getsockname() as [string, number])[1];
    for (let i = 0; i < 5; i++) {
      const message = `hello ${i}`;
      const result = await withTimeout({ seconds: 10 }, nodeClient(port, message, (got) => got.sessions >= 1 && got.data.length >= message.length));
      assert.is(result.data, message);
      result.socket.destroy();
    }
    await withTimeout({ seconds: 10 }, allClosed);
    server.stop();
  });
  leaks();
});

test.run();
