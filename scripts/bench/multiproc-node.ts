/**
 * Node's own multi-process echo server for the multi-process benchmark:
 * `node:cluster` with N workers, each a node:net echo server (the same code
 * as echo-node.ts). Cluster's default scheduling on Linux is round-robin:
 * the primary accepts every connection and passes it to a worker over IPC.
 * With NODE_CLUSTER_SCHED_POLICY=none the workers share the listening
 * socket and accept themselves, as gale's do.
 *
 *   node dist/scripts/bench/multiproc-node.js PORT N
 *
 * SIGTERM to the primary stops the workers, then the primary.
 */
import cluster from 'node:cluster';
import net from 'node:net';

const port = Number(process.argv[2]);
const processes = Number(process.argv[3] ?? 1);

if (cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
  process.on('SIGTERM', () => {
    const alive = Object.values(cluster.workers ?? {}).filter((w) => w && !w.isDead());
    if (alive.length === 0) process.exit(0);
    cluster.on('exit', () => {
      if (Object.values(cluster.workers ?? {}).every((w) => !w || w.isDead())) process.exit(0);
    });
    for (const worker of alive) worker!.process.kill('SIGTERM');
  });
} else {
  net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => { if (!socket.write(chunk)) socket.pause(); });
    socket.on('drain', () => socket.resume());
    socket.on('error', () => socket.destroy());
  }).listen(port, '127.0.0.1');
}
