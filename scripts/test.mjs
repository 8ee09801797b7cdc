#!/usr/bin/env node
// Runs every compiled spec file in its own process (a crash in native code
// fails one file, not the suite; fd-leak checks see one module's fds), two at
// a time, under c8 for coverage. Prints uvu's per-file result, the tests
// skipped (uvu's `test.skip`, and Tornado's `skipTest` in the ported suites,
// which uvu counts as passed), and, last, `N passed, N failed, N skipped`
// summed over the files.
//
// usage: node scripts/test.mjs [--no-coverage] [--except=PATTERN ...] [pattern ...]
// (a file runs if its name contains any pattern and no --except pattern; a
// pattern starting with ^ must start the name;
// GALE_TEST_FILE_TIMEOUT_MS
// overrides the per-file time-out, for emulated runs: scripts/arm64.sh)
import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';

const args = process.argv.slice(2);
const coverage = !args.includes('--no-coverage');
const patterns = args.filter((a) => !a.startsWith('--'));
const excepted = args.filter((a) => a.startsWith('--except=')).map((a) => a.slice('--except='.length));
const matches = (file, pattern) => (pattern.startsWith('^') ? file.startsWith(pattern.slice(1)) : file.includes(pattern));
const specDir = 'dist/spec';
const files = readdirSync(specDir)
  .filter((f) => f.endsWith('.spec.js') && (patterns.length === 0 || patterns.some((p) => matches(f, p)))
    && !excepted.some((p) => matches(f, p)))
  .sort();
const coverageDir = 'coverage/tmp';
if (coverage) rmSync('coverage', { recursive: true, force: true });

const parallel = Math.max(1, Math.min(2, availableParallelism()));
const perFileTimeoutMs = Number(process.env.GALE_TEST_FILE_TIMEOUT_MS) || 120_000;
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
const skips = [];

function runFile(file) {
  return new Promise((resolve) => {
    const env = { ...process.env, FORCE_COLOR: '0' };
    if (coverage) env.NODE_V8_COVERAGE = coverageDir;
    const child = spawn(process.execPath, ['--enable-source-maps', join(specDir, file)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += `\n[test.mjs] ${file} timed out after ${perFileTimeoutMs} ms\n`; child.kill('SIGKILL'); }, perFileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
      // spec/tornado-testing.ts prints `(skipped Class.test: reason)` for a
      // skipTest (on the line of uvu's marks), and uvu counts the test as
      // passed: count it as skipped instead.
      const skippedHere = [...out.matchAll(/\(skipped (.+?)\)\n/g)].map((m) => m[1]);
      const uvuSkipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0) - skippedHere.length;
      let bad = total - ok - skippedHere.length;
      // A file that crashed or hung counts as one failure beyond its counted ones.
      if ((code !== 0 && bad === 0) || signal) bad += 1;
      passed += ok;
      failed += bad;
      skipped += skippedHere.length + uvuSkipped;
      for (const name of skippedHere) skips.push(`${file}: ${name}`);
      if (uvuSkipped) skips.push(`${file}: ${uvuSkipped} test.skip`);
      const status = bad ? 'FAIL' : 'ok  ';
      const skipNote = skippedHere.length + uvuSkipped ? `, ${skippedHere.length + uvuSkipped} skipped` : '';
      process.stdout.write(`${status} ${file}: ${ok} passed, ${bad} failed${skipNote}\n`);
      if (bad) failures.push(`----- ${file} (exit ${code ?? signal})\n${out}`);
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(Array.from({ length: parallel }, async () => {
  while (queue.length) await runFile(queue.shift());
}));

for (const f of failures) process.stdout.write(`${f}\n`);
if (coverage) {
  await new Promise((resolve) => {
    const c8 = spawn(process.execPath, ['node_modules/c8/bin/c8.js', 'report', '--temp-directory', coverageDir,
      '--reporter=text-summary', '--reporter=json-summary', '--exclude=dist/spec/**', '--exclude=dist/scripts/**',
      // The package's bundle (scripts/bundle.mjs) is the per-file code joined: counted there, not twice.
      '--exclude=dist/bundle/**', '--exclude=spec/**', '--exclude=scripts/**'], { stdio: 'inherit' });
    c8.on('close', resolve);
  });
  const { summarize } = await import('./coverage-summary.mjs');
  summarize('coverage/coverage-summary.json');
}
for (const s of skips) process.stdout.write(`skipped ${s}\n`);
process.stdout.write(`${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = failed ? 1 : 0;
