/**
 * The "very simple (and broken) HTTP client" from Tornado's iostream page,
 * ported line for line. A local server stands in for friendfeed.com (gale
 * only ever talks to loopback); it is Node's own http server, running on
 * the same thread while gale's loop waits — Node coexistence at work.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IOLoop, IOStream, Socket, AF_INET, SOCK_STREAM } from 'gale';

// The ported client reads exactly Content-Length bytes, so the server must
// send that header (Node omits it for HTTP/1.0 requests unless told).
const body = 'Hello from a local server\n';
const server = createServer((_request, response) => {
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.end(body);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;

function sendRequest(): void {
  stream.write('GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n');
  stream.readUntil('\r\n\r\n', onHeaders);
}

function onHeaders(data: Buffer): void {
  const headers = new Map<string, string>();
  for (const line of data.toString('latin1').split('\r\n')) {
    const parts = line.split(':');
    if (parts.length === 2) headers.set(parts[0]!.trim(), parts[1]!.trim());
  }
  stream.readBytes(Number(headers.get('Content-Length')), onBody);
}

function onBody(data: Buffer): void {
  console.log(data.toString());
  stream.close();
  IOLoop.current()!.stop();
}

const s = new Socket(AF_INET, SOCK_STREAM, 0);
const stream = new IOStream(s);
stream.connect(['127.0.0.1', port], sendRequest);
await IOLoop.current()!.start();
server.close();
