/**
 * The worker thread's side of `ThreadPoolExecutor`: run one task at a time,
 * post the outcome on the reply port, then ring the executor's waker.
 *
 * The order matters: the reply is posted *before* the waker is rung, and the
 * executor drains the waker *before* it pulls replies, so a reply is never
 * left behind with no wake-up to fetch it. The wake-up goes through the
 * waker fd rather than a libuv async handle because the executor's loop may
 * be blocked in its own poller and never look at libuv (`nodeInterop: false`).
 *
 * This module runs only inside a worker thread started by the executor. It
 * imports the syscall layer through ./waker.js, which binds this thread's
 * own C functions (koffi's are per thread: see ./sys/ffi.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { wakeFd } from './waker.js';
import { packThrown, taskFunction, type JobMessage, type ReplyMessage, type WorkerInit } from './executor-task.js';

const { port, wakeFd: fd } = workerData as WorkerInit;
let uncaught: unknown = undefined;

function ring(): void {
  try {
    wakeFd(fd);
  } catch {
    // The executor is gone (its waker closed): nobody is left to tell.
  }
}

function reply(message: ReplyMessage): void {
  try {
    port.postMessage(message);
  } catch (error) {
    // The result could not be cloned; the task's caller still gets an answer.
    const id = 'id' in message ? message.id : -1;
    const why = new TypeError(`task result could not be sent back to the calling thread: ${(error as Error)?.message ?? error}`);
    if (id >= 0) port.postMessage({ id, ok: false, error: packThrown(why) } satisfies ReplyMessage);
  }
}

async function run(job: JobMessage): Promise<void> {
  let message: ReplyMessage;
  try {
    const fn = taskFunction(await import(job.module), job);
    // `await` a returned Promise here, so only settled values cross back.
    message = { id: job.id, ok: true, value: await fn(...job.args) };
  } catch (error) {
    message = { id: job.id, ok: false, error: packThrown(error) };
  }
  reply(message);
  ring();
}

// A worker dies of an uncaught error, an unhandled rejection or process.exit()
// inside a task. Node tells the executor's thread through libuv, which a loop
// with `nodeInterop: false` never looks at; so the worker reports its own
// death on the reply port and rings the waker on the way out. (A worker the
// executor terminates does not run 'exit' listeners; it needs no report.)
process.on('uncaughtExceptionMonitor', (error) => {
  uncaught = error;
});
process.on('exit', (code) => {
  reply({ exit: code, error: uncaught === undefined ? null : packThrown(uncaught) });
  ring();
});

parentPort!.on('message', (job: JobMessage) => {
  void run(job);
});
