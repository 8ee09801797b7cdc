/**
 * A poller binds its wait function when it is made, not at its first wait:
 * a worker whose loop starts just as the process exits would otherwise bind
 * `poll` or `epoll_wait` while the thread terminates, which koffi cannot do
 * (it aborts the process with "FATAL ERROR: napi_throw"; seen once in a
 * whole-suite run, spec/worker-loop's idle-worker exit under poll). Checked
 * in a fresh worker thread, whose libc table starts unbound.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';

function boundAfterMaking(poller: 'poll' | 'epoll'): Promise<string[]> {
  const file = poller === 'poll' ? 'poll.js' : 'epoll.js';
  const className = poller === 'poll' ? 'PollPoller' : 'EPollPoller';
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    (async () => {
      const pollers = await import(${JSON.stringify(new URL(`../reactor/${file}`, import.meta.url).href)});
      const libc = await import(${JSON.stringify(new URL('../reactor/sys/libc.js', import.meta.url).href)});
      const poller = new pollers.${className}();
      const bound = [...libc.boundLibcFunctions()];
      poller.close();
      parentPort.postMessage(bound);
    })();
  `, { eval: true });
  return new Promise((done, fail) => {
    worker.once('message', (bound: string[]) => { void worker.terminate(); done(bound); });
    worker.once('error', fail);
  });
}

test('a poll poller has poll(2) bound before its first wait', async () => {
  const bound = await boundAfterMaking('poll');
  assert.ok(bound.includes('poll'), JSON.stringify(bound));
});

if (process.platform === 'linux') {
  test('an epoll poller has epoll_wait(2) bound before its first wait', async () => {
    const bound = await boundAfterMaking('epoll');
    assert.ok(bound.includes('epollWait'), JSON.stringify(bound));
  });
}

test.run();
