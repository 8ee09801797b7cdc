/**
 * docs/reactor.md's executor example: hash a string on a worker thread and get
 * the result back through the loop.
 *
 *   npm run build && node dist/scripts/examples/executor.js
 */
import { IOLoop, ThreadPoolExecutor, defineTask } from 'gale';

const hash = defineTask(new URL('./tasks.js', import.meta.url), 'sha256');
const pool = new ThreadPoolExecutor({ maxWorkers: 4 });
const digest = await IOLoop.current()!.runSync(() => pool.submit<string>(hash, 'some data'), 10);
pool.shutdown();
console.log(digest);   // 1307990e6ba5ca145eb35e99182a9bec46531bc54ddf656a602c780fa0240dee
