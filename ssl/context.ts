/**
 * `SSLContext`: the settings TLS connections are made with (Python's
 * `ssl.SSLContext`, which Tornado 4.4 accepts wherever it takes
 * `ssl_options`), built on Node's `tls.createSecureContext`.
 *
 * A context collects certificates, CAs, ciphers and ALPN protocols; the
 * Node `SecureContext` is built from them on first use and rebuilt only
 * after a change, so every connection of a server shares one.
 *
 * Defaults follow Python: `'tls-client'` verifies the peer's certificate
 * and host name; `'tls-server'` and `'tls'` verify nothing; a fresh
 * context trusts no CA until `loadDefaultCerts` or `loadVerifyLocations`
 * (`createDefaultContext` does the former). Node's own defaults apply to
 * the rest (TLS 1.2 minimum, its cipher list).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type * as tls from 'node:tls';
import { nodeTls, x509Certificate } from './node-tls.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { toSSLError } from './errors.js';
import type { ServernameCallback } from './servername-callback.js';

/** Do not ask for (server) or check (client) the peer's certificate. */
export const CERT_NONE = 0;
/** Ask for the peer's certificate and check it if one is sent (servers). */
export const CERT_OPTIONAL = 1;
/** Require a valid certificate from the peer. */
export const CERT_REQUIRED = 2;

/** What a context is for: Python's `PROTOCOL_TLS`, `PROTOCOL_TLS_CLIENT`, `PROTOCOL_TLS_SERVER`. */
export type SSLProtocol = 'tls' | 'tls-client' | 'tls-server';

/** A TLS version bound, as Node names them. */
export type TLSVersion = 'TLSv1.2' | 'TLSv1.3';

/**
 * Chooses the ALPN protocol of a server connection from those the client
 * offers; return one of them, or undefined to refuse (the handshake fails
 * with `no_application_protocol`).
 */
export type AlpnSelectCallback = (protocols: string[], serverName: string | null) => string | undefined;

/** Reads a file a context needs, failing with an `OSError` that names it. */
function readNamed(path: string, what: string): Buffer {
  if (typeof path !== 'string' || path === '') throw new TypeError(`${what} must be a file path, got ${JSON.stringify(path)}`);
  try {
    return readFileSync(path);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const errno = typeof e.errno === 'number' ? Math.abs(e.errno) : E.EIO;
    throw new OSError(errno, 'open', `[Errno ${errno}] ${e.code ?? 'error'}: cannot read ${what} ${JSON.stringify(path)}`, e.code);
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in `text`; throws `SSLError` if there are none. */
function pemCertificates(text: string, where: string): string[] {
  const found = text.match(PEM_CERT) ?? [];
  for (const pem of found) {
    try {
      new (x509Certificate())(pem);
    } catch (error) {
      throw toSSLError(Object.assign(error as Error, { message: `${(error as Error).message} in ${where}` }));
    }
  }
  return found;
}

/** Settings for TLS connections (Python's `ssl.SSLContext`). */
export class SSLContext {
  /** What this context is for. */
  readonly protocol: SSLProtocol;
  /** The lowest TLS version to accept (default Node's, TLS 1.2). */
  minimumVersion: TLSVersion | null = null;
  /** The highest TLS version to offer (default TLS 1.3). */
  maximumVersion: TLSVersion | null = null;
  /** The SNI callback of server connections (`setServernameCallback`). */
  sniCallback: ServernameCallback | null = null;
  /** The ALPN choice of server connections (`setAlpnSelectCallback`). */
  alpnSelectCallback: AlpnSelectCallback | null = null;

  private verify: number;
  private hostnameCheck: boolean;
  private certChain: { cert: Buffer; key: Buffer; passphrase?: string } | null = null;
  private readonly caCerts: Array<string> = [];
  private ciphers: string | null = null;
  private alpn: string[] | null = null;
  private built: tls.SecureContext | null = null;

  /** `'tls-client'` verifies certificates and host names; the others verify nothing. */
  constructor(protocol: SSLProtocol = 'tls') {
    if (protocol !== 'tls' && protocol !== 'tls-client' && protocol !== 'tls-server') {
      throw new TypeError(`SSLContext protocol must be 'tls', 'tls-client' or 'tls-server', got ${JSON.stringify(protocol)}`);
    }
    this.protocol = protocol;
    const client = protocol === 'tls-client';
    this.verify = client ? CERT_REQUIRED : CERT_NONE;
    this.hostnameCheck = client;
  }

  /** `CERT_NONE`, `CERT_OPTIONAL` or `CERT_REQUIRED`. */
  get verifyMode(): number {
    return this.verify;
  }

  set verifyMode(mode: number) {
    if (mode !== CERT_NONE && mode !== CERT_OPTIONAL && mode !== CERT_REQUIRED) {
      throw new RangeError(`verifyMode must be CERT_NONE, CERT_OPTIONAL or CERT_REQUIRED, got ${String(mode)}`);
    }
    if (mode === CERT_NONE && this.hostnameCheck) {
      throw new Error('Cannot set verifyMode to CERT_NONE when checkHostname is enabled.');
    }
    this.verify = mode;
  }

  /** Whether a client checks that the certificate covers the host name (setting it on turns verification on, as in Python). */
  get checkHostname(): boolean {
    return this.hostnameCheck;
  }

  set checkHostname(value: boolean) {
    this.hostnameCheck = Boolean(value);
    if (this.hostnameCheck && this.verify === CERT_NONE) this.verify = CERT_REQUIRED;
  }

  /**
   * Loads this side's certificate chain and private key (PEM files; the
   * key may be in `certfile` too, and may be encrypted with `password`).
   * Fails with `OSError` for a file that cannot be read and `SSLError` for
   * bad PEM, a wrong password or a key that does not match.
   */
  loadCertChain(certfile: string, keyfile?: string | null, password?: string | (() => string)): void {
    const cert = readNamed(certfile, 'certfile');
    const key = keyfile == null ? cert : readNamed(keyfile, 'keyfile');
    const passphrase = typeof password === 'function' ? password() : password;
    if (passphrase !== undefined && typeof passphrase !== 'string') throw new TypeError('password must be a string');
    const chain = passphrase === undefined ? { cert, key } : { cert, key, passphrase };
    try {
      nodeTls().createSecureContext(chain);
    } catch (error) {
      throw toSSLError(error);
    }
    this.certChain = chain;
    this.changed();
  }

  /**
   * Adds CA certificates to trust: `cafile` (PEM), `capath` (a directory of
   * PEM files), `cadata` (PEM text, or DER bytes).
   */
  loadVerifyLocations(options: { cafile?: string | null; capath?: string | null; cadata?: string | Uint8Array | null }): void {
    const { cafile, capath, cadata } = options ?? {};
    if (cafile == null && capath == null && cadata == null) throw new TypeError('cafile, capath and cadata cannot be all omitted');
    const added: string[] = [];
    if (cafile != null) {
      const found = pemCertificates(readNamed(cafile, 'cafile').toString('latin1'), cafile);
      if (found.length === 0) throw toSSLError({ code: 'ERR_OSSL_X509_NO_CERTIFICATE_OR_CRL_FOUND', library: 'X509 routines', message: `no certificate found in ${cafile}` });
      added.push(...found);
    }
    if (capath != null) {
      let names: string[];
      try {
        names = readdirSync(capath);
      } catch {
        readNamed(capath, 'capath'); // throws the OSError naming it
        names = [];
      }
      for (const name of names.sort()) {
        const file = join(capath, name);
        try {
          if (!statSync(file).isFile()) continue;
        } catch {
          continue;
        }
        added.push(...pemCertificates(readFileSync(file, 'latin1'), file));
      }
    }
    if (cadata != null) {
      if (typeof cadata === 'string') {
        const found = pemCertificates(cadata, 'cadata');
        if (found.length === 0) throw toSSLError({ code: 'ERR_OSSL_X509_NO_CERTIFICATE_OR_CRL_FOUND', library: 'X509 routines', message: 'no certificate found in cadata' });
        added.push(...found);
      } else {
        try {
          added.push(new (x509Certificate())(cadata).toString());
        } catch (error) {
          throw toSSLError(error);
        }
      }
    }
    this.caCerts.push(...added);
    this.changed();
  }

  /** Trusts Node's bundled root CAs (Mozilla's list), and the system store where Node offers it. */
  loadDefaultCerts(): void {
    this.caCerts.push(...nodeTls().rootCertificates);
    const withSystem = nodeTls() as unknown as { getCACertificates?: (type: string) => string[] };
    if (typeof withSystem.getCACertificates === 'function') {
      try {
        this.caCerts.push(...withSystem.getCACertificates('system'));
      } catch {
        // no system store on this platform
      }
    }
    this.changed();
  }

  /** Sets the cipher list (OpenSSL syntax; TLS 1.2 and below). Throws `SSLError` if it selects none. */
  setCiphers(ciphers: string): void {
    if (typeof ciphers !== 'string') throw new TypeError('ciphers must be a string');
    try {
      nodeTls().createSecureContext({ ciphers });
    } catch (error) {
      throw toSSLError(error);
    }
    this.ciphers = ciphers;
    this.changed();
  }

  /** Sets the ALPN protocols, most preferred first (a server picks from the client's offer by this order). */
  setAlpnProtocols(protocols: string[]): void {
    if (!Array.isArray(protocols)) throw new TypeError('setAlpnProtocols needs an array of strings');
    for (const p of protocols) {
      if (typeof p !== 'string' || p.length === 0 || Buffer.byteLength(p) > 255) {
        throw new RangeError(`ALPN protocols must be 1 to 255 bytes long, got ${JSON.stringify(p)}`);
      }
    }
    this.alpn = [...protocols];
  }

  /** The ALPN protocols set, or null. */
  alpnProtocols(): string[] | null {
    return this.alpn;
  }

  /** Sets (or with null clears) the SNI callback of server connections (Python's `set_servername_callback`). */
  setServernameCallback(callback: ServernameCallback | null): void {
    if (callback !== null && typeof callback !== 'function') throw new TypeError('the servername callback must be a function or null');
    this.sniCallback = callback;
  }

  /** Sets (or with null clears) a callback choosing the ALPN protocol on server connections (beyond Python). */
  setAlpnSelectCallback(callback: AlpnSelectCallback | null): void {
    if (callback !== null && typeof callback !== 'function') throw new TypeError('the ALPN callback must be a function or null');
    this.alpnSelectCallback = callback;
  }

  /** Whether a certificate chain is loaded. */
  hasCertChain(): boolean {
    return this.certChain !== null;
  }

  /**
   * The Node `SecureContext` for these settings (built once, rebuilt after
   * a change). For the TLS layer; applications need not call it.
   */
  secureContext(): tls.SecureContext {
    if (this.built === null) {
      const options: tls.SecureContextOptions = { ca: this.caCerts, sessionIdContext: 'gale' };
      if (this.certChain) Object.assign(options, this.certChain);
      if (this.ciphers !== null) options.ciphers = this.ciphers;
      if (this.minimumVersion) options.minVersion = this.minimumVersion;
      if (this.maximumVersion) options.maxVersion = this.maximumVersion;
      try {
        this.built = nodeTls().createSecureContext(options);
      } catch (error) {
        throw toSSLError(error);
      }
      this.builtVersions = [this.minimumVersion, this.maximumVersion];
    } else if (this.builtVersions[0] !== this.minimumVersion || this.builtVersions[1] !== this.maximumVersion) {
      this.built = null;
      return this.secureContext();
    }
    return this.built;
  }

  private builtVersions: [TLSVersion | null, TLSVersion | null] = [null, null];

  private changed(): void {
    this.built = null;
  }
}

/**
 * A context with secure defaults (Python's `ssl.create_default_context`):
 * `'serverAuth'` (the default) is for clients — it verifies the server's
 * certificate and host name against `cafile`/`capath`/`cadata`, or Node's
 * root CAs when none is given; `'clientAuth'` is for servers.
 */
export function createDefaultContext(purpose: 'serverAuth' | 'clientAuth' = 'serverAuth',
  options: { cafile?: string; capath?: string; cadata?: string | Uint8Array } = {}): SSLContext {
  if (purpose !== 'serverAuth' && purpose !== 'clientAuth') throw new TypeError(`purpose must be 'serverAuth' or 'clientAuth', got ${JSON.stringify(purpose)}`);
  const context = new SSLContext(purpose === 'serverAuth' ? 'tls-client' : 'tls-server');
  if (options.cafile != null || options.capath != null || options.cadata != null) context.loadVerifyLocations(options);
  else if (context.verifyMode !== CERT_NONE) context.loadDefaultCerts();
  return context;
}
