/**
 * `npm start`: a line-based chat server on gale's reactor.
 *
 *   nc 127.0.0.1 8888        # in two or more terminals, then type lines
 *
 * It shows the pieces a Tornado port uses most: a TCPServer subclass, an
 * async handleStream reading lines with readUntil (with a maxBytes limit),
 * writes to many streams, and a clean Ctrl-C shutdown through
 * addCallbackFromSignal.
 *
 *   npm start                       # port 8888
 *   npm start -- --port 9000        # or PORT=9000 npm start, or a bare 9000; 0 picks a free port
 *
 * A member who stops reading is dropped once 256 KiB of chat is waiting
 * for them (the server's maxWriteBufferSize), so one silent client cannot
 * grow the server's memory without bound. A busy port is one clear line
 * and exit code 1.
 */
import { IOLoop } from '../reactor/ioloop.js';
import { TCPServer } from '../net/tcpserver.js';
import { bindSockets } from '../net/netutil.js';
import type { IOStream } from '../streams/iostream.js';
import { StreamBufferFullError, StreamClosedError, UnsatisfiableReadError } from '../streams/errors.js';
import type { Address } from '../reactor/sys/sockaddr.js';
import { OSError } from '../reactor/sys/errors.js';

const MAX_LINE = 4096;
/** Chat waiting for one member, in bytes, before that member is dropped. */
const MAX_PENDING_CHAT = 256 * 1024;

function describe(address: Address): string {
  return typeof address === 'string' ? address || 'unix-peer' : `${address[0]}:${address[1]}`;
}

/** Everyone connected hears every line anyone sends. */
class ChatServer extends TCPServer {
  private readonly clients = new Map<IOStream, string>();

  override async handleStream(stream: IOStream, address: Address): Promise<void> {
    const name = describe(address);
    this.clients.set(stream, name);
    this.send(stream, `Welcome to gale chat, ${name}. ${this.clients.size - 1} other(s) here. Type a line and press Enter.\n`);
    this.broadcast(`* ${name} joined\n`, stream);
    try {
      for (;;) {
        const line = (await stream.readUntil('\n', { maxBytes: MAX_LINE })!).toString('utf8').trimEnd();
        if (line) this.broadcast(`<${name}> ${line}\n`, stream);
      }
    } catch (error) {
      // A closed connection ends the session; a line over MAX_LINE closes it (and is logged by the stream).
      if (!(error instanceof StreamClosedError || error instanceof UnsatisfiableReadError)) throw error;
    } finally {
      this.clients.delete(stream);
      this.broadcast(`* ${name} left\n`);
    }
  }

  /** Closes every client connection (used on shutdown). */
  closeAll(): void {
    for (const stream of this.clients.keys()) stream.close();
  }

  private broadcast(message: string, except?: IOStream): void {
    for (const stream of this.clients.keys()) if (stream !== except) this.send(stream, message);
  }

  // A reader too slow to keep up would make its write buffer grow without
  // bound: the stream's maxWriteBufferSize refuses the write, and we drop it.
  private send(stream: IOStream, message: string): void {
    if (stream.closed()) return;
    try {
      stream.write(message);
    } catch (error) {
      if (error instanceof StreamBufferFullError) stream.close();
      else if (!(error instanceof StreamClosedError)) throw error;
    }
  }
}

/** `--port N`, `--port=N`, a bare `N`, or `PORT`; 8888 by default. */
function chosenPort(argv: string[]): number {
  const flag = argv.findIndex((a) => a === '--port' || a.startsWith('--port='));
  const text = flag >= 0 ? (argv[flag]!.includes('=') ? argv[flag]!.split('=')[1] : argv[flag + 1])
    : argv.find((a) => /^\d+$/.test(a)) ?? process.env.PORT ?? '8888';
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`gale chat: invalid port ${JSON.stringify(text)} (expected 0-65535)`);
    process.exit(1);
  }
  return port;
}

const port = chosenPort(process.argv.slice(2));
const loop = IOLoop.current()!;
const server = new ChatServer({ maxBufferSize: 1024 * 1024, maxWriteBufferSize: MAX_PENDING_CHAT });
let sockets;
try {
  sockets = bindSockets(port, '127.0.0.1');
} catch (error) {
  if (!(error instanceof OSError && (error.code === 'EADDRINUSE' || error.code === 'EACCES'))) throw error;
  const why = error.code === 'EADDRINUSE' ? 'is already in use' : 'needs privileges';
  console.error(`gale chat: port ${port} on 127.0.0.1 ${why}; pick another with --port N (or PORT=N)`);
  process.exit(1);
}
server.addSockets(sockets);
// The handler is in place before the banner, so a Ctrl-C right after it is a clean stop.
process.once('SIGINT', () => {
  loop.addCallbackFromSignal(() => {
    console.log('\nshutting down');
    server.stop();
    server.closeAll();
    loop.stop();
  });
});
const bound = sockets[0]!.getsockname() as [string, number];
console.log(`gale chat server on ${bound[0]}:${bound[1]} (poller: ${loop.pollerName})`);
console.log(`join with: nc ${bound[0]} ${bound[1]}    stop with: Ctrl-C`);

await loop.start();
loop.close();
