/**
 * scripts/check-floors.ts: the library keeps its floors (no import from a
 * higher floor, no folder index from inside, no import cycle), and the
 * check finds each kind of violation planted in a small tree shaped like
 * the repo.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFloors, floorOf, importsOf } from '../scripts/check-floors.js';
import { fdLeakCheck } from './helpers.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Writes `files` (path -> source) under a fresh temp dir, runs `fn` on it, removes it. */
function withTree<T>(files: Record<string, string>, fn: (root: string) => T): T {
  const root = mkdtempSync(join(tmpdir(), 'gale-floors-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(root, dirname(path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('the library keeps its floors, imports no folder index, and has no import cycle', () => {
  const findings = checkFloors(repoRoot);
  assert.equal(findings.map((f) => `${f.rule}: ${f.file}: ${f.message}`), []);
});

test('the floors, lowest first', () => {
  const order = ['reactor/sys/socket.ts', 'reactor/ioloop.ts', 'ssl/context.ts', 'streams/iostream.ts', 'resolvers/base.ts', 'net/netutil.ts', 'index.ts'];
  assert.equal(order.map(floorOf), [0, 1, 2, 3, 4, 5, 6]);
  assert.is(floorOf('spec/helpers.ts'), null);
  assert.is(floorOf('scripts/tour.ts'), null);
});

test('import lines: static, re-export, side-effect and dynamic; comments ignored; type-only marked', () => {
  const source = [
    "import { a, type B } from './a.js';",
    "import type { C } from './c.js';",
    "import { type D,\n  type E } from './d.js';",
    "export * from './e.js';",
    "export { f } from './f.js';",
    "import './g.js';",
    "const h = await import('./h.js');",
    "// import { x } from './commented.js';",
    "/* import { y } from './block.js'; */",
    "const url = 'https://example.com/i.js';",
    "export const j = './not-an-import.js';",
  ].join('\n');
  assert.equal(importsOf(source), [
    { specifier: './a.js', typeOnly: false },
    { specifier: './c.js', typeOnly: true },
    { specifier: './d.js', typeOnly: true },
    { specifier: './e.js', typeOnly: false },
    { specifier: './f.js', typeOnly: false },
    { specifier: './g.js', typeOnly: false },
    { specifier: './h.js', typeOnly: false },
  ]);
});

test('a planted violation of each rule is found, and nothing else', () => {
  const check = fdLeakCheck();
  const findings = withTree({
    // floor: the ground floor reaches up into streams (a comment saying so does not count)
    'reactor/sys/low.ts': "// import { High } from '../../streams/high.js';\nimport { High } from '../../streams/high.js';\nexport const low = High;\n",
    'streams/high.ts': "export const High = 1;\n",
    // index: a library file imports a folder's face (ssl is lower, so only the index rule)
    'streams/faced.ts': "import { ctx } from '../ssl/index.js';\nexport const faced = ctx;\n",
    'ssl/index.ts': "export const ctx = 2;\n",
    'resolvers/named.ts': "import { x } from 'gale/net';\nexport const named = x;\n",
    // cycle: two files of net import each other
    'net/one.ts': "import { two } from './two.js';\nexport const one = () => two;\n",
    'net/two.ts': "import { one } from './one.js';\nexport const two = () => one;\n",
    // allowed: a type-only back reference, the root index gathering faces, specs importing anything
    'reactor/base.ts': "import type { Sub } from './sub.js';\nexport class Base { sub?: Sub; }\n",
    'reactor/sub.ts': "import { Base } from './base.js';\nexport class Sub extends Base {}\n",
    'index.ts': "export * from './ssl/index.js';\n",
    'spec/any.spec.ts': "import { one } from '../net/one.js';\nimport { ctx } from '../ssl/index.js';\nexport const any = [one, ctx];\n",
  }, checkFloors);
  assert.equal(findings.map((f) => `${f.rule}: ${f.file}: ${f.message}`).sort(), [
    'cycle: net/one.ts: import cycle: net/one.ts -> net/two.ts -> net/one.ts',
    'floor: reactor/sys/low.ts: imports streams/high.ts, on a higher floor (reactor/sys may not import streams)',
    "index: resolvers/named.ts: imports the package 'gale/net' by name",
    'index: streams/faced.ts: imports the folder index ssl/index.ts',
  ]);
  check();
});

test('the clean half of the planted tree passes', () => {
  const findings = withTree({
    'reactor/sys/low.ts': "export const low = 0;\n",
    'reactor/up.ts': "import { low } from './sys/low.js';\nexport const up = low;\n",
    'ssl/s.ts': "import { up } from '../reactor/up.js';\nexport const s = up;\n",
    'net/n.ts': "import { s } from '../ssl/s.js';\nimport { low } from '../reactor/sys/low.js';\nexport const n = s + low;\n",
  }, checkFloors);
  assert.equal(findings, []);
});

test.run();
