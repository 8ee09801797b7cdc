/**
 * SSLContext, createDefaultContext, sslOptionsToContext, the server's
 * sslOptions check and the SSLError family: Python's defaults and rules,
 * and a clear error for every kind of bad input.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import {
  CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED, SSLContext, createDefaultContext,
} from '../ssl/context.js';
import { checkServerSslOptions, sslOptionsToContext } from '../ssl/options.js';
import {
  SSLCertVerificationError, SSLEOFError, SSLError, SSLWantReadError, SSLWantWriteError, SSLZeroReturnError, toSSLError,
} from '../ssl/errors.js';
import { OSError } from '../reactor/sys/errors.js';
import { TCPServer } from '../net/tcpserver.js';
import { testCerts } from './tls-certs.js';
import { thrown } from './helpers.js';

const certs = testCerts();

test('protocols have Python\'s defaults: tls-client verifies, tls-server and tls do not', () => {
  const client = new SSLContext('tls-client');
  assert.is(client.verifyMode, CERT_REQUIRED);
  assert.is(client.checkHostname, true);
  for (const protocol of ['tls-server', 'tls'] as const) {
    const context = new SSLContext(protocol);
    assert.is(context.verifyMode, CERT_NONE);
    assert.is(context.checkHostname, false);
    assert.is(context.protocol, protocol);
  }
  assert.is(new SSLContext().protocol, 'tls');
  assert.instance(thrown(() => new SSLContext('sslv3' as 'tls')), TypeError);
});

test('verifyMode and checkHostname keep each other consistent', () => {
  const context = new SSLContext('tls-client');
  assert.match(thrown(() => { context.verifyMode = CERT_NONE; }).message, /checkHostname/);
  context.checkHostname = false;
  context.verifyMode = CERT_NONE;
  assert.is(context.verifyMode, CERT_NONE);
  // Turning the host check on turns verification on (Python 3.7+).
  context.checkHostname = true;
  assert.is(context.verifyMode, CERT_REQUIRED);
  context.checkHostname = false;
  context.verifyMode = CERT_OPTIONAL;
  assert.is(context.verifyMode, CERT_OPTIONAL);
  assert.instance(thrown(() => { context.verifyMode = 7; }), RangeError);
});

test('loadCertChain loads a chain, a key inside the certfile, and an encrypted key with its password', () => {
  const context = new SSLContext('tls-server');
  assert.is(context.hasCertChain(), false);
  context.loadCertChain(certs.server.cert, certs.server.key);
  assert.is(context.hasCertChain(), true);
  assert.ok(context.secureContext());
  const dir = mkdtempSync(join(tmpdir(), 'gale-combined-'));
  try {
    const combined = join(dir, 'both.pem');
    writeFileSync(combined, readFileSync(certs.server.cert, 'latin1') + readFileSync(certs.server.key, 'latin1'));
    new SSLContext('tls-server').loadCertChain(combined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  new SSLContext('tls-server').loadCertChain(certs.server.cert, certs.encryptedKey, certs.password);
  new SSLContext('tls-server').loadCertChain(certs.server.cert, certs.encryptedKey, () => certs.password);
});

test('loadCertChain: missing files, garbage PEM, a wrong password and a mismatched key fail clearly', () => {
  const context = new SSLContext('tls-server');
  const missing = thrown(() => context.loadCertChain(join(certs.dir, 'nope.pem'), certs.server.key));
  assert.instance(missing, OSError);
  assert.is(missing.code, 'ENOENT');
  assert.match(missing.message, /nope\.pem/);
  const missingKey = thrown(() => context.loadCertChain(certs.server.cert, join(certs.dir, 'nokey.pem')));
  assert.is(missingKey.code, 'ENOENT');
  assert.match(missingKey.message, /keyfile/);

  const dir = mkdtempSync(join(tmpdir(), 'gale-garbage-'));
  try {
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'this is not PEM\n');
    const bad = thrown(() => context.loadCertChain(garbage, certs.server.key));
    assert.instance(bad, SSLError);
    assert.is(bad.name, 'SSLError');
    assert.is(bad.library, 'PEM');
    assert.is(bad.reason, 'NO_START_LINE');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const wrongPassword = thrown(() => context.loadCertChain(certs.server.cert, certs.encryptedKey, 'wrong'));
  assert.instance(wrongPassword, SSLError);
  assert.ok(wrongPassword.reason.length > 0);
  const noPassword = thrown(() => context.loadCertChain(certs.server.cert, certs.encryptedKey));
  assert.instance(noPassword, SSLError);
  const mismatch = thrown(() => context.loadCertChain(certs.server.cert, certs.client.key));
  assert.instance(mismatch, SSLError);
  assert.match(mismatch.reason, /KEY_VALUES_MISMATCH/);
  // Nothing of the failed loads stuck.
  assert.is(context.hasCertChain(), false);
  assert.instance(thrown(() => context.loadCertChain('', null)), TypeError);
  assert.instance(thrown(() => context.loadCertChain(certs.server.cert, certs.encryptedKey, 42 as unknown as string)), TypeError);
});

test('loadVerifyLocations takes cafile, capath and cadata (PEM or DER), and refuses nothing or garbage', () => {
  const context = new SSLContext('tls-client');
  context.loadVerifyLocations({ cafile: certs.ca.cert });
  const pem = readFileSync(certs.ca.cert, 'latin1');
  context.loadVerifyLocations({ cadata: pem });
  context.loadVerifyLocations({ cadata: new X509Certificate(pem).raw });
  const dir = mkdtempSync(join(tmpdir(), 'gale-capath-'));
  try {
    copyFileSync(certs.ca.cert, join(dir, 'ca.pem'));
    writeFileSync(join(dir, 'README'), 'not a certificate\n');
    context.loadVerifyLocations({ capath: dir });
    assert.instance(thrown(() => context.loadVerifyLocations({ cafile: join(dir, 'README') })), SSLError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.instance(thrown(() => context.loadVerifyLocations({})), TypeError);
  assert.is(thrown(() => context.loadVerifyLocations({ cafile: join(certs.dir, 'none.pem') })).code, 'ENOENT');
  assert.is(thrown(() => context.loadVerifyLocations({ capath: join(certs.dir, 'no-dir') })).code, 'ENOENT');
  assert.instance(thrown(() => context.loadVerifyLocations({ cadata: 'garbage' })), SSLError);
  assert.instance(thrown(() => context.loadVerifyLocations({ cadata: Buffer.from('garbage') })), SSLError);
  const broken = pem.replace(/[A-Za-z]{20}/, 'AAAAAAAAAAAAAAAAAAAA');
  assert.instance(thrown(() => context.loadVerifyLocations({ cadata: broken })), SSLError);
  assert.ok(context.secureContext());
});

test('loadDefaultCerts, setCiphers and setAlpnProtocols', () => {
  const context = new SSLContext('tls-client');
  context.loadDefaultCerts();
  assert.ok(context.secureContext());
  context.setCiphers('ECDHE+AESGCM');
  const bad = thrown(() => context.setCiphers('NOT-A-CIPHER'));
  assert.instance(bad, SSLError);
  assert.instance(thrown(() => context.setCiphers(3 as unknown as string)), TypeError);
  assert.is(context.alpnProtocols(), null);
  context.setAlpnProtocols(['h2', 'http/1.1']);
  assert.equal(context.alpnProtocols(), ['h2', 'http/1.1']);
  assert.instance(thrown(() => context.setAlpnProtocols([''])), RangeError);
  assert.instance(thrown(() => context.setAlpnProtocols('h2' as unknown as string[])), TypeError);
  assert.instance(thrown(() => context.setServernameCallback(5 as never)), TypeError);
  assert.instance(thrown(() => context.setAlpnSelectCallback('x' as never)), TypeError);
  context.setServernameCallback(() => {});
  context.setServernameCallback(null);
  assert.is(context.sniCallback, null);
  // A built context is rebuilt after a change of version bounds.
  const first = context.secureContext();
  assert.is(context.secureContext(), first);
  context.minimumVersion = 'TLSv1.3';
  assert.is.not(context.secureContext(), first);
});

test('createDefaultContext: serverAuth verifies with the given or default CAs; clientAuth is for servers', () => {
  const client = createDefaultContext();
  assert.is(client.protocol, 'tls-client');
  assert.is(client.verifyMode, CERT_REQUIRED);
  const withCa = createDefaultContext('serverAuth', { cafile: certs.ca.cert });
  assert.is(withCa.checkHostname, true);
  const server = createDefaultContext('clientAuth');
  assert.is(server.protocol, 'tls-server');
  assert.is(server.verifyMode, CERT_NONE);
  assert.instance(thrown(() => createDefaultContext('both' as 'serverAuth')), TypeError);
});

test('sslOptionsToContext: Tornado\'s dict becomes a generic context; a context passes through', () => {
  const context = new SSLContext('tls-client');
  assert.is(sslOptionsToContext(context), context);
  const fromDict = sslOptionsToContext({
    certfile: certs.server.cert, keyfile: certs.server.key, certReqs: CERT_REQUIRED, caCerts: certs.ca.cert, ciphers: 'ECDHE+AESGCM',
  });
  assert.is(fromDict.protocol, 'tls');
  assert.is(fromDict.verifyMode, CERT_REQUIRED);
  assert.is(fromDict.checkHostname, false);
  assert.is(fromDict.hasCertChain(), true);
  assert.is(sslOptionsToContext({}).verifyMode, CERT_NONE);
  assert.match(thrown(() => sslOptionsToContext({ certFile: 'x' } as never)).message, /unknown sslOptions key "certFile"/);
  assert.instance(thrown(() => sslOptionsToContext(null as never)), TypeError);
  assert.is(thrown(() => sslOptionsToContext({ certfile: join(certs.dir, 'missing.pem') })).code, 'ENOENT');
});

test('TCPServer checks its sslOptions at construction, as Tornado does', () => {
  assert.match(thrown(() => new TCPServer({ sslOptions: {} })).message, /missing key "certfile"/);
  assert.match(thrown(() => new TCPServer({ sslOptions: { certfile: join(certs.dir, 'gone.pem') } })).message, /certfile ".*gone\.pem" does not exist/);
  assert.match(thrown(() => new TCPServer({ sslOptions: { certfile: certs.server.cert, keyfile: join(certs.dir, 'gone.key') } })).message, /keyfile .* does not exist/);
  assert.match(thrown(() => new TCPServer({ sslOptions: new SSLContext('tls-server') })).message, /no certificate/);
  assert.instance(thrown(() => checkServerSslOptions(7 as never)), TypeError);
  // A wrong password or a garbage file fails here too, with the SSLError.
  assert.instance(thrown(() => new TCPServer({ sslOptions: { certfile: certs.server.cert, keyfile: certs.encryptedKey } })), SSLError);
  new TCPServer({ sslOptions: { certfile: certs.server.cert, keyfile: certs.server.key } }).stop();
});

test('the SSLError family: classes, names, reason, library, errno', () => {
  const classes = [SSLError, SSLWantReadError, SSLWantWriteError, SSLCertVerificationError, SSLEOFError, SSLZeroReturnError];
  for (const ErrorClass of classes) {
    const error = ErrorClass === SSLCertVerificationError ? new SSLCertVerificationError('x', 'CERT_HAS_EXPIRED')
      : ErrorClass === SSLError ? new SSLError('x') : new (ErrorClass as unknown as new () => SSLError)();
    assert.instance(error, SSLError);
    assert.instance(error, OSError);
    assert.is(error.name, ErrorClass.name);
    assert.type(error.reason, 'string');
    assert.type(error.library, 'string');
  }
  assert.is(new SSLWantReadError().errno, 2);
  assert.is(new SSLWantWriteError().errno, 3);
  assert.is(new SSLEOFError().reason, 'UNEXPECTED_EOF_WHILE_READING');
  const verify = new SSLCertVerificationError('expired', 'CERT_HAS_EXPIRED');
  assert.is(verify.reason, 'CERTIFICATE_VERIFY_FAILED');
  assert.is(verify.verifyCode, 'CERT_HAS_EXPIRED');
});

test('toSSLError maps Node\'s TLS errors onto the family and leaves OS errors alone', () => {
  const wrongVersion = toSSLError(Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER', library: 'SSL routines' })) as SSLError;
  assert.instance(wrongVersion, SSLError);
  assert.is(wrongVersion.reason, 'WRONG_VERSION_NUMBER');
  assert.is(wrongVersion.library, 'SSL');
  const pem = toSSLError(Object.assign(new Error('no start line'), { code: 'ERR_OSSL_PEM_NO_START_LINE', library: 'PEM routines' })) as SSLError;
  assert.is(pem.reason, 'NO_START_LINE');
  assert.is(pem.library, 'PEM');
  const altname = toSSLError(Object.assign(new Error('host'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }));
  assert.instance(altname, SSLCertVerificationError);
  const leaf = toSSLError(Object.assign(new Error('unable'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }));
  assert.instance(leaf, SSLCertVerificationError);
  const reset = toSSLError(Object.assign(new Error('reset'), { code: 'ECONNRESET', errno: -104, syscall: 'read' }));
  assert.instance(reset, OSError);
  assert.not.instance(reset, SSLError);
  assert.is((reset as OSError).errno, 104);
  const os = new OSError(32, 'write');
  assert.is(toSSLError(os), os);
  const withReason = toSSLError(Object.assign(new Error('odd'), { reason: 'some reason' })) as SSLError;
  assert.is(withReason.reason, 'SOME_REASON');
  const plain = toSSLError('just a string') as SSLError;
  assert.is(plain.reason, 'UNKNOWN');
  const otherCode = toSSLError(Object.assign(new Error('x'), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' })) as SSLError;
  assert.is(otherCode.reason, 'TLS_HANDSHAKE_TIMEOUT');
});

test.run();
