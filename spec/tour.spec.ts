/**
 * `npm run tour` (scripts/tour.ts) runs as reactor/README.md describes it:
 * an echo exchange in trace mode, each iteration split into its phases, the
 * ready fds named, the echoed bytes shown, on readiness (epoll) and on
 * completion (io_uring, with what each enter submitted and completed). Run
 * in its own process, bounded in time; its loops name their pollers, so
 * GALE_POLLER does not change what it shows.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { platformPoller } from '../reactor/loop-options.js';
import { pollerGiven, withoutFallbackNotice } from './helpers.js';

const tour = fileURLToPath(new URL('../scripts/tour.js', import.meta.url));

function runTour(timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tour], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`the tour timed out:\n${stdout}\n${stderr}`)); }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** The tour's output split into its echoes: [poller, text] in order. */
function sections(stdout: string): Array<[string, string]> {
  const parts = stdout.split(/^(?==== gale tour: poller )/m).filter((p) => p.startsWith('=== gale tour'));
  return parts.map((part) => [/^=== gale tour: poller (\w+)/.exec(part)![1]!, part]);
}

test('the tour echoes a line on readiness (epoll) and on completion (io_uring), narrating each iteration phase by phase', async () => {
  const { code, stdout, stderr } = await runTour();
  assert.is(code, 0, `${stdout}\n${stderr}`);
  assert.is(withoutFallbackNotice(stderr), '', 'nothing logged beyond the annotated trace');
  // Where the kernel refuses a ring, the second echo runs on the fallback (epoll).
  const expected = process.platform === 'linux' ? ['epoll', pollerGiven('uring')] : [platformPoller()];
  const echoes = sections(stdout);
  assert.equal(echoes.map(([poller]) => poller), expected, stdout);

  for (const [poller, out] of echoes) {
    // Trace lines, each followed by its phases.
    const traces = out.match(/^\[trace\] iteration \d+: .*$/gm) ?? [];
    assert.ok(traces.length >= 2, `${poller} trace lines:\n${out}`);
    for (const phase of ['phases 1–2 (take and run)', 'phase 3 (poll): poll(', 'phase 4 (dispatch): fd ', 'phase 5 (after iteration ']) {
      assert.ok(out.includes(phase), `${poller}: missing "${phase}" in:\n${out}`);
    }

    // The ready fds: the listener reported readable, then named in phase 4;
    // the client's echo can only arrive through a poll too. (The server side
    // usually is reported readable as well, but a client that connects and
    // writes before the accept lets the server's first read find the bytes.)
    const listener = /listening socket fd (\d+)/.exec(out)?.[1];
    const client = /client fd (\d+)/.exec(out)?.[1];
    assert.ok(listener && client, out);
    assert.ok(traces.some((line) => new RegExp(`\\[[^\\]]*\\b${listener}:R`).test(line)), `${poller}: fd ${listener} never reported readable:\n${out}`);
    assert.ok(out.includes(`phase 4 (dispatch): fd ${listener} is readable: the listening socket`), out);
    assert.ok(out.includes(`phase 4 (dispatch): fd ${client} is readable: the client socket`), out);

    // The echoed bytes, on both sides.
    assert.ok(out.includes('server: readUntil resolved with "hello gale\\n" (11 bytes)'), out);
    assert.ok(out.includes('client: got the echo back: "hello gale\\n"'), out);
    assert.ok(out.includes(`echo on ${poller} complete: sent "hello gale\\n", got "hello gale\\n"`), out);
    assert.match(out, new RegExp(`loop\\.stats\\(\\) on ${poller}: \\d+ iterations, \\d+ FFI calls`));
  }

  // Completion: every iteration shows its one enter, and the echo's requests appear as CQEs.
  const ring = echoes.find(([poller]) => poller === 'uring')?.[1];
  if (ring !== undefined) {
    // (An iteration with nothing to submit or harvest may skip its enter: the wait plan's rule 6.)
    const lines = ring.match(/^ {4}below it, the ring: (1 enter submitted \d+ SQE\(s\); \d+ CQE\(s\)|no enter).*$/gm) ?? [];
    assert.is(lines.length, (ring.match(/^\[trace\] iteration /gm) ?? []).length, ring);
    const enters = lines.filter((line) => line.includes('1 enter'));
    for (const kind of ['ACCEPT', 'CONNECT', 'RECV', 'SEND']) assert.ok(enters.some((line) => line.includes(kind)), `no ${kind} CQE:\n${ring}`);
    assert.ok(ring.includes('handed over by the transport (no read(2))'), ring);
  }
  const readiness = echoes.find(([poller]) => poller === 'epoll')?.[1];
  if (readiness !== undefined) assert.not.ok(readiness.includes('below it, the ring'), 'epoll has no ring line');
});

test.run();
