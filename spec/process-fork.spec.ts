/**
 * forkProcesses / TCPServer.start(n) with real processes: a fixture program
 * (spec/fixtures/multiproc-server.ts) runs as the parent and is re-run as
 * each worker. Tornado's fork_processes semantics: workers share the
 * parent's sockets, a worker that dies abnormally is replaced with the same
 * task id, one that exits 0 is not, and the parent exits once all are done.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { Fixture, allGone, ask, askAndHold, blockedAndOther, childrenOf, fdCount, freePort } from './fixtures/multiproc-harness.js';

const FIXTURE = 'multiproc-server.js';

/** "<taskId> <pid>" → [taskId, pid] */
function parseWho(reply: string): [number, number] {
  const m = /^(\d+) (\d+)$/.exec(reply);
  if (!m) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
  return [Number(m[1]), Number(m[2])];
}

/** [taskId, pid] of a worker blocked in a callback and of the other one, which answered meanwhile (see blockedAndOther). */
async function twoAnswers(target: number | string): Promise<Array<[number, number]>> {
  return (await blockedAndOther(target)).map(parseWho);
}

/**
 * `command`'s reply, on a connection the caller then ends with `finish`: a
 * half-close, resolved once the worker's FIN has come back, i.e. once the
 * worker has closed its end and holds no fd for it any more (on io_uring a
 * stream's close goes with the loop's next enter: docs/uring.md).
 */
function askThenFinish(target: number | string, command: string): Promise<{ reply: string; finish: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = typeof target === 'number' ? connect(target, '127.0.0.1') : connect(target);
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no reply to ${command}`)); }, 20_000);
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    let reply = '';
    socket.on('error', (error) => { clearTimeout(timer); reject(error); });
    socket.on('data', (data) => {
      reply += data.toString();
      const end = reply.indexOf('\n');
      if (end < 0) return;
      resolve({
        reply: reply.slice(0, end),
        finish: () => {
          socket.end();
          return closed.finally(() => clearTimeout(timer));
        },
      });
    });
    socket.write(`${command}\n`);
  });
}

/** `twoAnswers`, with both connections closed by the workers when it resolves (see askThenFinish). */
async function twoAnswersFinished(target: number | string): Promise<Array<[number, number]>> {
  const blocked = await askThenFinish(target, 'block');
  const other = await askThenFinish(target, 'who');
  await other.finish();
  await blocked.finish();
  return [blocked.reply, other.reply].map(parseWho);
}

async function withFixture(args: string[], body: (fixture: Fixture) => Promise<void>): Promise<void> {
  const fixture = new Fixture(FIXTURE, args);
  try {
    await body(fixture);
  } finally {
    fixture.killAll();
  }
}

test('start(2): two workers share the bound port, each reply names its taskId; the parent does not serve', async () => {
  const port = await freePort();
  await withFixture(['start', '2', String(port)], async (fixture) => {
    const { parentPid } = await fixture.started(2);
    const answers = await twoAnswers(port);
    assert.equal(answers.map(([id]) => id).sort(), [0, 1]);
    const workers = fixture.readyWorkers();
    for (const [id, pid] of answers) assert.is(pid, workers.get(id), `task ${id} answered from its own process`);
    assert.not.ok(answers.some(([, pid]) => pid === parentPid));
    assert.equal(childrenOf(parentPid).sort(), [...workers.values()].sort(), 'the parent\'s children are exactly the workers');
    // Both exit cleanly: not restarted, and the parent exits 0.
    assert.match(await ask(port, 'exit 0'), /^bye [01]$/);
    assert.match(await ask(port, 'exit 0'), /^bye [01]$/);
    const { code, signal } = await fixture.exit();
    assert.is(code, 0);
    assert.is(signal, null);
    assert.is(fixture.readyCount(), 2, 'a worker that exits 0 is not restarted');
    assert.match(fixture.stderr, /exited normally/);
  });
});

test('fork: bindSockets + bindUnixSocket before forkProcesses; both are adopted, close-on-exec, nothing else inherited', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gale-mp-'));
  const path = join(dir, 'server.sock');
  try {
    await withFixture(['fork', '2', '100', path], async (fixture) => {
      const { port } = await fixture.started(2);
      // Each worker's earlier connections are closed before it lists its
      // fds: a close still on its way (the worker read the EOF in the turn
      // it answers 'fds', or not yet) would be counted (found when closes
      // on io_uring went with the loop's next enter; racy on main too).
      assert.equal((await twoAnswersFinished(port)).map(([id]) => id).sort(), [0, 1]);
      assert.equal((await twoAnswersFinished(path)).map(([id]) => id).sort(), [0, 1]);
      const fds = JSON.parse(await ask(port, 'fds')) as Array<{ fd: number; target: string; cloexec: boolean }>;
      const sockets = fds.filter((f) => f.target.startsWith('socket:'));
      // The TCP and Unix listeners, the lifeline, and this connection.
      assert.is(sockets.length, 4, JSON.stringify(fds));
      for (const fd of [3, 4, 5]) {
        const entry = fds.find((f) => f.fd === fd);
        assert.ok(entry?.target.startsWith('socket:'), `fd ${fd} is an inherited socket`);
        assert.ok(entry!.cloexec, `fd ${fd} is close-on-exec again in the worker`);
      }
      for (const f of sockets) assert.ok(f.cloexec, `socket fd ${f.fd} is close-on-exec`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The flake this pins down: the 'fork' test asked twice in a row with a
// block of 1.5 s, so its second 'who' arrived while both workers were
// blocked and went to whichever got the CPU back first (on a loaded machine,
// not always the one whose block ended first). SIGSTOP stands for a worker
// the scheduler leaves off the CPU: the connection waits for it, the blocked
// worker never takes it, and nothing depends on how long either one waits.
test('a connection arriving while one worker is blocked and the other is stopped (off the CPU) is answered by the stopped one once it runs', async () => {
  const port = await freePort();
  await withFixture(['start', '2', String(port)], async (fixture) => {
    await fixture.started(2);
    const [[, first]] = await twoAnswers(port);
    process.kill(first, 'SIGSTOP');
    let stopped = true;
    try {
      // Only the other worker runs: it takes 'block' and blocks until hung up.
      const blocked = await askAndHold(port, 'block');
      try {
        const [blockedId, blockedPid] = parseWho(blocked.reply);
        assert.is.not(blockedPid, first, 'a stopped worker accepts nothing');
        // Continued only once 'who' is queued on the listener, while no worker can accept.
        const [whoId, whoPid] = parseWho(await ask(port, 'who', undefined, () => {
          process.kill(first, 'SIGCONT');
          stopped = false;
        }));
        assert.is(whoPid, first, 'the worker that ran again answered, not the blocked one');
        assert.is.not(whoId, blockedId);
      } finally {
        blocked.hangUp();
      }
    } finally {
      if (stopped) process.kill(first, 'SIGCONT');
    }
  });
});

test('a worker killed with SIGKILL is replaced with the same taskId, and the replacement serves; the parent leaks no fd', async () => {
  const port = await freePort();
  await withFixture(['start', '2', String(port)], async (fixture) => {
    const { parentPid } = await fixture.started(2);
    const fdsBefore = fdCount(parentPid);
    const victim = fixture.readyWorkers().get(0)!;
    process.kill(victim, 'SIGKILL');
    const replacement = await fixture.until('a replacement for task 0', () => {
      const pid = fixture.readyWorkers().get(0);
      return pid !== victim && pid;
    });
    assert.match(fixture.stderr, new RegExp(`child 0 \\(pid ${victim}\\) killed by signal 9, restarting`));
    await allGone([victim]);
    // Block task 1, so task 0's replacement must answer.
    const answers = await twoAnswers(port);
    assert.equal(answers.map(([id]) => id).sort(), [0, 1]);
    assert.ok(answers.some(([id, pid]) => id === 0 && pid === replacement), 'the replacement serves');
    assert.is(fdCount(parentPid), fdsBefore, 'the parent holds as many fds as before the restart');
    assert.equal(childrenOf(parentPid).sort(), [...fixture.readyWorkers().values()].sort(), 'no zombie: only live workers');
  });
});

test('a worker that exits non-zero is restarted; past maxRestarts the parent stops the others and exits 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gale-mp-'));
  try {
    await withFixture(['fork', '2', '1', join(dir, 's.sock')], async (fixture) => {
      const { port } = await fixture.started(2);
      const workers = [...fixture.readyWorkers().values()];
      assert.match(await ask(port, 'exit 3'), /^bye [01]$/);
      await fixture.until('a restart', () => fixture.readyCount() === 3);
      assert.match(fixture.stderr, /exited with status 3, restarting/);
      assert.match(await ask(port, 'exit 4'), /^bye [01]$/);
      const { code } = await fixture.exit();
      assert.is(code, 1);
      assert.match(fixture.stderr, /Too many child restarts, giving up/);
      await allGone([...workers, ...fixture.readyWorkers().values()]);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reusePort as the alternative: each worker binds its own socket after forkProcesses', async () => {
  const port = await freePort();
  await withFixture(['reuseport', '2', String(port)], async (fixture) => {
    const { parentPid } = await fixture.started(2);
    // Each worker has its own socket, and the kernel picks one by a hash of
    // the client's address and port (blocking one worker would not steer
    // anything): 60 connections reach both (one gets none with p < 1e-17).
    const ids = new Set<number>();
    for (let i = 0; i < 60 && ids.size < 2; i++) {
      const [id, pid] = parseWho(await ask(port, 'who'));
      assert.is.not(pid, parentPid);
      ids.add(id);
    }
    assert.equal([...ids].sort(), [0, 1]);
  });
});

test('start(null) runs one worker per CPU', async () => {
  const port = await freePort();
  await withFixture(['start', 'null', String(port)], async (fixture) => {
    const { parentPid } = await fixture.started(1);
    const { availableParallelism } = await import('node:os');
    await fixture.until('one worker per CPU', () => fixture.readyWorkers().size === availableParallelism());
    assert.is(childrenOf(parentPid).length, availableParallelism());
  });
});

test.run();
