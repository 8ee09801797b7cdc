/**
 * The differential test (docs/differential.md): every backend — epoll, poll,
 * and io_uring in each stream mode — runs the same programs of stream
 * operations, each in its own child process, and must produce the same
 * trace. Replays the recorded regressions, checks the open differences are
 * still open (a fix must remove their exclusion), then runs a bounded number
 * of random programs (fast-check, shrinking a failure to a minimal program).
 *
 * Runs per suite run: DIFFERENTIAL_RUNS (default 12); seed: DIFFERENTIAL_SEED,
 * else fixed per GALE_POLLER so CI's three suite runs cover three sets.
 * `npm run fuzz -- --runs N` runs more, with new seeds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fdLeakCheck } from './helpers.js';
import { BackendPool } from './differential/pool.js';
import { checkProgram, checkPrograms } from './differential/property.js';
import { compareRuns } from './differential/compare.js';
import { OPEN, REGRESSIONS } from './differential/regressions.js';
import { QUICK_SHAPE, knownOpenDifference } from './differential/program.js';
import { BACKENDS } from './differential/backends.js';

const runs = Number(process.env.DIFFERENTIAL_RUNS ?? 12);
const seeds: Record<string, number> = { epoll: 16_1, poll: 16_2, uring: 16_3 };
const seed = Number(process.env.DIFFERENTIAL_SEED ?? seeds[process.env.GALE_POLLER ?? 'uring'] ?? 16_3);

const leaks = fdLeakCheck();
const pool = new BackendPool();

for (const regression of REGRESSIONS) {
  test(`differential regression: ${regression.name}`, async () => {
    const problem = await checkProgram(pool, regression.program);
    assert.is(problem, null, `${problem}\nprogram: ${JSON.stringify(regression.program)}\nfirst found: ${regression.found}`);
  });
}

for (const open of OPEN) {
  test(`differential, still open (fixed? move it to REGRESSIONS and drop its exclusion): ${open.name}`, async () => {
    const results = await pool.runAll(open.program);
    const problem = compareRuns(open.program, results, { maskOpen: false });
    assert.ok(problem !== null, `every backend now agrees on: ${JSON.stringify(open.program)}`);
    // What differs is a trace, never a broken invariant or a failed run.
    assert.not.match(problem, /run failed|received|never settled|left open|native regions/, problem);
  });
}

test('differential: the open differences are steered around or masked, and only they', () => {
  assert.ok(knownOpenDifference(OPEN[0]!.program) !== null, OPEN[0]!.name); // the other is masked (compare.ts)
  for (const regression of REGRESSIONS) assert.is(knownOpenDifference(regression.program), null, regression.name);
});

test(`differential: ${runs} random programs run the same on ${BACKENDS.length} backends (seed ${seed})`, async () => {
  const report = await checkPrograms({ runs, seed, shape: QUICK_SHAPE, pool });
  assert.is(report, null, report ?? '');
});

test('differential: the children exit and no fd is left', async () => {
  await pool.close();
  leaks();
});

test.run();
