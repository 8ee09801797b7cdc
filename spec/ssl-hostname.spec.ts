/**
 * Host-name verification by TLS clients (Tornado's
 * `SSLIOStream._verify_cert`): a client stream that verifies the server's
 * certificate also checks that the certificate covers the host name —
 * whichever way the stream got the name (`TCPClient.connect`,
 * `IOStream.startTls`, `SSLIOStream.connect`) and whichever form the
 * settings take (Tornado's dict or an `SSLContext`). `certReqs: CERT_NONE`
 * is the way out, and a dict without `certReqs` verifies nothing.
 *
 * Against real servers outside gale — `openssl s_server` and a node:tls
 * server — with certificates for another name, a wildcard, an IP address
 * only, and an expired one. Regression: `TCPClient.connect('localhost', …,
 * { sslOptions: { caCerts, certReqs: CERT_REQUIRED } })` accepted a
 * certificate for foo.example.com.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Socket } from '../reactor/sys/socket.js';
import { TCPClient } from '../net/tcpclient.js';
import { BlockingResolver } from '../resolvers/blocking.js';
import { IOStream } from '../streams/iostream.js';
import { SSLIOStream } from '../streams/ssl-iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import { CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED, SSLContext, createDefaultContext } from '../ssl/context.js';
import { SSLCertVerificationError } from '../ssl/errors.js';
import { hostnameMismatch } from '../ssl/match-hostname.js';
import type { SSLOptions } from '../ssl/options.js';
import type { PeerCertificate } from 'node:tls';
import { testCerts, type CertPair } from './tls-certs.js';
import { startTlsPeer, type TlsPeer, type TlsPeerKind } from './tls-peers.js';
import { captureLogs, fdLeakCheck, inLoop, rejection } from './helpers.js';

const certs = testCerts();
const ALTNAME = 'ERR_TLS_CERT_ALTNAME_INVALID';
const PATHS = ['TCPClient.connect', 'IOStream.startTls', 'SSLIOStream.connect'] as const;
type Path = typeof PATHS[number];
type Settings = SSLContext | SSLOptions;

/** Tornado's dict form, verifying against the test CA: the form the defect was found with. */
const requiredDict = (): SSLOptions => ({ caCerts: certs.ca.cert, certReqs: CERT_REQUIRED });

/**
 * A TLS connection to 127.0.0.1:`port` by `path`, verifying `host`. Names
 * that do not resolve go to TCPClient as `serverHostname`.
 */
async function connectBy(path: Path, port: number, host: string, sslOptions: Settings): Promise<IOStream> {
  if (path === 'TCPClient.connect') {
    const client = new TCPClient({ resolver: new BlockingResolver() });
    try {
      const resolvable = host === 'localhost' || host === '127.0.0.1';
      return await (resolvable
        ? client.connect(host, port, { sslOptions })
        : client.connect('127.0.0.1', port, { sslOptions, serverHostname: host }));
    } finally {
      client.close();
    }
  }
  if (path === 'IOStream.startTls') {
    const plain = new IOStream(new Socket());
    await plain.connect(['127.0.0.1', port]);
    return plain.startTls(false, sslOptions, host);
  }
  const stream = new SSLIOStream(new Socket(), { sslOptions });
  await stream.connect(['127.0.0.1', port], { serverHostname: host });
  return stream;
}

/** The TLS error behind a failed connect (startTls fails with it directly, as Tornado's does). */
function tlsErrorOf(error: unknown): unknown {
  return error instanceof StreamClosedError ? error.realError : error;
}

type Outcome = { ok: true } | { ok: false; error: unknown; logs: Array<[string, string]> };

/** Connects, and on success makes one round trip (the servers answer lines reversed) and closes. */
async function attempt(path: Path, peer: TlsPeer, host: string, sslOptions: Settings): Promise<Outcome> {
  const { result, logs } = await captureLogs(async () => {
    try {
      return { stream: await connectBy(path, peer.port, host, sslOptions) };
    } catch (error) {
      return { error };
    }
  });
  if ('error' in result) return { ok: false, error: result.error, logs };
  const stream = result.stream;
  try {
    await stream.write('gale\n');
    assert.is((await stream.readUntil('\n'))!.toString(), 'elag\n', `${path} to ${peer.kind} as ${host}: round trip`);
  } finally {
    stream.close();
  }
  return { ok: true };
}

/**
 * Asserts `outcome` is a host-name rejection naming `host` and `names`,
 * logged as Tornado logs it: `Invalid SSL certificate: …` from its own
 * check, or `SSL Error on …` when the context's checkHostname failed the
 * handshake (as Python's does).
 */
function assertNameRejected(outcome: Outcome, host: string, names: string, what: string, loggedAs = /^Invalid SSL certificate: /): void {
  assert.ok(!outcome.ok, `${what}: connected, but the certificate is for ${names}`);
  if (outcome.ok) return;
  const error = tlsErrorOf(outcome.error) as SSLCertVerificationError;
  assert.instance(error, SSLCertVerificationError, `${what}: ${String(outcome.error)}`);
  assert.is(error.verifyCode, ALTNAME, what);
  assert.is(error.reason, 'CERTIFICATE_VERIFY_FAILED', what);
  assert.ok(error.message.includes(`'${host}'`) && error.message.includes(names), `${what}: the message names neither: ${error.message}`);
  const logged = outcome.logs.filter(([level, line]) => level === 'warn' && loggedAs.test(line));
  assert.is(logged.length, 1, `${what}: ${JSON.stringify(outcome.logs)}`);
  assert.ok(logged[0]![1].includes(`'${host}'`), `${what}: ${logged[0]![1]}`);
}

function assertConnected(outcome: Outcome, what: string): void {
  assert.ok(outcome.ok, `${what}: ${outcome.ok ? '' : String(tlsErrorOf(outcome.error))}`);
}

/** Each certificate, the host names tried against it, and what its SAN says (null: it covers the name). */
const CASES: Array<{ pair: () => CertPair; names: string; hosts: Array<[string, boolean]> }> = [
  // The defect: a certificate for another name, reached as localhost and as 127.0.0.1 (no IP SAN).
  { pair: () => certs.foo, names: 'DNS:foo.example.com', hosts: [['localhost', false], ['127.0.0.1', false], ['foo.example.com', true], ['FOO.Example.COM', true]] },
  // RFC 6125 wildcards: one whole leftmost label, no more, no less.
  { pair: () => certs.wildcard, names: 'DNS:*.example.com', hosts: [['a.example.com', true], ['a.b.example.com', false], ['example.com', false]] },
  // An IP literal is matched against IP Address entries only, and a name never is.
  { pair: () => certs.ipOnly, names: 'IP Address:127.0.0.1', hosts: [['127.0.0.1', true], ['localhost', false]] },
  // The control: the suite's usual certificate covers both.
  { pair: () => certs.server, names: 'DNS:localhost', hosts: [['localhost', true], ['127.0.0.1', true]] },
];

for (const kind of ['openssl s_server', 'node:tls'] as TlsPeerKind[]) {
  test(`${kind}: every client path checks the host name against the certificate (dict with certReqs: CERT_REQUIRED)`, async () => {
    const leaks = fdLeakCheck();
    let checked = 0;
    for (const { pair, names, hosts } of CASES) {
      const peer = await startTlsPeer(kind, pair());
      try {
        await inLoop(async () => {
          for (const [host, covered] of hosts) {
            for (const path of PATHS) {
              const what = `${path} to ${kind} (${names}) as ${host}`;
              const outcome = await attempt(path, peer, host, requiredDict());
              if (covered) assertConnected(outcome, what);
              else assertNameRejected(outcome, host, names, what);
              checked++;
            }
          }
        });
      } finally {
        await peer.stop();
      }
    }
    assert.is(checked, 3 * CASES.reduce((n, c) => n + c.hosts.length, 0));
    leaks();
  });

  test(`${kind}: an expired certificate is refused by every path, unless certReqs is CERT_NONE`, async () => {
    const leaks = fdLeakCheck();
    const peer = await startTlsPeer(kind, certs.expired);
    try {
      await inLoop(async () => {
        for (const path of PATHS) {
          const refused = await attempt(path, peer, 'localhost', requiredDict());
          assert.ok(!refused.ok, `${path}: connected to an expired certificate`);
          if (refused.ok) continue;
          const error = tlsErrorOf(refused.error) as SSLCertVerificationError;
          assert.instance(error, SSLCertVerificationError);
          assert.is(error.verifyCode, 'CERT_HAS_EXPIRED');
          assert.ok(refused.logs.some(([level, line]) => level === 'warn' && /^SSL Error on \d+ .*CERT_HAS_EXPIRED/.test(line)), JSON.stringify(refused.logs));
          assertConnected(await attempt(path, peer, 'localhost', { certReqs: CERT_NONE }), `${path} with CERT_NONE`);
        }
      });
    } finally {
      await peer.stop();
    }
    leaks();
  });
}

test('the name is checked for every settings form that verifies; CERT_NONE and a dict without certReqs verify nothing', async () => {
  const leaks = fdLeakCheck();
  const peer = await startTlsPeer('node:tls', certs.foo);
  const verifying: Array<[string, () => Settings, RegExp?]> = [
    ['dict, CERT_REQUIRED', requiredDict],
    ['dict, CERT_OPTIONAL', () => ({ caCerts: certs.ca.cert, certReqs: CERT_OPTIONAL })],
    ['SSLContext("tls"), CERT_REQUIRED, checkHostname off', () => {
      const context = new SSLContext('tls');
      context.verifyMode = CERT_REQUIRED;
      context.loadVerifyLocations({ cafile: certs.ca.cert });
      return context;
    }],
    ['createDefaultContext (checkHostname on)', () => createDefaultContext('serverAuth', { cafile: certs.ca.cert }), /^SSL Error on \d+ /],
  ];
  const trusting: Array<[string, () => Settings]> = [
    ['dict, CERT_NONE', () => ({ caCerts: certs.ca.cert, certReqs: CERT_NONE })],
    ['dict without certReqs', () => ({ caCerts: certs.ca.cert })],
    ['SSLContext("tls")', () => new SSLContext('tls')],
  ];
  try {
    await inLoop(async () => {
      for (const path of PATHS) {
        for (const [form, settings, loggedAs] of verifying) {
          assertNameRejected(await attempt(path, peer, 'localhost', settings()), 'localhost', 'DNS:foo.example.com', `${path}, ${form}`, loggedAs);
        }
        for (const [form, settings] of trusting) assertConnected(await attempt(path, peer, 'localhost', settings()), `${path}, ${form}`);
      }
    });
  } finally {
    await peer.stop();
  }
  leaks();
});

test('a rejected name fails every pending Future and the close callback, sends the server nothing, and leaves no fd', async () => {
  const leaks = fdLeakCheck();
  const peer = await startTlsPeer('node:tls', certs.foo);
  try {
    await captureLogs(() => inLoop(async () => {
      // SSLIOStream.connect, with a write and a read queued behind the handshake.
      const stream = new SSLIOStream(new Socket(), { sslOptions: requiredDict() });
      let closes = 0;
      stream.setCloseCallback(() => closes++);
      const connected = stream.connect(['127.0.0.1', peer.port], { serverHostname: 'localhost' });
      const written = stream.write('secret\n');
      const read = stream.readUntil('\n');
      for (const pending of [connected, written, read]) {
        const error = await rejection(pending);
        assert.instance(error, StreamClosedError);
        assert.is(error.realError.verifyCode, ALTNAME);
      }
      assert.ok(stream.closed());
      assert.is(stream.fileno(), -1);
      for (let i = 0; i < 200 && closes === 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.is(closes, 1);

      // startTls: the plain stream's close callback moves to the TLS stream and runs.
      const plain = new IOStream(new Socket());
      await plain.connect(['127.0.0.1', peer.port]);
      let plainCloses = 0;
      plain.setCloseCallback(() => plainCloses++);
      const upgraded = plain.startTls(false, requiredDict(), 'localhost');
      assert.is((await rejection(upgraded)).verifyCode, ALTNAME);
      assert.is(plainCloses, 1);
      assert.is(plain.socket.fileno(), -1);

      // TCPClient: the Future rejects, and nothing stays open (the leak check below).
      const client = new TCPClient({ resolver: new BlockingResolver() });
      const error = await rejection(client.connect('localhost', peer.port, { sslOptions: requiredDict() }));
      client.close();
      assert.instance(error, StreamClosedError);
      assert.is(error.realError.verifyCode, ALTNAME);
    }));
    // The check runs inside the handshake, before any plaintext moves.
    assert.is(peer.received!(), '');
  } finally {
    await peer.stop();
  }
  leaks();
});

test('hostnameMismatch: RFC 6125 as Node applies it, with a message naming the host and the certificate\'s names', () => {
  const cert = (subjectaltname: string | undefined, cn?: string): PeerCertificate =>
    ({ subject: cn === undefined ? {} : { CN: cn }, subjectaltname } as unknown as PeerCertificate);
  const matches = (host: string, c: PeerCertificate): boolean => hostnameMismatch(host, c) === undefined;
  const wildcard = cert('DNS:*.example.com');
  assert.ok(matches('a.example.com', wildcard));
  assert.ok(matches('A.EXAMPLE.COM', wildcard));
  assert.ok(matches('a.example.com.', wildcard), 'a trailing dot names the same host');
  assert.not.ok(matches('a.b.example.com', wildcard), 'a wildcard stands for one label');
  assert.not.ok(matches('example.com', wildcard), 'a wildcard stands for one whole label, not none');
  assert.not.ok(matches('example.com', cert('DNS:*.com')), 'no wildcard over a top-level domain');
  assert.not.ok(matches('a.example.com', cert('DNS:a.*.com')), 'the wildcard must be leftmost');
  assert.not.ok(matches('xn--bcher-kva.example.com', cert('DNS:xn--*.example.com')), 'no wildcard inside an A-label');
  // IP literals: IP Address entries only, in any spelling of the address.
  assert.ok(matches('::1', cert('IP Address:0:0:0:0:0:0:0:1')));
  assert.not.ok(matches('127.0.0.1', cert('DNS:127.0.0.1')));
  assert.not.ok(matches('127.0.0.1', cert(undefined, '127.0.0.1')), 'an IP literal never matches a commonName');
  assert.not.ok(matches('localhost', cert('IP Address:127.0.0.1')));
  // The commonName counts only without DNS entries.
  assert.ok(matches('legacy.example', cert(undefined, 'legacy.example')));
  assert.not.ok(matches('legacy.example', cert('DNS:new.example', 'legacy.example')));

  const error = hostnameMismatch('127.0.0.1', cert('DNS:foo.example.com', 'foo.example.com')) as Error & { code: string; host: string };
  assert.is(error.code, ALTNAME);
  assert.is(error.host, '127.0.0.1');
  assert.is(error.message, "IP address '127.0.0.1' doesn't match the certificate's names (an IP address matches only IP Address entries): DNS:foo.example.com (commonName foo.example.com)");
  assert.is(hostnameMismatch('localhost', cert(undefined, 'foo'))!.message, "hostname 'localhost' doesn't match the certificate's names: commonName foo (no subjectAltName)");
  assert.match(hostnameMismatch('localhost', cert(undefined))!.message, /neither a subjectAltName nor a commonName/);
});

test.run();
