/**
 * package.json's `"sideEffects"` tells bundlers which modules do something
 * as they load; any other module none of whose exports is used may be
 * dropped. Regression: it said `false`, but ./streams/ssl-iostream.ts
 * installs `IOStream.tlsUpgrade` as it loads, so `startTls` threw wherever
 * a bundler had dropped that module. Each check runs in a fresh process,
 * where nothing else has loaded gale's modules.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { testCerts } from './tls-certs.js';

function runFixture(name: string, args: string[] = []): string {
  const child = spawnSync(process.execPath, [fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), ...args],
    { encoding: 'utf8', timeout: 60_000 });
  assert.is(child.status, 0, `${name} exited with ${child.status ?? child.signal}: ${child.stderr}`);
  return child.stdout;
}

test('package.json\'s "sideEffects" lists exactly the modules that change another module as they load', () => {
  const out = runFixture('import-mutations.js').trim().split('\n');
  const imported = /^imported (\d+) modules$/.exec(out.pop() ?? '');
  assert.ok(imported && Number(imported[1]) > 50, `the probe did not get through the modules: ${out.join('\n')}`);
  const changers = [...new Set(out.map((line) => `./dist/${line.split(' changed ')[0]}`))].sort();
  const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { sideEffects: unknown };
  assert.equal(packageJson.sideEffects, changers, `what the modules did:\n${out.join('\n')}`);
  assert.equal(out, ['streams/ssl-iostream.js changed streams/iostream.js: IOStream'], 'only the TLS upgrade is installed at load');
});

test('startTls works with only what a bundler honouring "sideEffects" keeps for it', () => {
  const certs = testCerts();
  assert.is(runFixture('starttls-alone.js', [certs.server.cert, certs.server.key, certs.ca.cert]), 'server read: over TLS\n');
});

test.run();
