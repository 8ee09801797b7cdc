/**
 * Tornado's demos/tcpecho/client.py (first in Tornado 4.5.0), ported line
 * for line: sends one line, prints the echo, quits.
 *
 *   node dist/scripts/examples/tcpecho-client.js [--host=localhost] [--port=9888] [--message=ping]
 */
import { IOLoop } from '../../reactor/ioloop.js';
import { TCPClient } from '../../net/tcpclient.js';
import { define, options, parseCommandLine } from './tcpecho-options.js';

define('host', 'localhost'); // TCP server host
define('port', 9888); // TCP port to connect to
define('message', 'ping'); // Message to send

async function sendMessage(): Promise<void> {
  const client = new TCPClient(); // (Tornado never closes its client; gale's owns a resolver)
  const stream = await client.connect(options.host, options.port);
  await stream.write(Buffer.from(`${options.message}\n`));
  console.log('Sent to server:', options.message);
  const reply = (await stream.readUntil('\n'))!;
  console.log('Response from server:', reply.toString().trim());
  stream.close();
  client.close();
}

parseCommandLine();
await IOLoop.current()!.runSync(sendMessage);
