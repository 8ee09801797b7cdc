/**
 * `npm run bench`: gale's benchmarks, each side by side with Node's own
 * machinery in the same run. See scripts/bench/README.md.
 *
 *   1. the reactor benchmark (reactor.ts): IOLoop callbacks, timers and
 *      wake-ups against Node's event loop;
 *   2. the resolver benchmark (resolvers.ts): lookups/s per resolver against
 *      dns.lookup, and TCPClient connect+close against net.connect;
 *   3. the echo benchmark (echo.ts): gale's TCPServer/IOStream echo server
 *      against a node:net one, four modes, medians over rounds;
 *   4. the TLS benchmark (tls.ts): gale's TLS echo server against a
 *      node:tls one: bulk MB/s, pipelined messages/s, handshakes/s;
 *   5. the multi-process benchmark (multiproc.ts): TCPServer.start(2)
 *      against start(1) and against node:cluster with the same workers.
 *
 * Each prints its own markdown table on stdout (progress goes to stderr).
 */
import { main as reactorMain } from './reactor.js';
import { main as resolverMain } from './resolvers.js';
import { main as echoMain } from './echo.js';
import { main as tlsMain } from './tls.js';
import { main as multiprocMain } from './multiproc.js';

async function run(): Promise<void> {
  await reactorMain();
  await resolverMain();
  await echoMain();
  await tlsMain();
  await multiprocMain();
}

run().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
