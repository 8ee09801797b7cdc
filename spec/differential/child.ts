/**
 * The differential test's child process: runs programs on one backend.
 * The parent (./pool.ts) starts it with that backend's environment
 * (./backends.ts) and the backend's name as argument, then writes one JSON
 * line per program, `{ id, program }`; the child answers each with one
 * line, `{ id, trace }` or `{ id, error }`, in order. One child serves many
 * programs, so a run costs a loop, not a process.
 */
import { createInterface } from 'node:readline';
import { backendSetup, parseBackend } from './backends.js';
import { execute } from './execute.js';
import type { Program } from './program.js';

const backend = parseBackend(process.argv[2] ?? '');
const { loopOptions } = backendSetup(backend);

// Some native memory is pooled for reuse once first allocated (the ring
// CONNECT's sockaddr slots): one warm-up run per transport fills the pools
// so that the leak check of a program counts only what that program left.
for (const transport of ['unix', 'tcp'] as const) {
  for (const tls of [false, true]) {
    await execute({ transport, tls, a: {}, b: {}, steps: [{ op: 'write', side: 'a', size: 1 }, { op: 'readBytes', side: 'b', n: 1, partial: false }] }, loopOptions);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { id, program } = JSON.parse(line) as { id: number; program: Program };
  let answer: unknown;
  try {
    answer = { id, trace: await execute(program, loopOptions) };
  } catch (error) {
    answer = { id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
