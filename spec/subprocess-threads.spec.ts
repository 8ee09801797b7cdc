/**
 * Several worker threads starting children at once. Each case runs a
 * fixture as its own Node process: only a fresh process has C functions
 * nobody has called yet (the race was on those first calls), and a crash
 * must fail the case, not end the suite.
 *
 * The cause, found and fixed in reactor/sys/ffi.ts: ffi-rs caches symbols in
 * one unlocked process-wide map on a function's first call, so first calls
 * from several threads at once corrupted it. gale's `bind()` on the main
 * thread now makes that first lookup itself (docs/ffi.md, "Threads"), and a
 * function first bound in a worker is warned about.
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
  assert.not.match(run.out, 'GALE_FFI_UNPRIMED', 'no symbol was first bound in a worker');
  return JSON.parse(run.out.trim().split('\n').at(-1)!);
}

let leaks: () => void;
test.before.each(() => { leaks = fdLeakCheck(); });
test.after.each(() => leaks());

// Without the fix this crashed 8 runs in 8 here (probabilistic, if
// likely); with it, none: see the fixture's comment for why and the numbers.
test('several workers make first calls of main-thread-bound functions at once', async () => {
  const names = 8000; // per worker
  const result = report(await runFixture('workers-first-calls', [WORKERS, names]));
  assert.equal(result, { workers: WORKERS, missing: WORKERS * names, primed: true });
});

// The case as it was found: each worker's first child is the process's
// first posix_spawn. Without the fix about one process in 40 crashed or
// hung, so this case alone would rarely catch it; the `unprimed` list does
// deterministically (every function of the spawn path must be in ffi-rs's
// table before the workers start).
test('several workers start children at the same moment', async () => {
  const children = 3;
  const { results } = report(await runFixture('workers-spawn', [WORKERS, children]));
  assert.is(results.length, WORKERS);
  for (const { lines, returncodes, unprimed } of results) {
    assert.equal(unprimed, [], 'the spawn path was bound (and its symbols looked up) on the main thread');
    assert.equal(lines, Array.from({ length: children }, (_, i) => `child ${i}\n`));
    assert.equal(returncodes, Array(children).fill(7));
  }
  assert.equal(childProcesses(), [], 'no child left, running or zombie');
});

test('a function first bound in a worker thread is warned about, once', async () => {
  const run = await runFixture('worker-unprimed', []);
  assert.is(run.code, 0, run.out);
  const warnings = run.out.split('\n').filter((line) => line.includes('GALE_FFI_UNPRIMED'));
  assert.is(warnings.length, 1, run.out);
  assert.match(warnings[0]!, 'gale binds getppid() first in a worker thread');
});

test.run();
