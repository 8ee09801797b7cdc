/**
 * Several worker threads using gale's FFI layer at once: binding and calling
 * fresh C functions, and starting children. Each case runs a fixture as its
 * own Node process: a crash must fail the case, not end the suite, and the
 * FFI library must be loaded first by the workers (the main thread never
 * imports gale there).
 *
 * Regression tests of thread safety: under ffi-rs, gale's former FFI
 * library, one unlocked process-wide symbol table made these crash (heap
 * corruption, SIGSEGV, hangs). koffi keeps library handles and prepared
 * functions per thread (docs/ffi.md, "Threads").
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { collect, fdLeakCheck } from './helpers.js';
import { childProcesses } from './subprocess-helpers.js';

const WORKERS = 4;

/** Runs a fixture with `args` in a fresh Node process (killed after 60 s: a hang fails too); its exit code, stdout+stderr. */
async function runFixture(name: string, args: number[]): Promise<{ code: number | null; signal: string | null; out: string }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(`./fixtures/${name}.js`, import.meta.url)), ...args.map(String)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collect(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await output.exited;
  clearTimeout(timer);
  return { code, signal: child.signalCode, out: output.text() };
}

/** The JSON line a fixture printed last, after checking it exited cleanly and warned of nothing. */
function report(run: { code: number | null; signal: string | null; out: string }): any {
  assert.is(run.signal, null, `the fixture process died of ${run.signal}:\n${run.out}`);
  assert.is(run.code, 0, run.out);
  return JSON.parse(run.out.trim().split('\n').at(-1)!);
}

let leaks: () => void;
test.before.each(() => { leaks = fdLeakCheck(); });
test.after.each(() => leaks());

// Under ffi-rs, 4 workers × 3000 fresh names crashed most runs (8000: every
// run); the check is probabilistic, a run that survives reports the counts.
test('several workers load the FFI layer, bind and call fresh functions at once', async () => {
  const names = 8000; // per worker, every 10th one libc lacks
  const result = report(await runFixture('workers-first-calls', [WORKERS, names]));
  assert.equal(result, { workers: WORKERS, calls: WORKERS * names * 9 / 10, wrong: 0, missing: WORKERS * names / 10 });
});

// The case as it was found under ffi-rs (about one process in 40 crashed or
// hung): each worker's first child is its thread's first posix_spawn.
test('several workers import gale and start children at the same moment', async () => {
  const children = 3;
  const { results } = report(await runFixture('workers-spawn', [WORKERS, children]));
  assert.is(results.length, WORKERS);
  for (const { lines, returncodes } of results) {
    assert.equal(lines, Array.from({ length: children }, (_, i) => `child ${i}\n`));
    assert.equal(returncodes, Array(children).fill(7));
  }
  assert.equal(childProcesses(), [], 'no child left, running or zombie');
});

test.run();
