/**
 * Test certificates for the TLS specs, made with the openssl CLI into a
 * temporary directory once per process (and removed when it exits):
 *
 * - `ca`: the test CA; `server` (localhost, 127.0.0.1, ::1) and `client`
 *   are signed by it, and `other` (other.example, for SNI);
 * - host-name cases, all signed by `ca`: `foo` (DNS:foo.example.com only),
 *   `wildcard` (DNS:*.example.com), `ipOnly` (IP:127.0.0.1 only), and
 *   `expired` (localhost and 127.0.0.1, valid only in January 2020);
 * - `untrustedServer`, `untrustedClient`: signed by a CA nobody trusts;
 * - `selfSigned`: its own issuer (localhost, 127.0.0.1);
 * - `encryptedKey`: the server's key, encrypted with `password`.
 *
 * EC keys keep generation quick. Below them: the TLS specs' shared helpers
 * (contexts, an echo server, a connected client stream).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertPair { cert: string; key: string }
export interface TestCerts {
  dir: string;
  ca: CertPair;
  server: CertPair;
  other: CertPair;
  foo: CertPair;
  wildcard: CertPair;
  ipOnly: CertPair;
  expired: CertPair;
  client: CertPair;
  untrustedCa: CertPair;
  untrustedServer: CertPair;
  untrustedClient: CertPair;
  selfSigned: CertPair;
  encryptedKey: string;
  password: string;
}

let made: TestCerts | null = null;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(dir: string, name: string): string {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${name}.key`], dir);
  return join(dir, `${name}.key`);
}

function makeCa(dir: string, name: string, cn: string): CertPair {
  const key = newKey(dir, name);
  openssl(['req', '-x509', '-new', '-key', key, '-subj', `/CN=${cn}`, '-days', '30', '-out', `${name}.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { cert: join(dir, `${name}.pem`), key };
}

function makeLeaf(dir: string, name: string, cn: string, san: string, issuer: CertPair, usage: 'serverAuth' | 'clientAuth'): CertPair {
  const key = newKey(dir, name);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', `${name}.csr`], dir);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n${san ? `subjectAltName=${san}\n` : ''}`);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial',
    '-days', '30', '-out', `${name}.pem`, '-extfile', ext], dir);
  return { cert: join(dir, `${name}.pem`), key };
}

/**
 * A server certificate signed by `issuer` that expired long ago. `openssl x509`
 * takes no past dates, `openssl ca` does (with a throwaway database).
 */
function makeExpiredLeaf(dir: string, name: string, san: string, issuer: CertPair): CertPair {
  const key = newKey(dir, name);
  openssl(['req', '-new', '-key', key, '-subj', '/CN=localhost', '-out', `${name}.csr`], dir);
  writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  writeFileSync(join(dir, `${name}.cnf`), `[ca]\ndefault_ca=expired\n[expired]\ndatabase=${name}.index\nnew_certs_dir=.\nserial=${name}.serial\ndefault_md=sha256\npolicy=any\n[any]\ncommonName=supplied\n`);
  writeFileSync(join(dir, `${name}.index`), '');
  writeFileSync(join(dir, `${name}.serial`), '01\n');
  openssl(['ca', '-batch', '-config', `${name}.cnf`, '-cert', issuer.cert, '-keyfile', issuer.key, '-in', `${name}.csr`,
    '-out', `${name}.pem`, '-extfile', `${name}.ext`, '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-notext'], dir);
  return { cert: join(dir, `${name}.pem`), key };
}

/** The test certificates (generated on first call). */
export function testCerts(): TestCerts {
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), 'gale-tls-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ca = makeCa(dir, 'ca', 'gale test CA');
  const server = makeLeaf(dir, 'server', 'localhost', 'DNS:localhost,IP:127.0.0.1,IP:::1', ca, 'serverAuth');
  const other = makeLeaf(dir, 'other', 'other.example', 'DNS:other.example', ca, 'serverAuth');
  const foo = makeLeaf(dir, 'foo', 'foo.example.com', 'DNS:foo.example.com', ca, 'serverAuth');
  const wildcard = makeLeaf(dir, 'wildcard', 'wildcard', 'DNS:*.example.com', ca, 'serverAuth');
  const ipOnly = makeLeaf(dir, 'ip-only', 'ip only', 'IP:127.0.0.1', ca, 'serverAuth');
  const expired = makeExpiredLeaf(dir, 'expired', 'DNS:localhost,IP:127.0.0.1', ca);
  const client = makeLeaf(dir, 'client', 'gale test client', '', ca, 'clientAuth');
  const untrustedCa = makeCa(dir, 'evil-ca', 'untrusted CA');
  const untrustedServer = makeLeaf(dir, 'evil-server', 'localhost', 'DNS:localhost,IP:127.0.0.1,IP:::1', untrustedCa, 'serverAuth');
  const untrustedClient = makeLeaf(dir, 'evil-client', 'untrusted client', '', untrustedCa, 'clientAuth');
  const selfKey = newKey(dir, 'self');
  openssl(['req', '-x509', '-new', '-key', selfKey, '-subj', '/CN=localhost', '-days', '30', '-out', 'self.pem',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  const password = 'correct horse';
  openssl(['pkey', '-in', server.key, '-aes256', '-passout', `pass:${password}`, '-out', 'server-encrypted.key'], dir);
  made = {
    dir, ca, server, other, foo, wildcard, ipOnly, expired, client, untrustedCa, untrustedServer, untrustedClient,
    selfSigned: { cert: join(dir, 'self.pem'), key: selfKey },
    encryptedKey: join(dir, 'server-encrypted.key'),
    password,
  };
  return made;
}

// ---------------------------------------------------------------- shared TLS test helpers

import { SSLContext, createDefaultContext } from '../ssl/context.js';
import { TCPServer } from '../net/tcpserver.js';
import { bindSockets } from '../net/netutil.js';
import { Socket } from '../reactor/sys/socket.js';
import { SSLIOStream } from '../streams/ssl-iostream.js';
import { StreamClosedError } from '../streams/errors.js';
import type { IOStream } from '../streams/iostream.js';
import type { SSLOptions } from '../ssl/options.js';

/** A server context with `pair` (default: the CA-signed localhost certificate). */
export function serverContext(pair: CertPair = testCerts().server): SSLContext {
  const context = new SSLContext('tls-server');
  context.loadCertChain(pair.cert, pair.key);
  return context;
}

/** A verifying client context trusting the test CA. */
export function clientContext(): SSLContext {
  return createDefaultContext('serverAuth', { cafile: testCerts().ca.cert });
}

/** A TLS echo server on 127.0.0.1 (lines, until the peer closes); `errors` collects how server streams ended. */
export class EchoTlsServer extends TCPServer {
  port = 0;
  readonly errors: Array<Error | null> = [];
  readonly streams: IOStream[] = [];
  constructor(sslOptions: SSLContext | SSLOptions) {
    super({ sslOptions });
    const sockets = bindSockets(0, '127.0.0.1');
    this.addSockets(sockets);
    this.port = (sockets[0]!.getsockname() as [string, number])[1];
  }
  /** Stops listening and closes the connections still open. */
  override stop(): void {
    super.stop();
    for (const stream of this.streams) stream.close();
  }
  override async handleStream(stream: IOStream): Promise<void> {
    this.streams.push(stream);
    try {
      for (;;) await stream.write((await stream.readUntil('\n'))!);
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
      this.errors.push(error.realError);
    }
  }
}

/** An SSLIOStream connected to 127.0.0.1:`port`, verifying `serverHostname`. */
export async function connectTls(port: number, sslOptions: SSLContext | SSLOptions = clientContext(),
  serverHostname = 'localhost'): Promise<SSLIOStream> {
  const stream = new SSLIOStream(new Socket(), { sslOptions });
  await stream.connect(['127.0.0.1', port], { serverHostname });
  return stream;
}
