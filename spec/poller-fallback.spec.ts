/**
 * The fallback from a refused io_uring: what most containers get (Docker's
 * and containerd's default seccomp profiles refuse io_uring_setup with
 * EPERM; qemu-user and old kernels answer ENOSYS). The default poller is
 * then epoll, one log line says why, and nothing is left open. Runs on
 * every host: the GALE_URING_REFUSE test hook makes the refusal where the
 * kernel would give a ring, and under qemu (scripts/arm64.sh) the kernel
 * refuses for real. docs/containers.md.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { EPollPoller } from '../reactor/epoll.js';
import { createPoller } from '../reactor/pollers.js';
import { openURingPoller, refusedSetupFromEnv, resetFallbackNotice } from '../reactor/uring/probe.js';
import { Ring } from '../reactor/uring/ring.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { captureLogs, fdLeakCheck, pollerGiven, ringRefused } from './helpers.js';

test('fallback: a refused setup (ENOSYS, EPERM, EINVAL) gives epoll and one log line saying why, and no fd', async () => {
  for (const [errno, word] of [[E.ENOSYS, 'ENOSYS'], [E.EPERM, 'EPERM'], [E.EINVAL, 'EINVAL']] as const) {
    resetFallbackNotice();
    const check = fdLeakCheck();
    const { result, logs } = await captureLogs(() => {
      const first = openURingPoller(() => new EPollPoller(), { setup: () => -errno });
      const second = openURingPoller(() => new EPollPoller(), { setup: () => -errno });
      return [first, second];
    });
    assert.is(result[0]!.name, 'epoll');
    assert.is(result[1]!.name, 'epoll');
    assert.is(logs.length, 1, JSON.stringify(logs));
    assert.is(logs[0]![0], 'warn');
    assert.match(logs[0]![1], word);
    assert.match(logs[0]![1], 'using epoll instead');
    for (const p of result) p.close();
    check();
  }
});

test('a failure that is not a refusal (ENOMEM) is thrown, not hidden behind epoll', () => {
  const check = fdLeakCheck();
  assert.throws(() => openURingPoller(() => new EPollPoller(), { setup: () => -E.ENOMEM }), (e: OSError) => e.code === 'ENOMEM');
  check();
});

test('GALE_URING_REFUSE: EPERM, ENOSYS, EINVAL or EACCES; empty is off; anything else is a TypeError naming it', () => {
  assert.is(refusedSetupFromEnv(''), undefined);
  for (const name of ['EPERM', 'ENOSYS', 'EINVAL', 'EACCES'] as const) {
    assert.is(refusedSetupFromEnv(name)!(8, 0), -E[name], name);
  }
  for (const bad of ['eperm', 'EBADF', '1']) {
    assert.throws(() => refusedSetupFromEnv(bad), (e: Error) => e instanceof TypeError && e.message.includes('GALE_URING_REFUSE'), bad);
  }
});

test('the default poller agrees with what io_uring_setup says on this host', () => {
  const check = fdLeakCheck();
  let refusal: number | undefined;
  try {
    new Ring({ sqEntries: 2, setup: refusedSetupFromEnv() }).close();
  } catch (error) {
    if (!(error instanceof OSError)) throw error;
    refusal = error.errno;
  }
  assert.is(ringRefused, refusal !== undefined, `io_uring_setup: ${refusal ?? 'a ring'}`);
  const poller = createPoller('uring');
  try {
    assert.is(poller.name, pollerGiven('uring'));
    assert.is(poller.name, refusal === undefined ? 'uring' : 'epoll');
  } finally {
    poller.close();
  }
  check();
});

/**
 * A program run with GALE_URING_REFUSE=`errno`: two default loops, each
 * echoing over a socket pair, then closed. It prints its pollers and the fds
 * it had open before and after, as JSON on stdout.
 */
const PROGRAM = `
import { readdirSync, readlinkSync } from 'node:fs';
const { IOLoop } = await import(${JSON.stringify(new URL('../reactor/ioloop.js', import.meta.url).href)});
const { IOStream } = await import(${JSON.stringify(new URL('../streams/iostream.js', import.meta.url).href)});
const { socketpair } = await import(${JSON.stringify(new URL('../reactor/sys/socket.js', import.meta.url).href)});
// Every fd with its target, less the listing's own and Node's lazily opened /dev ones.
const fds = () => readdirSync('/proc/self/fd').flatMap((fd) => {
  try {
    const target = readlinkSync('/proc/self/fd/' + fd);
    return target.startsWith('/dev/') ? [] : [fd + ' -> ' + target];
  } catch { return []; }
}).sort().join(', ');
const before = fds();
const pollers = [];
for (let i = 0; i < 2; i++) {
  const loop = new IOLoop({ makeCurrent: false });
  pollers.push(loop.pollerName);
  const echoed = await loop.runSync(async () => {
    const [a, b] = socketpair();
    const left = new IOStream(a, { ioLoop: loop });
    const right = new IOStream(b, { ioLoop: loop });
    await left.write(Buffer.from('ping\\n'));
    const line = (await right.readUntil(Buffer.from('\\n'))).toString();
    left.close();
    right.close();
    return line;
  }, 10);
  if (echoed !== 'ping\\n') throw new Error('echo: ' + JSON.stringify(echoed));
  loop.close();
}
process.stdout.write(JSON.stringify({ pollers, before, after: fds() }));
`;

async function runRefused(errno: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROGRAM], {
    env: { ...process.env, GALE_URING_REFUSE: errno, GALE_POLLER: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = await once(child, 'close') as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

for (const [errno, why] of [['EPERM', 'seccomp'], ['ENOSYS', 'kernel without io_uring']] as const) {
  test(`a program whose ring is refused with ${errno}: every loop on epoll, the one line once, no fd left`, async () => {
    const { code, stdout, stderr } = await runRefused(errno);
    assert.is(code, 0, stderr);
    const result = JSON.parse(stdout) as { pollers: string[]; before: string; after: string };
    assert.equal(result.pollers, ['epoll', 'epoll']);
    assert.is(result.after, result.before, 'the fds open after both loops closed are those open before');
    const lines = stderr.trimEnd().split('\n');
    assert.is(lines.length, 1, stderr);
    assert.match(lines[0]!, `[W tornado.general] io_uring: `);
    assert.match(lines[0]!, `(${errno}: `);
    assert.match(lines[0]!, why);
    assert.match(lines[0]!, 'using epoll instead (GALE_POLLER=epoll skips the probe)');
  });
}

test('GALE_URING_REFUSE with a bad value fails the first default loop with a TypeError naming it', async () => {
  const { code, stderr } = await runRefused('EBADF');
  assert.is.not(code, 0);
  assert.match(stderr, 'TypeError: GALE_URING_REFUSE must be one of ENOSYS, EPERM, EINVAL, EACCES');
});

test.run();
