/**
 * The porter's example in the README (and docs/streams.md): a TCPServer
 * subclass whose async handleStream echoes whatever arrives, as a Tornado
 * port would write it.
 *
 *   npm run build && node dist/scripts/examples/echo-server.js [port]
 *
 * It prints the address it listens on; Ctrl-C stops it.
 */
import { IOLoop, TCPServer, StreamClosedError, type IOStream } from 'gale';

class EchoServer extends TCPServer {
  override async handleStream(stream: IOStream): Promise<void> {
    try {
      for (;;) {
        const data = await stream.readBytes(65536, { partial: true });
        await stream.write(data!);
      }
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
    }
  }
}

const loop = IOLoop.current()!;
const server = new EchoServer();
server.listen(Number(process.argv[2] ?? 8888), '127.0.0.1');   // or bind(8888) + start(), or addSockets(bindSockets(...))
process.once('SIGINT', () => loop.addCallbackFromSignal(() => { server.stop(); loop.stop(); }));
console.log('echo server listening on 127.0.0.1; stop with Ctrl-C');
await loop.start();
loop.close();
