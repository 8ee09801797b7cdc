/**
 * Packaging against docs/API.md: every class, function and constant the
 * API page declares is exported by the package root and by its section's
 * subpath (through the package's self-reference, as a user's
 * `import 'gale/net'` would), and every name the page marks as planned is
 * not exported yet; and every value the package exports is on the page —
 * so the page and the package cannot drift apart in either direction.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { apiNames, type ApiName } from './api-doc.js';

const page = readFileSync(new URL('../../docs/API.md', import.meta.url), 'utf8');
const names = apiNames(page);
const built = names.filter((n) => !n.planned);
const planned = names.filter((n) => n.planned);
const sections = [...new Set(names.map((n) => n.section))];

const list = (entries: ApiName[]) => entries.map((n) => `${n.section}/${n.name}`);

test('the API page yields names from every section, and names each at most once', () => {
  assert.equal(sections, ['reactor', 'streams', 'net', 'resolvers', 'ssl']);
  for (const expected of ['IOLoop', 'Future', 'IOStream', 'Socket', 'AF_INET6', 'SHUT_RDWR', 'TCPClient', 'OverrideResolver', 'moment']) {
    assert.ok(built.some((n) => n.name === expected), `${expected} not found on the page`);
  }
  const seen = names.map((n) => n.name);
  assert.equal(seen.filter((n, i) => seen.indexOf(n) !== i), [], 'declared twice');
});

test('the root export has every name the API page promises', async () => {
  const root = await import('gale');
  assert.equal(list(built.filter((n) => !(n.name in root))), []);
});

test('each subpath exports its section\'s names', async () => {
  for (const section of sections) {
    const promised = built.filter((n) => n.section === section);
    if (!promised.length) continue;
    const part = await import(`gale/${section}`);
    assert.equal(list(promised.filter((n) => !(n.name in part))), [], `gale/${section}`);
  }
});

test('the API page is a reference for every exported value: nothing exported is missing from it', async () => {
  // Issue 12: docs/API.md documents every public name, so a new export must be added there.
  const declared = new Set(names.map((n) => n.name));
  const root = await import('gale');
  assert.equal(Object.keys(root).filter((name) => !declared.has(name)), [], 'exported from gale but not on docs/API.md');
  for (const section of sections.filter((s) => built.some((n) => n.section === s))) {
    const inSection = new Set(names.filter((n) => n.section === section).map((n) => n.name));
    const part = await import(`gale/${section}`);
    assert.equal(Object.keys(part).filter((name) => !inSection.has(name)), [], `exported from gale/${section} but not in its section`);
  }
});

test('names marked planned are not exported yet (drop the mark when they land)', async () => {
  const root = await import('gale');
  assert.equal(list(planned.filter((n) => n.name in root)), []);
  // A section with nothing built has no subpath yet.
  for (const section of sections.filter((s) => !built.some((n) => n.section === s))) {
    const error = await import(`gale/${section}`).then(() => null, (e: NodeJS.ErrnoException) => e);
    assert.is(error?.code, 'ERR_PACKAGE_PATH_NOT_EXPORTED', `gale/${section} exists: update docs/API.md`);
  }
});

test('the error classes the page lists are classes whose name matches', async () => {
  const root = await import('gale') as unknown as Record<string, new (...a: any[]) => Error>;
  const errors = built.filter((n) => n.name.endsWith('Error'));
  assert.ok(errors.length >= 5, `${errors.length} error classes`);
  for (const { name } of errors) {
    const ErrorClass = root[name]!;
    const args = name === 'OSError' ? [2, 'open'] : name === 'GaiError' ? [-2, 'nowhere.invalid']
      : name === 'SSLCertVerificationError' ? ['x', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'] : ['x'];
    const error = new ErrorClass(...args);
    assert.instance(error, Error);
    assert.is(error.name, name);
  }
});

test.run();
