/**
 * gale's multi-process echo server for the multi-process benchmark, as a
 * Tornado user writes one:
 *
 *     server = EchoServer(); server.bind(port); server.start(n); IOLoop.current().start()
 *
 *   node dist/scripts/bench/multiproc-gale.js PORT N     (N = 1: one process, no workers)
 *
 * With N > 1 the parent only supervises; SIGTERM to it stops the workers.
 */
import { IOLoop } from '../../reactor/ioloop.js';
import { TCPServer } from '../../net/tcpserver.js';
import { StreamClosedError } from '../../streams/errors.js';
import type { IOStream } from '../../streams/iostream.js';

class EchoServer extends TCPServer {
  override async handleStream(stream: IOStream): Promise<void> {
    stream.setNodelay(true);
    try {
      for (;;) await stream.write((await stream.readBytes(65536, { partial: true }))!)!;
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
    }
  }
}

const port = Number(process.argv[2]);
const processes = Number(process.argv[3] ?? 1);
const server = new EchoServer();
server.bind(port, '127.0.0.1');
server.start(processes);
await IOLoop.current()!.start();
