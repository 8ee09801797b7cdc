/**
 * docs/using.md's "use gale from your own project" example, plain JavaScript:
 * after installing gale, save this as echo.mjs and run `node echo.mjs`. It
 * starts an echo server and a client on one loop, sends a line, prints the
 * reply, and exits.
 */
import { IOLoop, TCPServer, TCPClient, StreamClosedError, bindSockets } from 'gale';

class Echo extends TCPServer {
  async handleStream(stream) {
    try {
      for (;;) await stream.write(await stream.readUntil('\n'));
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
    }
  }
}

const loop = IOLoop.current();
const server = new Echo();
const [listener] = bindSockets(0, '127.0.0.1');   // port 0: any free port
server.addSockets([listener]);
const [, port] = listener.getsockname();

const reply = await loop.runSync(async () => {
  const client = new TCPClient();
  const stream = await client.connect('127.0.0.1', port);
  await stream.write('hello from my project\n');
  const line = await stream.readUntil('\n');
  stream.close();
  client.close();
  return line.toString();
}, 10);
console.log(`echoed: ${reply.trim()}`);
server.stop();
loop.close();
