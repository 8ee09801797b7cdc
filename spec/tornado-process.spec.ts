/**
 * Tornado 4.4's tornado/test/process_test.py, class SubprocessTest, ported
 * call for call (ProcessTest is fork_processes: spec/process-fork.spec.ts).
 *
 * Ported with a change, each marked where it happens:
 * - the child programs: Tornado runs `sys.executable` (Python). The suite
 *   cannot count on Python, so `python -u -i` is spec/fixtures/interactive.js
 *   (node; the same prompt `>>> `, a line evaluated per prompt, a newline
 *   and exit at end of input) driven with the JavaScript spelling of the
 *   same statements (`console.log('hello')` for `print('hello')`,
 *   `process.exit()` for `raise SystemExit`), and the `-c` one-liners are
 *   `sh -c` ones doing the same thing;
 * - the cleanups' `os.kill(subproc.pid, signal.SIGTERM)`: gale reaps a
 *   child as soon as it exits (Tornado only once an exit callback asks), so
 *   its pid may be free again by then; the cleanup signals only a child that
 *   is still running, and then closes the Subprocess (Python's garbage
 *   collector closes the pipes of a dropped Popen; JavaScript's closes no
 *   fds, and the suite checks that none is left open);
 * - skip_if_twisted / the LayeredTwistedIOLoop skip: gale has no Twisted
 *   loop, so every case runs.
 *
 * Left out: nothing in SubprocessTest.
 *
 * Besides Tornado's cases: no test may leave a child behind, running or
 * zombie (checked at the end, with the fds).
 */
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CalledProcessError, Subprocess } from '../net/subprocess.js';
import { AsyncTestCase, finishSuite, testCase } from './tornado-testing.js';
import { childProcesses } from './subprocess-helpers.js';

const SIGTERM = constants.signals.SIGTERM;
/** `sys.executable, '-u', '-i'`: an interactive interpreter (see the file comment). */
const interactive = [process.execPath, fileURLToPath(new URL('./fixtures/interactive.js', import.meta.url))];

/** The cleanup `os.kill(subproc.pid, signal.SIGTERM)`, for a child not reaped yet; then the pipes are closed. */
function terminateIfRunning(subproc: Subprocess): () => void {
  return () => {
    if (subproc.returncode === null) process.kill(subproc.pid, 'SIGTERM');
    subproc.close();
  };
}

const t = testCase('SubprocessTest', () => new AsyncTestCase());

t('test_subprocess', async (self) => {
  const subproc = new Subprocess(interactive, {
    stdin: Subprocess.STREAM,
    stdout: Subprocess.STREAM, stderr: Subprocess.STDOUT,
    ioLoop: self.ioLoop,
  });
  self.addCleanup(terminateIfRunning(subproc));
  subproc.stdout!.readUntil('>>> ', self.stop);
  await self.wait();
  subproc.stdin!.write("console.log('hello')\n");
  subproc.stdout!.readUntil('\n', self.stop);
  let data = await self.wait();
  assert.equal(data, Buffer.from('hello\n'));

  subproc.stdout!.readUntil('>>> ', self.stop);
  await self.wait();
  subproc.stdin!.write('process.exit()\n');
  subproc.stdout!.readUntilClose(self.stop);
  data = await self.wait();
  assert.equal(data, Buffer.from(''));
});

t('test_close_stdin', async (self) => {
  // Close the parent's stdin handle and see that the child recognizes it.
  const subproc = new Subprocess(interactive, {
    stdin: Subprocess.STREAM,
    stdout: Subprocess.STREAM, stderr: Subprocess.STDOUT,
    ioLoop: self.ioLoop,
  });
  self.addCleanup(terminateIfRunning(subproc));
  subproc.stdout!.readUntil('>>> ', self.stop);
  await self.wait();
  subproc.stdin!.close();
  subproc.stdout!.readUntilClose(self.stop);
  const data = await self.wait();
  assert.equal(data, Buffer.from('\n'));
});

t('test_stderr', async (self) => {
  const subproc = new Subprocess(['sh', '-c', 'echo hello >&2'], {
    stderr: Subprocess.STREAM,
    ioLoop: self.ioLoop,
  });
  self.addCleanup(terminateIfRunning(subproc));
  subproc.stderr!.readUntil('\n', self.stop);
  const data = await self.wait();
  assert.equal(data, Buffer.from('hello\n'));
});

t('test_sigchild', async (self) => {
  Subprocess.initialize(self.ioLoop);
  self.addCleanup(Subprocess.uninitialize);
  const subproc = new Subprocess(['sh', '-c', ':'], { ioLoop: self.ioLoop });
  subproc.setExitCallback(self.stop);
  const ret = await self.wait();
  assert.is(ret, 0);
  assert.is(subproc.returncode, ret);
});

t('test_sigchild_future', async (self) => {
  await self.genTest(async () => {
    Subprocess.initialize();
    self.addCleanup(Subprocess.uninitialize);
    const subproc = new Subprocess(['sh', '-c', ':']);
    const ret = await subproc.waitForExit();
    assert.is(ret, 0);
    assert.is(subproc.returncode, ret);
  });
});

t('test_sigchild_signal', async (self) => {
  Subprocess.initialize(self.ioLoop);
  self.addCleanup(Subprocess.uninitialize);
  const subproc = new Subprocess(['sleep', '30'], { ioLoop: self.ioLoop });
  subproc.setExitCallback(self.stop);
  process.kill(subproc.pid, 'SIGTERM');
  const ret = await self.wait();
  assert.is(subproc.returncode, ret);
  assert.is(ret, -SIGTERM);
});

t('test_wait_for_exit_raise', async (self) => {
  await self.genTest(async () => {
    Subprocess.initialize();
    self.addCleanup(Subprocess.uninitialize);
    const subproc = new Subprocess(['sh', '-c', 'exit 1']);
    let caught: unknown = null;
    try {
      await subproc.waitForExit();
    } catch (error) {
      caught = error;
    }
    assert.instance(caught, CalledProcessError);
    assert.is((caught as CalledProcessError).returncode, 1);
  });
});

t('test_wait_for_exit_raise_disabled', async (self) => {
  await self.genTest(async () => {
    Subprocess.initialize();
    self.addCleanup(Subprocess.uninitialize);
    const subproc = new Subprocess(['sh', '-c', 'exit 1']);
    const ret = await subproc.waitForExit(false);
    assert.is(ret, 1);
  });
});

test('no child process left behind, running or zombie', () => {
  assert.equal(childProcesses(), []);
});

finishSuite();
