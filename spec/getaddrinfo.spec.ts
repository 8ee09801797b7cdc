/**
 * reactor/sys/getaddrinfo.ts: the glibc addrinfo walk, EAI_* errors, the
 * literal fast path of resolveSync, and lookups from worker threads.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { EAI, GaiError, gaiStrerror, getaddrinfo, resolveSync } from '../reactor/sys/getaddrinfo.js';
import { AF_INET, AF_INET6, AF_UNSPEC, AI_NUMERICHOST, AI_PASSIVE, SOCK_STREAM } from '../reactor/sys/socket.js';
import { OSError } from '../reactor/sys/errors.js';
import { ffiCounter } from '../reactor/sys/ffi.js';
import { fdLeakCheck, thrown } from './helpers.js';

function assertGaiError(error: unknown, codes?: string[]): GaiError {
  assert.instance(error, GaiError, String(error));
  assert.instance(error, OSError);
  const gai = error as GaiError;
  assert.match(gai.code, /^EAI_/);
  if (codes) assert.ok(codes.includes(gai.code), `${gai.code} not in ${codes}`);
  assert.is(gai.syscall, 'getaddrinfo');
  assert.is(gai.name, 'GaiError');
  return gai;
}

test('localhost resolves to contain [AF_INET, ["127.0.0.1", port]]', () => {
  const check = fdLeakCheck();
  const resolved = resolveSync('localhost', 8080);
  assert.ok(resolved.some(([family, address]) => family === AF_INET && JSON.stringify(address) === '["127.0.0.1",8080]'),
    JSON.stringify(resolved));
  const raw = getaddrinfo('localhost', 8080, AF_INET, SOCK_STREAM);
  assert.ok(raw.length >= 1);
  for (const info of raw) {
    assert.is(info.family, AF_INET);
    assert.is(info.socktype, SOCK_STREAM);
    assert.is(info.protocol, 6);
  }
  check();
});

test('resolveSync keeps SOCK_STREAM entries only, without duplicates', () => {
  const check = fdLeakCheck();
  // With socktype 0 glibc lists each address once per socket type.
  const all = getaddrinfo('localhost', 80);
  assert.ok(all.length > resolveSync('localhost', 80).length, JSON.stringify(all));
  const resolved = resolveSync('localhost', 80);
  const keys = resolved.map((entry) => JSON.stringify(entry));
  assert.is(new Set(keys).size, keys.length);
  check();
});

test('an unknown name fails with an EAI code and gai_strerror\'s text', () => {
  const check = fdLeakCheck();
  const error = assertGaiError(thrown(() => getaddrinfo('x.invalid', 80)));
  assert.is(error.errno, EAI[error.code]);
  assert.ok(error.message.includes(gaiStrerror(error.errno)), error.message);
  assert.is(error.hostname, 'x.invalid');
  assertGaiError(thrown(() => resolveSync('x.invalid', 80)));
  check();
});

test('EAI codes: family mismatch, unknown service, AI_NUMERICHOST with a name', () => {
  const check = fdLeakCheck();
  if (process.platform === 'linux') {
    const mismatch = assertGaiError(thrown(() => getaddrinfo('127.0.0.1', 80, AF_INET6, SOCK_STREAM)), ['EAI_ADDRFAMILY', 'EAI_NONAME']);
    assert.is(mismatch.errno, EAI[mismatch.code]);
    assert.is(EAI.EAI_NONAME, -2);
  }
  assertGaiError(thrown(() => getaddrinfo('localhost', 'no-such-service-gale', AF_UNSPEC, SOCK_STREAM)), ['EAI_SERVICE', 'EAI_NONAME']);
  assertGaiError(thrown(() => getaddrinfo('localhost', 80, AF_UNSPEC, SOCK_STREAM, 0, AI_NUMERICHOST)), ['EAI_NONAME']);
  assertGaiError(thrown(() => getaddrinfo('', 80)), ['EAI_NONAME']);
  assertGaiError(thrown(() => getaddrinfo('a\0b', 80)), ['EAI_NONAME']);
  assertGaiError(thrown(() => getaddrinfo('x'.repeat(2000), 80)), ['EAI_NONAME']);
  assertGaiError(thrown(() => getaddrinfo('bücher.invalid', 80)));
  check();
});

test('service names and the passive wildcard', () => {
  const check = fdLeakCheck();
  if (existsSync('/etc/services')) {
    const http = getaddrinfo('127.0.0.1', 'http', AF_INET, SOCK_STREAM);
    assert.equal(http[0]!.address, ['127.0.0.1', 80]);
  }
  const wildcard = getaddrinfo(null, 0, AF_INET, SOCK_STREAM, 0, AI_PASSIVE);
  assert.equal(wildcard.map((info) => info.address), [['0.0.0.0', 0]]);
  const loopback = getaddrinfo(null, 443, AF_INET, SOCK_STREAM);
  assert.equal(loopback.map((info) => info.address), [['127.0.0.1', 443]]);
  check();
});

test('literal hosts are answered without calling getaddrinfo', () => {
  const check = fdLeakCheck();
  const before = ffiCounter.calls;
  assert.equal(resolveSync('127.0.0.1', 80), [[AF_INET, ['127.0.0.1', 80]]]);
  assert.equal(resolveSync('::1', 80), [[AF_INET6, ['::1', 80, 0, 0]]]);
  assert.equal(resolveSync('0:0:0:0:0:0:0:1', 81, AF_INET6), [[AF_INET6, ['::1', 81, 0, 0]]]);
  assert.is(ffiCounter.calls, before);
  // A literal of the other family goes to getaddrinfo, which refuses it.
  assertGaiError(thrown(() => resolveSync('::1', 80, AF_INET)));
  check();
});

test('wrong argument types are TypeErrors or RangeErrors, not crashes', () => {
  assert.instance(thrown(() => getaddrinfo(42 as any, 80)), TypeError);
  assert.instance(thrown(() => getaddrinfo('localhost', { port: 80 } as any)), TypeError);
  assert.instance(thrown(() => getaddrinfo('localhost', 70000)), RangeError);
  assert.instance(thrown(() => getaddrinfo('localhost', -1)), RangeError);
  assert.instance(thrown(() => getaddrinfo('localhost', 80, 'inet' as any)), TypeError);
});

test('many lookups in a row stay correct (the list is freed each time)', () => {
  const check = fdLeakCheck();
  for (let i = 0; i < 300; i++) {
    const port = 1000 + i;
    assert.equal(getaddrinfo('localhost', port, AF_INET, SOCK_STREAM)[0]!.address, ['127.0.0.1', port]);
  }
  check();
});

test('works inside worker threads, concurrently with the main thread', async () => {
  const check = fdLeakCheck();
  const moduleUrl = new URL('../reactor/sys/getaddrinfo.js', import.meta.url).href;
  const source = `
    import { parentPort, workerData } from 'node:worker_threads';
    const { getaddrinfo, resolveSync } = await import(workerData.moduleUrl);
    const out = [];
    for (let i = 0; i < 50; i++) out.push(getaddrinfo('localhost', workerData.port + i, 2, 1)[0].address);
    let code = null;
    try { resolveSync('x.invalid', 80); } catch (e) { code = e.code; }
    parentPort.postMessage({ out, code, literal: resolveSync('127.0.0.1', 1) });
  `;
  const run = (port: number) => new Promise<any>((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: { moduleUrl, port } });
    let message: unknown;
    worker.once('message', (value) => { message = value; });
    worker.once('error', reject);
    // Wait for the exit: the worker's own libuv loop holds fds until then.
    worker.once('exit', (code) => (code === 0 ? resolve(message) : reject(new Error(`worker exited with ${code}`))));
  });
  const pending = [run(2000), run(3000)];
  for (let i = 0; i < 50; i++) assert.equal(getaddrinfo('localhost', 4000 + i, AF_INET, SOCK_STREAM)[0]!.address, ['127.0.0.1', 4000 + i]);
  const results = await Promise.all(pending);
  for (const [index, result] of results.entries()) {
    const base = index === 0 ? 2000 : 3000;
    assert.equal(result.out, Array.from({ length: 50 }, (_, i) => ['127.0.0.1', base + i]));
    assert.match(result.code, /^EAI_/);
    assert.equal(result.literal, [[AF_INET, ['127.0.0.1', 1]]]);
  }
  check();
});

test.run();
