/**
 * The Subprocess cases every way of watching a child must pass: run by
 * spec/subprocess.spec.ts (pidfd, the default on Linux) and by
 * spec/subprocess-poll.spec.ts (GALE_CHILD_WATCH=poll, the fallback).
 * Each case runs its own loop, checks it left no fd open, and the suite
 * ends by checking no child is left, running or zombie.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { constants } from 'node:os';
import { Worker } from 'node:worker_threads';
import { OSError } from '../reactor/sys/errors.js';
import { close as closeFd, pipe, waitpidChild } from '../reactor/sys/libc.js';
import { PipeIOStream } from '../streams/pipe-iostream.js';
import { CalledProcessError, Subprocess } from '../net/subprocess.js';
import type { ChildWatchMode } from '../net/child-watch.js';
import { captureLogs, fdLeakCheck, inLoop, rejection } from './helpers.js';
import { childProcesses } from './subprocess-helpers.js';

const { SIGTERM, SIGKILL } = constants.signals;

/** A node child that ignores SIGTERM, says so on stdout, and otherwise idles (one process, no grandchild). */
export const IGNORES_SIGTERM = [process.execPath, '-e',
  "process.on('SIGTERM', () => console.log('ignored SIGTERM')); console.log('ready'); setInterval(() => {}, 1000)"];

/** The way of watching `child` uses. */
export function watchMode(child: Subprocess): ChildWatchMode {
  return (child as unknown as { watch: { mode: ChildWatchMode } }).watch.mode;
}

async function line(stream: PipeIOStream): Promise<string> {
  return (await stream.readUntil('\n'))!.toString();
}

/** Registers the shared cases, expecting children to be watched by `mode`. */
export function defineSubprocessCases(name: string, mode: ChildWatchMode) {
  const cases = suite(name);
  // Each case must leave no fd open (checked in the case, so a failure is reported, not masked).
  const test = (title: string, body: () => unknown): void => cases(title, async () => {
    const leaks = fdLeakCheck();
    await body();
    leaks();
  });

  test(`children are watched by ${mode}`, () => inLoop(async () => {
    const child = new Subprocess(['sh', '-c', ':']);
    assert.is(watchMode(child), mode);
    assert.is(await child.waitForExit(), 0);
  }));

  test('returncode: the exit status, or -signal for SIGTERM and SIGKILL', () => inLoop(async () => {
    const exits = new Subprocess(['sh', '-c', 'exit 3']);
    const term = new Subprocess(['sleep', '30']);
    const killed = new Subprocess(['sleep', '30']);
    process.kill(term.pid, 'SIGTERM');
    process.kill(killed.pid, 'SIGKILL');
    assert.is(await exits.waitForExit(false), 3);
    assert.is(await term.waitForExit(false), -SIGTERM);
    assert.is(await killed.waitForExit(false), -SIGKILL);
    assert.equal([exits.returncode, term.returncode, killed.returncode], [3, -SIGTERM, -SIGKILL]);
  }));

  test('waitForExit rejects with CalledProcessError (returncode, cmd) on a non-zero exit', () => inLoop(async () => {
    const child = new Subprocess(['sh', '-c', 'exit 2']);
    const error = await rejection(child.waitForExit());
    assert.instance(error, CalledProcessError);
    assert.is(error.returncode, 2);
    assert.equal(error.cmd, ['sh', '-c', 'exit 2']);
    assert.is(error.message, `Command '["sh","-c","exit 2"]' returned non-zero exit status 2.`);
    const signalled = new Subprocess(['sleep', '30']);
    process.kill(signalled.pid, 'SIGTERM');
    const died = await rejection(signalled.waitForExit());
    assert.is(died.returncode, -SIGTERM);
    assert.match(died.message, `died with signal ${SIGTERM}`);
  }));

  test('an exit callback set after the exit runs on a later iteration; a second one replaces the first', () => inLoop(async (loop) => {
    const child = new Subprocess(['sh', '-c', 'exit 5']);
    assert.is(await child.waitForExit(false), 5);
    const calls: string[] = [];
    child.setExitCallback((code) => calls.push(`first ${code}`));
    child.setExitCallback((code) => calls.push(`second ${code}`));
    assert.equal(calls, [], 'not synchronously');
    await new Promise<void>((resolve) => loop.addCallback(() => loop.addCallback(resolve)));
    assert.equal(calls, ['second 5']);
  }));

  test('a child reaped behind gale\'s back (another waitpid) reports 0, as Popen does on ECHILD', () => inLoop(async () => {
    const child = new Subprocess(['sleep', '30']); // still running when the watch is set up
    process.kill(child.pid, 'SIGKILL');
    assert.is(waitpidChild(child.pid, true), -SIGKILL);
    assert.is(await child.waitForExit(), 0);
  }));

  test('an exception in the exit callback is logged and the loop goes on', async () => {
    const { logs, result } = await captureLogs(() => inLoop(async () => {
      // Wait for the throwing callback itself: the two exits may be noticed in
      // either order, and the loop must not stop (leaving this child unreaped)
      // before the callback has run.
      let called!: () => void;
      const callbackRan = new Promise<void>((resolve) => { called = resolve; });
      const child = new Subprocess(['sh', '-c', ':']);
      child.setExitCallback(() => { called(); throw new Error('callback failed'); });
      const other = new Subprocess(['sh', '-c', 'exit 4']);
      await callbackRan;
      return other.waitForExit(false);
    }));
    assert.is(result, 4);
    assert.ok(logs.some(([level, text]) => level === 'error' && text.includes('callback failed')), JSON.stringify(logs));
  });

  test('stdin, stdout and stderr as streams; STDOUT merges stderr into stdout', () => inLoop(async () => {
    const cat = new Subprocess(['cat'], { stdin: Subprocess.STREAM, stdout: Subprocess.STREAM });
    await cat.stdin!.write('through cat\n');
    assert.is(await line(cat.stdout!), 'through cat\n');
    cat.stdin!.close();
    assert.is((await cat.stdout!.readUntilClose())!.length, 0);
    assert.is(await cat.waitForExit(), 0);

    const split = new Subprocess(['sh', '-c', 'echo out; echo err >&2'], { stdout: Subprocess.STREAM, stderr: Subprocess.STREAM });
    assert.is(String(await split.stdout!.readUntilClose()), 'out\n');
    assert.is(String(await split.stderr!.readUntilClose()), 'err\n');
    const merged = new Subprocess(['sh', '-c', 'echo out; echo err >&2'], { stdout: Subprocess.STREAM, stderr: Subprocess.STDOUT });
    assert.is(merged.stderr, null);
    assert.is(String(await merged.stdout!.readUntilClose()), 'out\nerr\n');
    assert.is(await split.waitForExit(), 0);
    assert.is(await merged.waitForExit(), 0);
  }));

  test('an fd number as stdout: the child writes into this process\'s pipe', () => inLoop(async () => {
    const [r, w] = pipe();
    const reader = new PipeIOStream(r);
    const child = new Subprocess(['sh', '-c', 'echo into the pipe'], { stdout: w });
    closeFd(w); // the child has its own copy
    assert.is(String(await reader.readUntilClose()), 'into the pipe\n');
    assert.is(await child.waitForExit(), 0);
  }));

  test('env is the whole environment and its PATH finds the program; cwd is the working directory', () => inLoop(async () => {
    const env = new Subprocess(['env'], { env: { ONLY: 'this', PATH: '/usr/bin:/bin' }, stdout: Subprocess.STREAM });
    assert.equal(String(await env.stdout!.readUntilClose()).trim().split('\n').sort(), ['ONLY=this', 'PATH=/usr/bin:/bin']);
    assert.is(await env.waitForExit(), 0);
    const error = (() => { try { new Subprocess(['sh'], { env: { PATH: '/nonexistent' } }); } catch (e) { return e; } return null; })();
    assert.instance(error, OSError);
    assert.is((error as OSError).code, 'ENOENT');
    const pwd = new Subprocess(['pwd'], { cwd: '/', stdout: Subprocess.STREAM });
    assert.is(String(await pwd.stdout!.readUntilClose()), '/\n');
    assert.is(await pwd.waitForExit(), 0);
  }));

  test('the child starts clean: only fds 0-2, no signal blocked or ignored (Node ignores SIGPIPE)', () => inLoop(async () => {
    const fds = new Subprocess(['ls', '/proc/self/fd'], { stdout: Subprocess.STREAM });
    // ls's own directory fd is the 3.
    assert.equal(String(await fds.stdout!.readUntilClose()).trim().split(/\s+/), ['0', '1', '2', '3']);
    assert.is(await fds.waitForExit(), 0);
    const status = new Subprocess(['cat', '/proc/self/status'], { stdout: Subprocess.STREAM });
    const fields = Object.fromEntries(String(await status.stdout!.readUntilClose()).split('\n').map((l) => l.split(':\t')));
    assert.is(await status.waitForExit(), 0);
    assert.is(BigInt(`0x${fields.SigBlk}`), 0n, 'no signal blocked');
    assert.is(BigInt(`0x${fields.SigIgn}`) & 0x7fffffffn, 0n, 'no standard signal (1-31) ignored');
  }));

  test('close() kills a child that ignores SIGTERM, reaps it, settles waitForExit, closes the pipes', () => inLoop(async () => {
    const child = new Subprocess(IGNORES_SIGTERM, { stdin: Subprocess.STREAM, stdout: Subprocess.STREAM });
    assert.is(await line(child.stdout!), 'ready\n');
    process.kill(child.pid, 'SIGTERM');
    assert.is(await line(child.stdout!), 'ignored SIGTERM\n');
    assert.is(child.returncode, null, 'still running');
    const exit = child.waitForExit();
    child.close();
    assert.ok(exit.done(), 'close settles the Future at once');
    assert.is((await rejection(exit)).returncode, -SIGKILL);
    assert.is(child.returncode, -SIGKILL);
    assert.ok(child.stdin!.closed() && child.stdout!.closed());
    assert.equal(childProcesses().filter((c) => c.pid === child.pid), []);
    child.close(); // idempotent
  }));

  test('a loop with nodeInterop: false notices the exit', () => inLoop(async () => {
    const child = new Subprocess(['sh', '-c', 'exit 6']);
    assert.is(await child.waitForExit(false), 6);
  }, { nodeInterop: false }));

  test('a loop in a worker thread notices the exit', async () => {
    const worker = new Worker(new URL('./fixtures/worker-subprocess.js', import.meta.url));
    // Listen for the exit at once: Node may emit it in the same turn as the last message.
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const message = await new Promise<any>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the worker did not report within 20 s')), 20_000);
      worker.once('message', (m) => { clearTimeout(timer); resolve(m); });
      worker.once('error', reject);
    });
    await exited;
    assert.equal(message, { line: 'from the child\n', returncode: 7, pid: message.pid, watch: mode });
  });

  test('no child process left behind, running or zombie', () => {
    assert.equal(childProcesses(), []);
  });

  return cases;
}
