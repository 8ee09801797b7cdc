/**
 * `npm run tour` (scripts/tour.ts) runs as reactor/README.md describes it:
 * an echo exchange in trace mode, each iteration split into its phases, the
 * ready fds named, the echoed bytes shown. Run in its own process, bounded
 * in time, under whichever poller the suite uses (GALE_POLLER is inherited).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultPollerName, withoutFallbackNotice } from './helpers.js';

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

test('the tour echoes a line and narrates each iteration phase by phase', async () => {
  const { code, stdout, stderr } = await runTour();
  assert.is(code, 0, `${stdout}\n${stderr}`);
  assert.is(withoutFallbackNotice(stderr), '', 'nothing logged beyond the annotated trace');
  assert.match(stdout, new RegExp(`gale tour: poller ${defaultPollerName};`));

  // Trace lines, each followed by its phases.
  const traces = stdout.match(/^\[trace\] iteration \d+: .*$/gm) ?? [];
  assert.ok(traces.length >= 2, `trace lines:\n${stdout}`);
  for (const phase of ['phases 1–2 (take and run)', 'phase 3 (poll): poll(', 'phase 4 (dispatch): fd ', 'phase 5 (after iteration ']) {
    assert.ok(stdout.includes(phase), `missing "${phase}" in:\n${stdout}`);
  }

  // The ready fds: the listener reported readable, then named in phase 4;
  // the client's echo can only arrive through a poll too. (The server side
  // usually is reported readable as well, but a client that connects and
  // writes before the accept lets the server's first read find the bytes.)
  const listener = /listening socket fd (\d+)/.exec(stdout)?.[1];
  const client = /client fd (\d+)/.exec(stdout)?.[1];
  assert.ok(listener && client, stdout);
  assert.ok(traces.some((line) => new RegExp(`\\[[^\\]]*\\b${listener}:R`).test(line)), `fd ${listener} never reported readable:\n${stdout}`);
  assert.ok(stdout.includes(`phase 4 (dispatch): fd ${listener} is readable: the listening socket`), stdout);
  assert.ok(stdout.includes(`phase 4 (dispatch): fd ${client} is readable: the client socket`), stdout);

  // The echoed bytes, on both sides.
  assert.ok(stdout.includes('server: readUntil resolved with "hello gale\\n" (11 bytes)'), stdout);
  assert.ok(stdout.includes('client: got the echo back: "hello gale\\n"'), stdout);
  assert.ok(stdout.includes('echo complete: sent "hello gale\\n", got "hello gale\\n"'), stdout);
  assert.match(stdout, /loop\.stats\(\): \d+ iterations, \d+ FFI calls/);
});

test.run();
