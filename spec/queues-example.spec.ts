/**
 * docs/porting.md's crawler example (scripts/examples/crawler.ts) runs as
 * written, in its own process: every page of its loopback site is fetched
 * once, the Semaphore keeps at most two fetches on the wire, and
 * queue.join() ends the crawl.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const example = fileURLToPath(new URL('../scripts/examples/crawler.js', import.meta.url));

test('the crawler example fetches each page once, two at a time at most, and stops at join()', async () => {
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [example], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => { text += d; });
    child.stderr.on('data', (d) => { text += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`crawler timed out:\n${text}`)); }, 20_000);
    child.on('close', (exitCode) => { clearTimeout(timer); resolve({ code: exitCode, out: text }); });
  });
  assert.is(code, 0, out);
  const fetched = [...out.matchAll(/^fetched (\S+) -> (.*)$/gm)].map((m) => m[1]).sort();
  assert.equal(fetched, ['/', '/a', '/b', '/c', '/d', '/e', '/f']);
  assert.match(out, /fetched \/e -> \/a \/f\n/);
  const summary = /crawled (\d+) pages, at most (\d+) fetches at once/.exec(out);
  assert.ok(summary, out);
  assert.is(Number(summary![1]), 7);
  assert.ok(Number(summary![2]) >= 1 && Number(summary![2]) <= 2, out);
});

test.run();
