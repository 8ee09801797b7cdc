/**
 * Stopping a multi-process server: SIGTERM or SIGINT to the parent stops
 * every worker and the parent dies of that signal, leaving no process
 * behind; a parent killed outright (SIGKILL) takes its workers with it
 * through the lifeline pipe.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Fixture, allGone, ask, childrenOf, freePort, processExists } from './fixtures/multiproc-harness.js';

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to the parent stops all workers; the parent exits by ${signal}; no process is left`, async () => {
    const port = await freePort();
    const fixture = new Fixture('multiproc-server.js', ['start', '2', String(port)]);
    try {
      const { parentPid } = await fixture.started(2);
      const workers = [...fixture.readyWorkers().values()];
      assert.equal(childrenOf(parentPid).sort(), workers.sort());
      assert.match(await ask(port, 'who'), /^[01] \d+$/);
      process.kill(parentPid, signal);
      const { code, signal: died } = await fixture.exit();
      assert.is(died, signal, `exit code ${code}`);
      // The parent waited for its workers: they are gone (reaped, not zombies).
      for (const pid of workers) assert.not.ok(processExists(pid), `worker ${pid} is gone`);
      assert.is(fixture.readyCount(), 2, 'no worker was restarted while stopping');
    } finally {
      fixture.killAll();
    }
  });
}

test('SIGKILL to the parent: the workers see the lifeline close and stop themselves', async () => {
  const port = await freePort();
  const fixture = new Fixture('multiproc-server.js', ['start', '2', String(port)]);
  try {
    const { parentPid } = await fixture.started(2);
    const workers = [...fixture.readyWorkers().values()];
    process.kill(parentPid, 'SIGKILL');
    await fixture.exit();
    await allGone(workers);
  } finally {
    fixture.killAll();
  }
});

test.run();
