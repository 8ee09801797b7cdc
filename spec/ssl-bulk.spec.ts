/**
 * TLS under load: 64 MiB each way at once through one connection, intact
 * and with the bytes gale holds bounded by flow control, and many small
 * pipelined messages.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { Future } from '../reactor/future.js';
import { bindSockets } from '../net/netutil.js';
import { TCPServer } from '../net/tcpserver.js';
import type { IOStream } from '../streams/iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { connectTls, serverContext } from './tls-certs.js';
import { fdLeakCheck, inLoop } from './helpers.js';

const TOTAL = 64 * 1024 * 1024;
const PIECE = 256 * 1024;

/** Piece `i` of the stream: deterministic bytes, different per piece. */
function piece(i: number): Buffer {
  const buf = Buffer.allocUnsafe(PIECE);
  for (let j = 0; j < PIECE; j += 4) buf.writeUInt32LE((i * 2654435761 + j) >>> 0, j);
  return buf;
}

/** Sends TOTAL bytes, one awaited write per piece (flow control); returns their hash. */
async function sendAll(stream: IOStream): Promise<string> {
  const hash = createHash('sha256');
  for (let i = 0; i < TOTAL / PIECE; i++) {
    const data = piece(i);
    hash.update(data);
    await stream.write(data);
  }
  return hash.digest('hex');
}

/**
 * The bytes one TLS stream holds at this moment: its read and write buffers
 * and its SSLSocket's queues (decrypted bytes not yet taken, ciphertext not
 * yet written). Counted from the objects, not from the process's RSS, which
 * the allocator and the GC decide.
 */
function heldBytes(stream: IOStream): number {
  const held = stream as unknown as {
    readBuffer: { size: number };
    writeBuffer: { size: number };
    tls: { plainSize: number; outSize: number };
  };
  return held.readBuffer.size + held.writeBuffer.size + held.tls.plainSize + held.tls.outSize;
}

/** Receives TOTAL bytes with partial reads; returns their hash and the largest read. */
async function receiveAll(stream: IOStream): Promise<{ hash: string; largest: number }> {
  const hash = createHash('sha256');
  let received = 0;
  let largest = 0;
  while (received < TOTAL) {
    const data = (await stream.readBytes(Math.min(1 << 20, TOTAL - received), { partial: true }))!;
    hash.update(data);
    received += data.length;
    largest = Math.max(largest, data.length);
  }
  return { hash: hash.digest('hex'), largest };
}

test('64 MiB each way at once arrive intact, with the bytes held bounded', async () => {
  const leaks = fdLeakCheck();
  const streams: IOStream[] = [];
  let peakHeld = 0;
  let samples = 0;
  const sample = (): void => {
    let held = 0;
    for (const stream of streams) held += heldBytes(stream);
    peakHeld = Math.max(peakHeld, held);
    samples++;
  };
  await inLoop(async (loop) => {
    const serverDone = new Future<{ sent: string; got: { hash: string; largest: number } }>();
    class Both extends TCPServer {
      override async handleStream(stream: IOStream): Promise<void> {
        streams.push(stream);
        try {
          const [sent, got] = await Promise.all([sendAll(stream), receiveAll(stream)]);
          serverDone.setResult({ sent, got });
        } catch (error) {
          serverDone.setException(error);
        }
        stream.close();
      }
    }
    const server = new Both({ sslOptions: serverContext() });
    const sockets = bindSockets(0, '127.0.0.1');
    server.addSockets(sockets);
    const client = await connectTls((sockets[0]!.getsockname() as [string, number])[1]);
    streams.push(client);
    const sampler = setInterval(sample, 20);
    try {
      const [sent, got] = await Promise.all([sendAll(client), receiveAll(client)]);
      const server = await serverDone;
      assert.is(got.hash, server.sent);
      assert.is(server.got.hash, sent);
      assert.ok(got.largest <= 1 << 20);
    } finally {
      clearInterval(sampler);
    }
    client.close();
    server.stop();
    assert.ok(loop.stats().iterations > 0);
  }, { timeout: 120 });
  // 128 MiB moved; flow control keeps what is held at once to a few pieces:
  // each side awaits its write before the next (one 256 KiB piece queued per
  // side, 512 KiB in all in practice), and reads take at most 1 MiB at a time.
  assert.ok(samples > 0, 'the sampler ran');
  assert.ok(peakHeld <= 16 * PIECE, `${peakHeld} bytes held at once (at most ${16 * PIECE})`);
  leaks();
});

test('10000 small pipelined messages come back in order', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const accepted: IOStream[] = [];
    class Lines extends TCPServer {
      override async handleStream(stream: IOStream): Promise<void> {
        accepted.push(stream);
        try {
          for (;;) stream.write((await stream.readUntil('\n'))!);
        } catch (error) {
          if (!(error instanceof StreamClosedError)) throw error;
        }
      }
    }
    const server = new Lines({ sslOptions: serverContext() });
    const sockets = bindSockets(0, '127.0.0.1');
    server.addSockets(sockets);
    const client = await connectTls((sockets[0]!.getsockname() as [string, number])[1]);
    const count = 10000;
    for (let i = 0; i < count; i++) client.write(`message ${i}\n`);
    for (let i = 0; i < count; i++) {
      const line = (await client.readUntil('\n'))!.toString();
      if (line !== `message ${i}\n`) assert.unreachable(`got ${JSON.stringify(line)} for message ${i}`);
    }
    client.close();
    server.stop();
    for (const stream of accepted) stream.close();
  }, { timeout: 120 });
  leaks();
});

test.run();
