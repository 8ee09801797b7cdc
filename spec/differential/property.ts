/**
 * The property: every backend runs a program to the same trace (./compare.ts).
 * `checkPrograms` lets fast-check generate `runs` programs from `seed`,
 * shrinks the first failing one to a minimal program, and returns a report
 * with the seed, the program (JSON, ready to paste into ./regressions.ts)
 * and what differed; null when all agree. Used by spec/differential.spec.ts
 * (a bounded number of runs) and scripts/fuzz.mjs (as many as asked).
 */
import fc from 'fast-check';
import { BackendPool } from './pool.js';
import { compareRuns } from './compare.js';
import { FULL_SHAPE, QUICK_SHAPE, programs, type Program, type ProgramShape } from './program.js';

export interface CheckOptions {
  runs: number;
  seed: number;
  /** Replays only this run (and its shrinks) of `seed`: fast-check's path, as a report prints it. */
  path?: string;
  shape?: ProgramShape;
  /** The children to run on (default: a new pool, closed at the end). */
  pool?: BackendPool;
  /** Called once per program run (shrinking included). */
  onRun?: (program: Program, problem: string | null) => void;
}

/** Runs `program` on every backend in `pool`; what differed, or null. */
export async function checkProgram(pool: BackendPool, program: Program): Promise<string | null> {
  return compareRuns(program, await pool.runAll(program));
}

/** Checks `runs` random programs; a failure report (seed, shrunk program, differences) or null. */
export async function checkPrograms(options: CheckOptions): Promise<string | null> {
  const pool = options.pool ?? new BackendPool();
  const problems = new Map<string, string>();
  try {
    const details = await fc.check(fc.asyncProperty(programs(options.shape ?? FULL_SHAPE), async (program) => {
      const problem = await checkProgram(pool, program);
      options.onRun?.(program, problem);
      if (problem !== null) problems.set(JSON.stringify(program), problem);
      return problem === null;
    }), { numRuns: options.runs, seed: options.seed, path: options.path, endOnFailure: false });
    if (!details.failed) return null;
    const program = details.counterexample![0];
    return [
      `differential: a program runs differently across backends (seed ${options.seed}, path "${details.counterexamplePath}",`,
      `shrunk ${details.numShrinks} times; replay: npm run fuzz -- --seed ${options.seed} --path ${details.counterexamplePath}${options.shape === QUICK_SHAPE ? ' --quick' : ''})`,
      `program: ${JSON.stringify(program)}`,
      problems.get(JSON.stringify(program)) ?? String(details.errorInstance),
    ].join('\n');
  } finally {
    if (options.pool === undefined) await pool.close();
  }
}
