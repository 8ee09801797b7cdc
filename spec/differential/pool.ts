/**
 * One child process per backend (./child.ts), kept for many programs:
 * `runAll(program)` sends a program to every child and resolves with the
 * traces, keyed by backend. `close()` ends the children.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { BACKENDS, backendSetup, type Backend } from './backends.js';
import type { Program } from './program.js';
import type { Trace } from './execute.js';

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

/** A trace, or why the run did not finish (an exception, a crash). */
export type RunResult = { trace: Trace } | { error: string };

class Worker {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, (result: RunResult) => void>();
  private stderr = '';
  private nextId = 0;
  // The child exited and its stdio streams closed ('close').
  private closed = false;

  constructor(readonly backend: Backend) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [name, value] of Object.entries(backendSetup(backend).env)) {
      if (value === undefined) delete env[name];
      else env[name] = value;
    }
    this.child = spawn(process.execPath, ['--enable-source-maps', CHILD, backend], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d) => { this.stderr = (this.stderr + d).slice(-4000); });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const { id, ...result } = JSON.parse(line) as { id: number } & RunResult;
      this.waiting.get(id)?.(result);
      this.waiting.delete(id);
    });
    this.child.on('close', () => { this.closed = true; });
    this.child.on('exit', (code, signal) => {
      for (const resolve of this.waiting.values()) resolve({ error: `${backend} child exited (${code ?? signal}): ${this.stderr}` });
      this.waiting.clear();
    });
  }

  run(program: Program): Promise<RunResult> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        resolve({ error: `${this.backend} child is gone: ${this.stderr}` });
        return;
      }
      this.waiting.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ id, program })}\n`);
    });
  }

  /**
   * Ends the child and resolves once its stdio is closed too: 'close', not
   * 'exit', which on Node 24 can come while the stdio sockets are still
   * open (the spec's fd check then saw one of them as a leak).
   */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.child.on('close', () => resolve());
      this.child.stdin!.end();
    });
  }
}

/** The children, one per backend in `backends`. */
export class BackendPool {
  private readonly workers: Worker[];

  constructor(backends: readonly Backend[] = BACKENDS) {
    this.workers = backends.map((backend) => new Worker(backend));
  }

  /** Runs `program` on every backend; the results in BACKENDS order. */
  async runAll(program: Program): Promise<Map<Backend, RunResult>> {
    const results = await Promise.all(this.workers.map((worker) => worker.run(program)));
    return new Map(this.workers.map((worker, i) => [worker.backend, results[i]!]));
  }

  /** Ends every child (each finishes the program it is running). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.close()));
  }
}
