/**
 * Subprocess (net/subprocess.ts) and what it stands on: posix_spawn
 * (reactor/sys/spawn.ts), pidfd and waitid (reactor/sys/libc.ts), the
 * siginfo_t layout (reactor/sys/siginfo.ts) checked against the kernel, the
 * pidfd watch, closing (the Subprocess, the loop), bad arguments and exec
 * failures. The cases shared with the polling fallback are in
 * ./subprocess-cases.ts; Tornado's own tests in ./tornado-process.spec.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants } from 'node:os';
import { IOLoop } from '../reactor/ioloop.js';
import { SCRATCH, scratch } from '../reactor/sys/arena.js';
import { close as closeFd, kill, pidfdOpen, waitidChild, waitpidChild } from '../reactor/sys/libc.js';
import {
  CLD_DUMPED, CLD_EXITED, CLD_KILLED, P_PIDFD, SIGINFO_SIZE, SI_CODE, SI_PID, SI_STATUS,
  returncodeFromSiginfo, returncodeFromWaitStatus,
} from '../reactor/sys/siginfo.js';
import { spawn } from '../reactor/sys/spawn.js';
import { OSError } from '../reactor/sys/errors.js';
import { Subprocess, type SubprocessOptions } from '../net/subprocess.js';
import { captureLogs, fdLeakCheck, inLoop, thrown } from './helpers.js';
import { IGNORES_SIGTERM, defineSubprocessCases } from './subprocess-cases.js';
import { childProcesses } from './subprocess-helpers.js';

const { SIGCHLD, SIGTERM, SIGKILL } = constants.signals;
const SIGINFO = SCRATCH.SIGINFO[0];

/** Starts `args` straight through posix_spawn (no Subprocess), inheriting stdio. */
function spawnRaw(args: string[]): number {
  return spawn({ path: args[0]!, argv: args, envp: [], dup2: [[0, 0], [1, 1], [2, 2]], cwd: null });
}

/** The siginfo_t waitid left in scratch, field by field. */
function stagedSiginfo(): { pid: number; signo: number; code: number; status: number } {
  const view = scratch.view;
  return {
    signo: view.readInt32LE(SIGINFO),
    code: view.readInt32LE(SIGINFO + SI_CODE),
    pid: view.readInt32LE(SIGINFO + SI_PID),
    status: view.readInt32LE(SIGINFO + SI_STATUS),
  };
}

test('siginfo_t from waitid(P_PIDFD), as the kernel fills it: exit 3, SIGKILL, SIGTERM', () => {
  const leaks = fdLeakCheck();
  const cases: Array<[args: string[], signal: number, code: number, status: number]> = [
    [['/bin/sh', '-c', 'exit 3'], 0, CLD_EXITED, 3],
    [['/bin/sleep', '30'], SIGKILL, CLD_KILLED, SIGKILL],
    [['/bin/sleep', '30'], SIGTERM, CLD_KILLED, SIGTERM],
  ];
  for (const [args, signal, code, status] of cases) {
    const pid = spawnRaw(args);
    const pidfd = pidfdOpen(pid);
    if (signal) kill(pid, signal);
    const returncode = waitidChild(P_PIDFD, pidfd, true);
    assert.equal(stagedSiginfo(), { signo: SIGCHLD, code, pid, status }, args.join(' '));
    assert.is(returncode, code === CLD_EXITED ? status : -status);
    closeFd(pidfd);
  }
  leaks();
});

test('waitid with WNOHANG before the exit reports nothing (si_pid 0); waitpid\'s int status decodes the same', () => {
  const pid = spawnRaw(['/bin/sleep', '30']);
  const pidfd = pidfdOpen(pid);
  assert.is(waitidChild(P_PIDFD, pidfd, false), null);
  assert.is(stagedSiginfo().pid, 0);
  kill(pid, SIGTERM);
  assert.is(waitpidChild(pid, true), -SIGTERM);
  closeFd(pidfd);
  const exits = spawnRaw(['/bin/sh', '-c', 'exit 3']);
  assert.is(waitpidChild(exits, true), 3);
});

test('the decoders: CLD_DUMPED is -signal, a zero si_pid is null; wait statuses (exit, signal, core)', () => {
  const view = Buffer.alloc(SIGINFO_SIZE);
  assert.is(returncodeFromSiginfo(view, 0), null);
  view.writeInt32LE(1234, SI_PID);
  view.writeInt32LE(CLD_DUMPED, SI_CODE);
  view.writeInt32LE(6, SI_STATUS);
  assert.is(returncodeFromSiginfo(view, 0), -6);
  view.writeInt32LE(5 /* CLD_STOPPED */, SI_CODE);
  assert.throws(() => returncodeFromSiginfo(view, 0), /si_code 5/);
  assert.is(returncodeFromWaitStatus(3 << 8), 3);
  assert.is(returncodeFromWaitStatus(SIGTERM), -SIGTERM);
  assert.is(returncodeFromWaitStatus(0x80 | 6), -6, 'the core-dump bit is not part of the signal');
  assert.throws(() => returncodeFromWaitStatus((19 << 8) | 0x7f), /stopped/);
});

test('posix_spawn reports the exec\'s failure itself (ENOENT), and a dup2 of a closed fd (EBADF)', () => {
  const leaks = fdLeakCheck();
  const missing = thrown(() => spawnRaw(['/nonexistent/program']));
  assert.instance(missing, OSError);
  assert.is(missing.code, 'ENOENT');
  assert.is(missing.syscall, 'posix_spawn');
  const badFd = thrown(() => spawn({ path: '/bin/sh', argv: ['sh'], envp: [], dup2: [[999, 1]], cwd: null }));
  assert.is(badFd.code, 'EBADF');
  leaks();
});

test('a program that cannot be run fails the constructor as Popen does, leaving no fd', () => inLoop(() => {
  const leaks = fdLeakCheck();
  const dir = mkdtempSync(join(tmpdir(), 'gale-subprocess-'));
  try {
    const streams: SubprocessOptions = { stdin: Subprocess.STREAM, stdout: Subprocess.STREAM, stderr: Subprocess.STREAM };
    const bare = thrown(() => new Subprocess(['gale-no-such-program'], streams));
    assert.instance(bare, OSError);
    assert.is(bare.code, 'ENOENT');
    assert.match(bare.message, 'gale-no-such-program');
    const path = thrown(() => new Subprocess([join(dir, 'missing')], streams));
    assert.is(path.code, 'ENOENT');
    assert.match(path.message, 'missing');
    writeFileSync(join(dir, 'not-executable'), '#!/bin/sh\n');
    chmodSync(join(dir, 'not-executable'), 0o644);
    assert.is(thrown(() => new Subprocess([join(dir, 'not-executable')], streams)).code, 'EACCES');
    assert.is(thrown(() => new Subprocess(['not-executable'], { ...streams, env: { PATH: dir } })).code, 'EACCES');
    assert.is(thrown(() => new Subprocess(['sh'], { ...streams, cwd: join(dir, 'missing') })).code, 'ENOENT');
    assert.is(thrown(() => new Subprocess(['sh'], { ...streams, cwd: join(dir, 'not-executable') })).code, 'ENOTDIR');
    leaks();
  } finally {
    rmSync(dir, { recursive: true });
  }
}));

test('bad arguments are TypeError/RangeError naming the argument, and start nothing', () => inLoop(() => {
  const before = childProcesses().length;
  const cases: Array<[unknown, unknown, RegExp, ErrorConstructor]> = [
    ['ls', undefined, /args must be a non-empty array/, TypeError],
    [[], undefined, /args must be a non-empty array/, TypeError],
    [['ls', 1], undefined, /args\[1\] must be a string/, TypeError],
    [['ls\0'], undefined, /args\[0\] must not contain a NUL/, RangeError],
    [['ls'], { stdin: Subprocess.STDOUT }, /stdin must be Subprocess.STREAM, an fd number/, TypeError],
    [['ls'], { stdout: -1 }, /stdout must be/, TypeError],
    [['ls'], { stderr: 'pipe' }, /stderr must be Subprocess.STREAM, Subprocess.STDOUT/, TypeError],
    [['ls'], { shell: true }, /unknown Subprocess option "shell"/, TypeError],
    [['ls'], { env: { A: 1 } }, /env\["A"\] must be a string/, TypeError],
    [['ls'], { env: { 'A=B': 'x' } }, /invalid variable name/, RangeError],
    [['ls'], { cwd: 5 }, /cwd must be a string/, TypeError],
    [['ls'], { ioLoop: {} }, /ioLoop must be an IOLoop/, TypeError],
    [['ls'], 'stdout', /options must be an object/, TypeError],
  ];
  for (const [args, options, message, kind] of cases) {
    const error = thrown(() => new Subprocess(args as string[], options as never));
    assert.instance(error, kind, String(error));
    assert.match(error.message, message);
  }
  assert.is(childProcesses().length, before);
}));

test('closing the loop with allFds kills and reaps a running child and closes its pipes', async () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  const child = await loop.runSync(async () => {
    const started = new Subprocess(IGNORES_SIGTERM, { stdout: Subprocess.STREAM, stdin: Subprocess.STREAM, ioLoop: loop });
    assert.is((await started.stdout!.readUntil('\n'))!.toString(), 'ready\n');
    return started;
  }, 20);
  loop.close(true);
  assert.is(child.returncode, -SIGKILL);
  assert.ok(child.stdout!.closed() && child.stdin!.closed());
  assert.equal(childProcesses(), []);
  leaks();
});

test('closing the loop without allFds leaves the child to Subprocess.close(), as it leaves streams', () => {
  const leaks = fdLeakCheck();
  const loop = new IOLoop({ makeCurrent: false });
  const child = new Subprocess(['sleep', '30'], { ioLoop: loop });
  loop.close();
  assert.is(child.returncode, null);
  assert.is(childProcesses().length, 1);
  child.close();
  assert.is(child.returncode, -SIGKILL);
  assert.equal(childProcesses(), []);
  leaks();
});

test('an exception in the exit callback that close() runs is logged; close() still completes', async () => {
  const { logs } = await captureLogs(() => inLoop(() => {
    const child = new Subprocess(['sleep', '30']);
    child.setExitCallback(() => { throw new Error('exit callback failed'); });
    child.close();
    assert.is(child.returncode, -SIGKILL);
  }));
  assert.ok(logs.some(([level, text]) => level === 'error' && text.includes('exit callback failed')), JSON.stringify(logs));
  assert.equal(childProcesses(), []);
});

test('initialize() and uninitialize() exist and change nothing (no SIGCHLD handler)', () => inLoop(async (loop) => {
  const before = process.listenerCount('SIGCHLD');
  Subprocess.initialize(loop);
  Subprocess.initialize();
  assert.is(process.listenerCount('SIGCHLD'), before);
  const child = new Subprocess(['sh', '-c', 'exit 0']);
  assert.is(await child.waitForExit(), 0);
  Subprocess.uninitialize();
  Subprocess.uninitialize();
}));

defineSubprocessCases('Subprocess (pidfd)', 'pidfd').run();
test.run();
