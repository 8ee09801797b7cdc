/**
 * `npm run bench`: gale's benchmarks, each side by side with Node's own
 * machinery in the same run. See scripts/bench/README.md.
 *
 *   1. the echo benchmark (echo.ts): gale's TCPServer/IOStream echo server
 *      against a node:net one, four modes, medians over rounds.
 */
import { main as echoMain } from './echo.js';

async function run(): Promise<void> {
  await echoMain();
}

run().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
