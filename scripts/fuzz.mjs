#!/usr/bin/env node
// Runs the differential test (docs/differential.md) on more programs than
// the suite does: every backend and uring mode runs each random program in
// its own child process, and the traces must agree. A failing program is
// shrunk, then printed with its seed and path (add it to
// spec/differential/regressions.ts).
//
// usage: npm run fuzz -- [--runs N] [--seed S] [--path P] [--quick]
//   --runs   programs to generate (default 200)
//   --seed   fast-check seed (default: random, printed)
//   --path   replay one failing run of --seed (from a report) and its shrinks
//   --quick  the suite's shape (short floods) instead of the full one
import { checkPrograms } from '../dist/spec/differential/property.js';
import { FULL_SHAPE, QUICK_SHAPE } from '../dist/spec/differential/program.js';

const args = process.argv.slice(2);
function option(name) {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? undefined : args[at + 1];
}
const runs = Number(option('runs') ?? 200);
const seed = Number(option('seed') ?? Math.floor(Math.random() * 2 ** 31));
const path = option('path');
if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs must be a positive integer, got ${option('runs')}`);
if (!Number.isInteger(seed)) throw new RangeError(`--seed must be an integer, got ${option('seed')}`);

process.stdout.write(`differential fuzz: ${runs} programs, seed ${seed}${path ? `, path ${path}` : ''}\n`);
let done = 0;
let failing = 0;
const started = Date.now();
const report = await checkPrograms({
  runs, seed, path, shape: args.includes('--quick') ? QUICK_SHAPE : FULL_SHAPE,
  onRun: (_program, problem) => {
    done++;
    if (problem) failing++;
    if (done % 10 === 0) process.stdout.write(`  ${done} runs (${failing} failing, shrinking included), ${Math.round((Date.now() - started) / 1000)} s\n`);
  },
});
process.stdout.write(report ? `${report}\n` : `all ${runs} programs ran the same on every backend (seed ${seed})\n`);
process.exitCode = report ? 1 : 0;
