/**
 * Tornado's demos/tcpecho/server.py (first in Tornado 4.5.0), ported line
 * for line: an echo server whose `handleStream` is a coroutine.
 *
 *   node dist/scripts/examples/tcpecho-server.js [--port=9888] [--address=]
 *
 * Two changes: `--address` (default '' = every interface, as
 * `server.listen(port)` binds) lets the suite stay on loopback; and
 * `server.listen(port)` is written as what it does, `bindSockets` then
 * `addSockets`, so the log line can give the real port when `--port=0`
 * asks the kernel for a free one.
 */
import { IOLoop } from '../../reactor/ioloop.js';
import { StreamClosedError } from '../../streams/errors.js';
import type { IOStream } from '../../streams/iostream.js';
import { TCPServer } from '../../net/tcpserver.js';
import { bindSockets } from '../../net/netutil.js';
import type { Address } from '../../reactor/sys/socket.js';
import { define, getLogger, options, parseCommandLine } from './tcpecho-options.js';

define('port', 9888); // TCP port to listen on
define('address', '');
const logger = getLogger('server');

class EchoServer extends TCPServer {
  override async handleStream(stream: IOStream, address: Address): Promise<void> {
    for (;;) {
      try {
        let data = (await stream.readUntil('\n'))!;
        logger.info('Received bytes: %s', data.toString('latin1'));
        if (!data.toString('latin1').endsWith('\n')) data = Buffer.concat([data, Buffer.from('\n')]);
        await stream.write(data);
      } catch (e) {
        if (e instanceof StreamClosedError) {
          logger.warning('Lost client at host %s', (address as [string, number])[0]);
          break;
        }
        console.log(e);
      }
    }
  }
}

parseCommandLine();
const server = new EchoServer();
const sockets = bindSockets(options.port, options.address); // server.listen(options.port)
server.addSockets(sockets);
logger.info('Listening on TCP port %d', (sockets[0]!.getsockname() as [string, number])[1]);
await IOLoop.current()!.start();
