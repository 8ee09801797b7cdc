/**
 * package.json's `"sideEffects"` tells bundlers which modules do something
 * as they load; any other module none of whose exports is used may be
 * dropped. Regression: it said `false`, but ./streams/ssl-iostream.ts
 * installs `IOStream.tlsUpgrade` as it loads, so `startTls` threw wherever
 * a bundler had dropped that module. The same holds for the files the
 * package's users load (dist/bundle/, scripts/bundle.mjs): each one that
 * holds such a module is listed too. Each check runs in a fresh process,
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

interface Metafile { outputs: Record<string, { inputs: Record<string, unknown>; entryPoint?: string }> }
const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { sideEffects: string[] };
const inBundle = (file: string) => file.startsWith('./dist/bundle/');

test('package.json\'s "sideEffects" lists exactly the modules that change another module as they load, or are imported for their effects', () => {
  const out = runFixture('import-mutations.js').trim().split('\n');
  const imported = /^imported (\d+) modules$/.exec(out.pop() ?? '');
  assert.ok(imported && Number(imported[1]) > 50, `the probe did not get through the modules: ${out.join('\n')}`);
  const changes = out.filter((line) => line.includes(' changed '));
  const forEffects = out.filter((line) => line.includes(' imported for its effects by '));
  assert.is(changes.length + forEffects.length, out.length, out.join('\n'));
  const listed = [...new Set([...changes, ...forEffects].map((line) => `./dist/${line.split(' ')[0]}`))].sort();
  assert.equal(packageJson.sideEffects.filter((file) => !inBundle(file)).sort(), listed, `what the modules did:\n${out.join('\n')}`);
  assert.equal(changes, ['streams/ssl-iostream.js changed streams/iostream.js: IOStream'], 'only the TLS upgrade is installed at load');
  // arena.js opens libc for the io_uring syscalls (reactor/sys/uring-sys.ts): dropped, their binds would fail.
  assert.equal(forEffects, ['reactor/sys/arena.js imported for its effects by reactor/sys/uring-sys.js']);
});

test('the bundle: "sideEffects" lists every bundled file that holds such a module, and no other', () => {
  // What the package's users load (dist/bundle/, scripts/bundle.mjs). A chunk's
  // name carries a hash of its content, so chunks are listed by pattern.
  const meta = JSON.parse(readFileSync(new URL('../bundle/metafile.json', import.meta.url), 'utf8')) as Metafile;
  const effectful = new Set(packageJson.sideEffects.filter((file) => !inBundle(file)).map((file) => file.slice(2)));
  const holding = Object.entries(meta.outputs).filter(([, output]) => Object.keys(output.inputs).some((input) => effectful.has(input)));
  assert.is(holding.length >= 1, true, 'no bundled file holds a listed module');
  const expected = [...new Set(holding.map(([file, output]) => (output.entryPoint ? `./${file}` : './dist/bundle/chunk-*.js')))].sort();
  assert.equal(packageJson.sideEffects.filter(inBundle).sort(), expected);
});

test('startTls works with only what a bundler honouring "sideEffects" keeps for it', () => {
  const certs = testCerts();
  assert.is(runFixture('starttls-alone.js', [certs.server.cert, certs.server.key, certs.ca.cert]), 'server read: over TLS\n');
});

test.run();
