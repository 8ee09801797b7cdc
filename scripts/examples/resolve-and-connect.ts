/**
 * docs/resolvers.md's resolver and TCPClient example: resolve a name on the
 * threaded resolver, then connect to a name mapped by OverrideResolver.
 * A local Node server stands in for the remote end (gale only talks to
 * loopback here).
 *
 *   npm run build && node dist/scripts/examples/resolve-and-connect.js [port]
 */
import { createServer } from 'node:net';
import { IOLoop, TCPClient, ThreadedResolver, OverrideResolver } from 'gale';

const port = Number(process.argv[2] ?? 8888);
const received = new Promise<string>((resolve) => {
  const server = createServer((socket) => socket.on('data', (d) => { resolve(d.toString()); socket.end(); server.close(); }));
  server.listen(port, '127.0.0.1');
});

const loop = IOLoop.current()!;
await loop.runSync(async () => {
  const resolver = new ThreadedResolver();
  console.log(await resolver.resolve('localhost', 80));
  // [[2, ['127.0.0.1', 80]]], plus [10, ['::1', 80, 0, 0]] where /etc/hosts maps localhost to ::1

  const client = new TCPClient({
    resolver: new OverrideResolver({ resolver, mapping: { 'example.test': '127.0.0.1' } }),
  });
  const stream = await client.connect('example.test', port, { timeout: 5 });
  await stream.write('hello\n');
  stream.close();
  client.close();
}, 10);
console.log('server got:', JSON.stringify(await received));
loop.close();
