/**
 * docs/using.md's bulk example ("Bulk transfers"): an echo server that
 * reads with `readInto` into one Buffer per connection, so no chunk it
 * moves is fresh memory, and a TCPClient that sends it 8 MiB and checks
 * what comes back.
 *
 *   npm run build && node dist/scripts/examples/bulk-echo.js [port]
 */
import { randomBytes } from 'node:crypto';
import { IOLoop, StreamClosedError, TCPClient, TCPServer, type IOStream } from 'gale';

class BulkEchoServer extends TCPServer {
  override async handleStream(stream: IOStream): Promise<void> {
    const buffer = Buffer.allocUnsafeSlow(65536); // this connection's one read buffer
    try {
      for (;;) {
        const n = await stream.readInto(buffer, true); // partial: what has arrived, up to 64 KiB
        await stream.write(buffer.subarray(0, n)); // resolved: the bytes are taken, the buffer is free again
      }
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
    }
  }
}

const port = Number(process.argv[2] ?? 8889);
const loop = IOLoop.current()!;
const server = new BulkEchoServer();
server.listen(port, '127.0.0.1');
await loop.runSync(async () => {
  const client = new TCPClient();
  const stream = await client.connect('127.0.0.1', port);
  const payload = randomBytes(8 << 20);
  const [, back] = await Promise.all([stream.write(payload), stream.readBytes(payload.length)]);
  console.log(`echoed ${payload.length >> 20} MiB, intact: ${back!.equals(payload)}`);
  stream.close();
  client.close();
}, 30);
server.stop();
loop.close();
