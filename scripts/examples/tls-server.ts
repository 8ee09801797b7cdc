/**
 * docs/tls.md's TLS server: a line echo server over TLS, ported the way a
 * Tornado app passes `ssl_options` to its server.
 *
 *   npm run build && node dist/scripts/examples/tls-server.js server.pem server.key [port]
 *
 * It prints the address it listens on, and stops cleanly on SIGINT/SIGTERM.
 */
import { IOLoop, TCPServer, bindSockets, StreamClosedError, type IOStream } from 'gale';

const [certfile, keyfile, port = '8443'] = process.argv.slice(2);
if (!certfile || !keyfile) {
  console.error('usage: tls-server.js CERTFILE KEYFILE [PORT]');
  process.exit(2);
}

class EchoServer extends TCPServer {
  override async handleStream(stream: IOStream): Promise<void> {
    try {
      for (;;) {
        const line = await stream.readUntil('\n');
        await stream.write(`echo: ${line!.toString()}`);
      }
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
    }
  }
}

// Tornado: TCPServer(ssl_options={"certfile": ..., "keyfile": ...})
const server = new EchoServer({ sslOptions: { certfile, keyfile } });
const sockets = bindSockets(Number(port), '127.0.0.1');
server.addSockets(sockets);
console.log(`TLS echo server on 127.0.0.1:${(sockets[0]!.getsockname() as [string, number])[1]}`);

const loop = IOLoop.current()!;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => loop.addCallbackFromSignal(() => { server.stop(); loop.stop(); }));
}
await loop.start();
loop.close(true);
