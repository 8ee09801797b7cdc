/**
 * The node:net echo server the benchmark compares gale against: libuv's own
 * event loop, written the way a Node programmer would write it.
 *
 *   node dist/scripts/bench/echo-node.js PORT [HOST]     (HOST: 127.0.0.1)
 *
 * Each chunk is written straight back; when the socket's write buffer is
 * full (`write()` returns false) reading pauses until 'drain', so memory stays
 * bounded however fast the client sends. Nagle is off, as in gale's server.
 *
 * On SIGTERM it prints one JSON line of counters to stderr and exits.
 */
import net from 'node:net';

const port = Number(process.argv[2] ?? 0);
const host = process.argv[3] ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('usage: echo-node PORT [HOST]\n');
  process.exit(64);
}

let connections = 0;
let reads = 0;
let bytesEchoed = 0;

const server = net.createServer((socket) => {
  connections++;
  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => {
    reads++;
    bytesEchoed += chunk.length;
    if (!socket.write(chunk)) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  // allowHalfOpen is false: on the client's FIN Node ends our side after the
  // pending writes, which is what an echo server should do.
  socket.on('error', () => socket.destroy());
});

server.listen(port, host, () => {
  const address = server.address() as net.AddressInfo;
  process.stdout.write(JSON.stringify({ server: 'node:net', ready: true, port: address.port, pid: process.pid }) + '\n');
});

process.on('SIGTERM', () => {
  process.stderr.write(JSON.stringify({ server: 'node:net', connections, reads, bytesEchoed }) + '\n');
  process.exit(0);
});
