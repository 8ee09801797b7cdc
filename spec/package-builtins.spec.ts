/**
 * Which of Node's built-in modules a plain TCP server loads through the
 * package's entry, against what a node:net server loads: every built-in
 * costs an idle process resident memory (docs/memory.md), so the check is a
 * count and a list of modules that must stay unloaded, never a memory
 * figure. Each side runs in a fresh process (spec/fixtures/builtins-loaded.ts).
 *
 * What it guards: TLS (`node:tls`, `node:crypto`) and processes
 * (`node:child_process`) load at first use (ssl/node-tls.ts,
 * net/process-supervisor.ts), and the bundle reaches Node's built-ins
 * through `require` (scripts/bundle.mjs): an ESM import of `node:process`
 * builds its ESM face, which reads `process.stdin` and `process.report` and
 * so loads readline, fs/promises, the report module and more; one of
 * `node:util` reads `util.parseArgs` and `util.MIMEType`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The most built-ins gale's server may load beyond node:net's and the FFI
 * library's own. With the bundle importing them, 17 beyond node:net's
 * (Node 20.20); through `require`, 11. Loading koffi alone brings
 * `module`, its source-map support and `import.meta`'s initialiser, which
 * leaves 7 that are gale's (Node 20.20): `os`, and `worker_threads` with its
 * internals and the event-loop utilisation module it brings (the loop asks
 * `isMainThread`, and hops to Node through a MessageChannel). Node 24: 1.
 */
const EXTRA_BUDGET = 9;

/** Built-ins a plain TCP server must not load, whoever loads them. */
const NEVER = [
  'tls', 'crypto', 'child_process', 'perf_hooks', 'readline', 'internal/readline/interface', 'internal/fs/promises',
  'internal/process/report', 'internal/util/parse_args/parse_args', 'internal/mime', 'internal/fs/watchers', 'tty',
];

function builtinsLoadedBy(kind: 'gale' | 'node' | 'koffi'): string[] {
  const child = spawnSync(process.execPath, [fileURLToPath(new URL('./fixtures/builtins-loaded.js', import.meta.url)), kind],
    { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.is(child.status, 0, `${kind}: exited with ${child.status ?? child.signal}: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as string[];
}

test('a TCP server through import \'gale\' loads no TLS, process, stdin or report machinery, and few built-ins beyond node:net\'s', () => {
  const gale = builtinsLoadedBy('gale');
  const node = new Set(builtinsLoadedBy('node'));
  // What the FFI library loads by itself is not gale's to choose: on Node 24
  // koffi's CommonJS entry reads every property descriptor of node:util,
  // which loads util's lazy parseArgs.
  const koffi = new Set(builtinsLoadedBy('koffi'));
  assert.ok(gale.includes('net'), `the fixture saw no built-in load: ${JSON.stringify(gale)}`);
  assert.equal(gale.filter((name) => NEVER.includes(name) && !koffi.has(name)), []);
  const extra = gale.filter((name) => !node.has(name) && !koffi.has(name));
  assert.ok(extra.length <= EXTRA_BUDGET, `${extra.length} built-ins beyond node:net's: ${extra.join(' ')}`);
});

test.run();
