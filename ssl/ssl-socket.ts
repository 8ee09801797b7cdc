/**
 * `SSLSocket` and `sslWrapSocket` (Python's `ssl.SSLSocket` as Tornado 4.4
 * drives it, and `tornado.netutil.ssl_wrap_socket`): a socket whose bytes
 * are TLS records, with the protocol run by Node's TLS engine.
 *
 * The fd stays a plain nonblocking socket on gale's reactor. Reads take
 * ciphertext from it and feed it to the engine through a `CipherPipe`;
 * plaintext the engine decrypts is collected here until asked for. Records
 * the engine produces are written to the fd at once; what the kernel does
 * not take waits here, and the engine produces nothing more until it is
 * written (`wantsWrite()` tells the owner to watch WRITE).
 *
 * The engine works partly asynchronously (TLS-NOTES trap 6): what is fed
 * is decrypted at once (a server's flight is made inside the feed of the
 * ClientHello), but the engine sends its next flight only once it learns,
 * a microtask later (`CipherPipe`), that the previous one was written; it
 * starts reading a tick after it is made, and the end of the handshake is
 * an event. So `doHandshake()` can only feed what the fd holds, flush what
 * is queued, and throw `SSLWantReadError`/`SSLWantWriteError` until the
 * handshake is done; it progresses once the caller returns to the loop
 * (or awaits), never within a synchronous spin. Things
 * the engine does on its own (handshake finished or failed, records to
 * send that the kernel refused) are reported through `onProgress`.
 *
 * Verification, mapped onto Node's checks:
 * - clients go through `tls.connect({ socket })`, which checks the chain
 *   and (with `checkHostname`, or `matchHostname` and a verify mode) the
 *   host name after OpenSSL's handshake, before any data is decrypted, and
 *   then destroys the socket: the peer sees a finished handshake and EOF,
 *   not a TLS alert (trap 4);
 * - servers use a standalone `TLSSocket`, which neither enforces
 *   `CERT_REQUIRED`/`CERT_OPTIONAL` on a presented certificate nor reports
 *   EOF mid-handshake (traps 2 and 3): both are checked here.
 */
import type * as tls from 'node:tls';
import { nodeTls } from './node-tls.js';
import { isIP } from 'node:net';
import { CHUNK_SIZE, chunk as nativeChunk } from '../reactor/sys/arena.js';
import { readToChunk, writeBytes, writeGather } from '../reactor/sys/libc.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { SOCK_NONBLOCK, Socket } from '../reactor/sys/socket.js';
import { CERT_NONE, CERT_REQUIRED, SSLContext } from './context.js';
import { sslOptionsToContext, type SSLOptions } from './options.js';
import { CipherPipe, type CiphertextSink } from './cipher-pipe.js';
import { inMicrotask } from '../reactor/microtask.js';
import { beginNodeBookkeeping, endNodeBookkeeping } from '../reactor/node-interop.js';
import {
  SSLCertVerificationError, SSLEOFError, SSLWantReadError, SSLWantWriteError, toSSLError,
} from './errors.js';
import { toPeerCertInfo, type PeerCertInfo } from './peer-cert.js';
import { hostnameMismatch } from './match-hostname.js';

const EMPTY = Buffer.alloc(0);
// Reads of a full chunk that decrypt nothing yet, before giving up for now.
const MAX_READS_PER_RECEIVE = 4;

type HandshakeState = 'idle' | 'running' | 'done' | 'failed' | 'closed';

/** Options of `sslWrapSocket` (Python's `wrap_socket` keywords). */
export interface WrapOptions {
  /** Act as the server side (default false). */
  serverSide?: boolean;
  /** Start the handshake at once if the socket is connected (default true; it still completes only across loop turns). */
  doHandshakeOnConnect?: boolean;
}

/** A TLS socket over a nonblocking fd, its protocol run by Node's TLS engine. */
export class SSLSocket extends Socket implements CiphertextSink {
  /** The settings of this connection (an SNI callback may switch a server's to another). */
  context: SSLContext;
  /** Whether this is the server side. */
  readonly serverSide: boolean;
  /** The name a client verifies and sends as SNI; on a server, the name the client asked for. */
  serverHostname: string | null;
  /**
   * Called when the engine did something on its own: the handshake ended
   * (check `handshakeDone()`/`failure()`), plaintext or end of file came
   * in, or records wait for the kernel (`wantsWrite()`). Set by the owner
   * (`SSLIOStream`); never called from inside this socket's own methods.
   */
  onProgress: (() => void) | null = null;
  /**
   * Tornado's rule (`SSLIOStream._verify_cert`): a client that verifies the
   * server's certificate (`verifyMode` not `CERT_NONE`) and knows
   * `serverHostname` also checks that the certificate covers that name,
   * whatever the context's `checkHostname` says — so Tornado's dict form
   * (`{ certReqs: CERT_REQUIRED, caCerts }`) checks names too. Off for a
   * bare socket (Python's `wrap_socket` leaves it to `checkHostname`);
   * client `SSLIOStream`s turn it on. Takes effect if set before the
   * handshake ends.
   */
  matchHostname = false;
  /**
   * Runs `callback` once the owner's current work is over, its Promise
   * continuations included: records the engine made while data was fed
   * (session tickets) wait there for the owner's reply to take them
   * along. `setImmediate` unless the owner knows better (`SSLIOStream`:
   * its loop's next iteration, which is no hand-over to Node).
   */
  runSoon: (callback: () => void) => void = setImmediate;

  private engine: tls.TLSSocket | null = null;
  private pipe: CipherPipe | null = null;
  private state: HandshakeState = 'idle';
  private error: Error | null = null;
  private readonly plain: Buffer[] = [];
  private plainSize = 0;
  private plainEnded = false;
  private readonly out: Buffer[] = [];
  private outOffset = 0;
  private outSize = 0;
  private outDone: (() => void) | null = null;
  // `out` holds records made while feeding the engine after the handshake
  // (its session tickets): written with the engine's next output, or when
  // its write cycle ends — one write where there would be two.
  private outHeld = false;
  private feeding = false;
  private lastReadShort = true;
  // Inside one of our own calls into the engine: its synchronous effects
  // are looked at by the caller, so they need no onProgress.
  private busy = 0;
  private progressQueued = false;
  private lowerWriteFinishing = false;
  // A plaintext write handed to the engine whose callback has not run: the
  // engine runs it the moment it learns its records were written.
  private plainWriteInFlight = false;
  private heldFlushQueued = false;
  // Whether feeding the engine may run application code (a server's SNI or
  // ALPN callback): then it is not Node's bookkeeping alone.
  private feedRunsAppCode = false;

  /**
   * Wraps `socket`, taking over its fd (the `socket` object is detached, as
   * Python's `wrap_socket` does). Prefer `sslWrapSocket`.
   */
  constructor(socket: Socket, context: SSLContext, options: WrapOptions & { serverHostname?: string | null } = {}) {
    if (!(socket instanceof Socket)) throw new TypeError('sslWrapSocket needs a Socket');
    if (!(context instanceof SSLContext)) throw new TypeError('SSLSocket needs an SSLContext');
    const serverSide = options.serverSide ?? false;
    const serverHostname = options.serverHostname ?? null;
    if (serverSide && serverHostname !== null) throw new Error('serverHostname is only for client sockets');
    if (!serverSide && context.protocol === 'tls-server') throw new Error('a tls-server context cannot make client connections');
    if (serverSide && context.protocol === 'tls-client') throw new Error('a tls-client context cannot serve connections');
    if (socket.fileno() < 0) throw new OSError(E.EBADF, 'wrap_socket', 'cannot wrap a closed socket');
    const nonblocking = !socket.getBlocking();
    super(socket.family, socket.type | (nonblocking ? SOCK_NONBLOCK : 0), socket.proto, socket.detach());
    this.context = context;
    this.serverSide = serverSide;
    this.serverHostname = serverHostname;
    if (options.doHandshakeOnConnect ?? true) {
      let connected = true;
      try {
        this.getpeername();
      } catch {
        connected = false;
      }
      if (connected) this.startHandshake();
    }
  }

  // ------------------------------------------------------------ handshake

  /**
   * Starts the engine (the client sends its ClientHello on the next loop
   * turn). Called by `doHandshake`, and by the stream once connected.
   * Bad settings (a client that must check a host name it was not given)
   * throw here.
   */
  startHandshake(): void {
    if (this.state !== 'idle') return;
    if (this.fileno() < 0) throw new OSError(E.EBADF, 'do_handshake');
    const context = this.context;
    if (!this.serverSide && context.checkHostname && !this.serverHostname) {
      throw new Error('checkHostname requires serverHostname: pass the host name to verify');
    }
    // The engine, its handles and its start's nextTick take async ids that
    // are Node's bookkeeping, not work for its event loop (reactor/node-interop.ts).
    let pipe: CipherPipe;
    let engine: tls.TLSSocket;
    beginNodeBookkeeping();
    try {
      pipe = new CipherPipe(this);
      try {
        engine = this.serverSide ? this.createServerEngine(pipe) : this.createClientEngine(pipe);
      } catch (error) {
        pipe.destroy();
        throw toSSLError(error);
      }
    } finally {
      endNodeBookkeeping();
    }
    // Server callbacks the application gave run inside the engine's reads:
    // what they create must count as theirs (see readCiphertext).
    this.feedRunsAppCode = this.serverSide && (context.sniCallback !== null || context.alpnSelectCallback !== null);
    this.pipe = pipe;
    this.engine = engine;
    this.state = 'running';
    const plaintext = (data: Buffer): void => {
      this.plain.push(data);
      this.plainSize += data.length;
      this.dataArrived();
    };
    // Node's stream code hands the TLSSocket each decrypted chunk with
    // `push(chunk)`: taken there, it skips the Readable — its buffering, its
    // 'data' event and its `maybeReadMore`, a nextTick per delivery, whose
    // async id made gale's loop hand its turn to Node. So nothing listens
    // for 'data' either (that resumed the Readable: another nextTick, per
    // connection). The end (null) goes the usual way: 'end' comes without
    // the Readable flowing.
    const push = engine.push;
    engine.push = function pushPlaintext(this: tls.TLSSocket, chunk: unknown, encoding?: BufferEncoding): boolean {
      if (!(chunk instanceof Uint8Array) || this.destroyed) return push.call(this, chunk, encoding);
      plaintext(chunk as Buffer);
      return true;
    };
    engine.on('end', () => {
      this.plainEnded = true;
      this.dataArrived();
    });
    engine.on('error', (error: unknown) => this.fail(toSSLError(error)));
    // A server TLSSocket of our own reports protocol errors only here.
    engine.on('_tlsError', (error: unknown) => this.fail(toSSLError(error)));
    engine.on('close', () => {
      if (this.state !== 'running') return;
      const code = (engine as { authorizationError?: unknown }).authorizationError;
      this.fail(typeof code === 'string'
        ? new SSLCertVerificationError(code, code)
        : new SSLEOFError('the TLS engine closed during the handshake'));
    });
  }

  private createServerEngine(pipe: CipherPipe): tls.TLSSocket {
    const context = this.context;
    const options: tls.TLSSocketOptions & { ALPNCallback?: unknown } = {
      isServer: true,
      secureContext: context.secureContext(),
      requestCert: context.verifyMode !== CERT_NONE,
      rejectUnauthorized: context.verifyMode === CERT_REQUIRED,
    };
    const select = context.alpnSelectCallback;
    if (select) {
      options.ALPNCallback = ({ servername, protocols }: { servername?: string; protocols: string[] }) => select(protocols, servername || null);
    } else if (context.alpnProtocols()) {
      options.ALPNProtocols = context.alpnProtocols()!;
    }
    if (context.sniCallback) {
      const original = context;
      const callback = context.sniCallback;
      options.SNICallback = (servername, done) => {
        this.serverHostname = servername || null;
        try {
          const chosen = callback(this, servername || null, original);
          if (chosen instanceof SSLContext) this.context = chosen;
          done(null, this.context.secureContext());
        } catch (error) {
          done(error as Error);
        }
      };
    }
    const engine = new (nodeTls().TLSSocket)(pipe as unknown as import('node:net').Socket, options);
    engine.on('secure', () => this.serverHandshakeDone(engine));
    return engine;
  }

  private createClientEngine(pipe: CipherPipe): tls.TLSSocket {
    const context = this.context;
    const hostname = this.serverHostname;
    const options: tls.ConnectionOptions = {
      socket: pipe as unknown as import('node:net').Socket,
      secureContext: context.secureContext(),
      rejectUnauthorized: context.verifyMode !== CERT_NONE,
      // Node checks host names only this way, right after OpenSSL's
      // handshake and before any application data is decrypted; an error
      // returned here destroys the engine with it. Decided then, not now:
      // a stream may set `matchHostname` after the handshake started.
      checkServerIdentity: (_host, cert) => (this.checksHostname() ? hostnameMismatch(this.serverHostname!, cert) : undefined),
    };
    // SNI carries names only; an IP literal is verified but not sent.
    if (hostname && !isIP(hostname)) options.servername = hostname;
    const alpn = context.alpnProtocols();
    if (alpn) options.ALPNProtocols = alpn;
    const engine = nodeTls().connect(options);
    engine.on('secureConnect', () => this.handshakeFinished());
    return engine;
  }

  /**
   * Whether the client's handshake checks `serverHostname` against the
   * certificate: always with `checkHostname` (Python's rule), and with
   * `matchHostname` whenever the certificate is verified at all.
   */
  private checksHostname(): boolean {
    const context = this.context;
    if (this.serverHostname === null) return false;
    return context.checkHostname || (this.matchHostname && context.verifyMode !== CERT_NONE);
  }

  private serverHandshakeDone(engine: tls.TLSSocket): void {
    // A standalone server TLSSocket does not judge the client's certificate (trap 3).
    if (this.context.verifyMode !== CERT_NONE) {
      const handle = (engine as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle;
      const verifyError = handle?.verifyError?.() ?? null;
      const presented = Object.keys(engine.getPeerCertificate() ?? {}).length > 0;
      if (verifyError && (this.context.verifyMode === CERT_REQUIRED || presented)) {
        this.fail(new SSLCertVerificationError(verifyError.message, verifyError.code ?? 'UNKNOWN'));
        return;
      }
    }
    this.handshakeFinished();
  }

  private handshakeFinished(): void {
    if (this.state !== 'running') return;
    this.state = 'done';
    this.progress();
  }

  private fail(error: Error): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    this.state = 'failed';
    this.error = error;
    this.dropCiphertext();
    this.destroyEngine(this.engine, null);
    this.progress();
  }

  /**
   * Tells the owner the engine changed something. Inside our own calls the
   * owner is mid-operation: tell it right after (a microtask runs once the
   * synchronous work under way returns; unlike a nextTick it takes no
   * async id, which would make the loop hand its turn to Node), not in
   * the middle.
   */
  private progress(): void {
    if (this.busy === 0) {
      this.onProgress?.();
      return;
    }
    if (this.progressQueued) return;
    this.progressQueued = true;
    inMicrotask(this.queuedProgress);
  }

  private readonly queuedProgress = (): void => {
    this.progressQueued = false;
    this.onProgress?.();
  };

  /** Decrypted data or an end of file: news only when it came outside our own reads (trap 7). */
  private dataArrived(): void {
    if (this.busy === 0) this.onProgress?.();
  }

  /** Whether the handshake has completed. */
  handshakeDone(): boolean {
    return this.state === 'done';
  }

  /** Whether the handshake is under way (started, not finished or failed). */
  handshaking(): boolean {
    return this.state === 'running';
  }

  /** The error that ended this connection's TLS (handshake or protocol failure), or null. */
  failure(): Error | null {
    return this.error;
  }

  /**
   * Python's nonblocking `do_handshake()`: feeds what the fd holds to the
   * engine and writes what it has to send; returns once the handshake is
   * done, throws `SSLWantReadError`/`SSLWantWriteError` while it is not,
   * and the handshake's error when it failed. Progress needs loop turns
   * between calls (see the top of this file).
   */
  doHandshake(): void {
    if (this.state !== 'done' && this.fileno() >= 0 && this.getBlocking()) {
      // A blocking read would wait for a flight the engine has not sent yet.
      throw new Error('doHandshake needs a nonblocking socket (setBlocking(false)): the handshake progresses between loop turns');
    }
    this.startHandshake();
    this.pump();
    if (this.error) throw this.error;
    if (this.state === 'done') return;
    if (this.state === 'closed') throw new OSError(E.EBADF, 'do_handshake');
    if (this.outSize > 0) throw new SSLWantWriteError();
    throw new SSLWantReadError();
  }

  /** Writes queued records, then feeds the engine what the fd holds. */
  private pump(): void {
    if (this.state !== 'running' && this.state !== 'done') return;
    if (!this.flushCiphertext()) return;
    for (let i = 0; i < MAX_READS_PER_RECEIVE && this.state === 'running'; i++) {
      if (this.readCiphertext() <= 0 || this.lastReadShort) break;
    }
  }

  // ------------------------------------------------------------ ciphertext in

  /**
   * One nonblocking read from the fd into the engine. Returns the bytes
   * read, 0 at end of file, -1 if the fd would block. An end of file during
   * the handshake fails it (the engine itself would not notice: trap 2);
   * after it, it ends the plaintext (a TCP close without close_notify is
   * accepted, as Python's `suppress_ragged_eofs` does).
   */
  private readCiphertext(): number {
    const n = readToChunk(this.fileno(), CHUNK_SIZE);
    if (n < 0) {
      this.lastReadShort = true;
      return n;
    }
    if (n === 0) {
      this.lastReadShort = true;
      if (this.state === 'running') this.fail(new SSLEOFError());
      else this.plainEnded = true;
      return 0;
    }
    this.lastReadShort = n < CHUNK_SIZE;
    // The chunk region is shared by every stream and reused by the next
    // read: handed over as it is only when the engine copies it in at once
    // (it reads, and nothing waits in the pipe). Before its first read
    // the pipe keeps what it is given: then a copy (feeding the region
    // itself there mixed up concurrent handshakes).
    const pipe = this.pipe!;
    const region = nativeChunk.view.subarray(0, n);
    const data = pipe.takesAtOnce() ? region : Buffer.from(region);
    this.busy++;
    this.feeding = true;
    // The engine's write requests and nextTicks are Node's bookkeeping,
    // unless an application callback runs in there too (reactor/node-interop.ts).
    const bookkeeping = !this.feedRunsAppCode;
    if (bookkeeping) beginNodeBookkeeping();
    try {
      pipe.feed(data);
    } finally {
      if (bookkeeping) endNodeBookkeeping();
      this.feeding = false;
      this.busy--;
    }
    return n;
  }

  /**
   * Decrypted data, for the stream: what is buffered, else what one read
   * of the fd (a few, while they come back full) decrypts — at most
   * `maxBytes` of it; the rest stays here (`pending()`), as Python's
   * `recv(bufsize)` leaves it in OpenSSL. Returns an empty Buffer at end of
   * file and null if nothing is available now. Throws the connection's TLS
   * or socket error.
   */
  receive(maxBytes = Infinity): Buffer | null {
    if (this.plainSize === 0 && !this.plainEnded && this.error === null && (this.state === 'running' || this.state === 'done')) {
      for (let i = 0; i < MAX_READS_PER_RECEIVE; i++) {
        const n = this.readCiphertext();
        if (n <= 0 || this.plainSize > 0 || this.lastReadShort || this.error !== null) break;
      }
    }
    if (this.plainSize > 0) return this.takePlain(Math.min(this.plainSize, maxBytes));
    if (this.error !== null) throw this.error;
    if (this.plainEnded) return EMPTY;
    return null;
  }

  /** Whether the last read of the fd came back short (it is empty for now). */
  fdDrained(): boolean {
    return this.lastReadShort;
  }

  /** Decrypted bytes waiting to be read (Python's `pending()`): data the poller cannot see. */
  pending(): number {
    return this.plainSize;
  }

  /** Whether the peer ended the TLS session (or the connection) and all data was read. */
  atEof(): boolean {
    return this.plainEnded && this.plainSize === 0;
  }

  /**
   * The first `max` (> 0) decrypted bytes. The engine delivers a record at
   * a time (up to 16 KiB): a read that wants more gets those it covers
   * copied into one Buffer, and only those — the rest stay as they are
   * (concatenating everything and keeping the tail as a view copied the
   * tail again on every read, and kept a large buffer alive for it).
   */
  private takePlain(max: number): Buffer {
    const plain = this.plain;
    const first = plain[0]!;
    let result: Buffer;
    if (first.length >= max || plain.length === 1) {
      if (first.length <= max) {
        plain.shift();
        result = first;
      } else {
        result = first.subarray(0, max);
        plain[0] = first.subarray(max);
      }
    } else {
      let count = 0;
      let size = 0;
      while (count < plain.length && size < max) size += plain[count++]!.length;
      const parts = plain.splice(0, count);
      if (size > max) {
        // The last piece is split: its tail stays first in line.
        const last = parts[count - 1]!;
        const keep = last.length - (size - max);
        parts[count - 1] = last.subarray(0, keep);
        plain.unshift(last.subarray(keep));
        size = max;
      }
      result = Buffer.concat(parts, size);
    }
    this.plainSize -= result.length;
    return result;
  }

  // ------------------------------------------------------------ ciphertext out

  /** From the engine: records to send. Written at once; the rest waits for WRITE. */
  sendCiphertext(chunks: Buffer[], done: () => void): void {
    // After close (or a failure) the engine's last words have nowhere to go (trap 5).
    if (this.state === 'closed' || this.state === 'failed' || this.fileno() < 0) {
      done();
      return;
    }
    const wasEmpty = this.outSize === 0;
    for (const c of chunks) {
      if (c.length === 0) continue;
      this.out.push(c);
      this.outSize += c.length;
    }
    if (this.feeding && this.state === 'done' && (wasEmpty || this.outHeld)) {
      // Records the peer's data provoked (a TLS 1.3 server's session
      // tickets after the client's Finished): the reply the owner is about
      // to write can go in the same write. The engine counts them as sent;
      // `lowerWriteFinished` writes them if nothing else comes first.
      this.outHeld = this.outSize > 0;
      this.finishCiphertextWrite(done);
      return;
    }
    this.outHeld = false;
    this.outDone = done;
    if (!this.flushCiphertext()) this.progress();
  }

  /** From the pipe: the engine was discarded by `close()` (its events reach no one now). */
  engineDiscarded(): boolean {
    return this.state === 'closed';
  }

  /**
   * Tells the engine its records are written. It learns only later —
   * `done` tells the pipe at once, but the pipe passes the news on in a
   * microtask (the engine's own call may still be on the stack) — and
   * until then it holds anything new it encrypts. So `canSend` is false
   * meanwhile. When the records came from a plaintext write, the engine's
   * callback for it (`engineWriteDone`, inside the pipe's microtask) says
   * when it is over; else (handshake flights, session tickets) a microtask
   * queued now, behind the pipe's.
   */
  private finishCiphertextWrite(done: () => void): void {
    done();
    if (this.lowerWriteFinishing) return;
    this.lowerWriteFinishing = true;
    if (!this.plainWriteInFlight) inMicrotask(this.lowerWriteFinished);
  }

  private readonly lowerWriteFinished = (): void => {
    this.lowerWriteFinishing = false;
    if (this.state !== 'done') return;
    this.progress();
    // Held records: the owner's reply (a Promise continuation or two away
    // still) takes them along; if none comes, they go alone a little later.
    if (this.outHeld && this.state === 'done' && !this.heldFlushQueued) {
      this.heldFlushQueued = true;
      this.runSoon(this.flushHeld);
    }
  };

  private readonly flushHeld = (): void => {
    this.heldFlushQueued = false;
    if (this.outHeld && this.state === 'done') {
      this.outHeld = false;
      if (!this.flushCiphertext()) this.progress();
    }
  };

  /**
   * Whether plaintext the engine took has not all reached the kernel: its
   * records wait here (held ones too), or the engine is still turning a
   * write into records (it hands them over a batch at a time, each after
   * learning the last was written). A close now would lose them.
   */
  sending(): boolean {
    if (this.state !== 'done') return false;
    return this.outSize > 0 || this.plainWriteInFlight || this.lowerWriteFinishing || (this.engine?.writableLength ?? 0) > 0;
  }

  /** Whether records are waiting for the kernel to take them (watch WRITE). */
  wantsWrite(): boolean {
    return this.outSize > 0 && !this.outHeld;
  }

  /**
   * Writes queued records to the fd. Returns true once none is left. A
   * socket error fails the connection (its `failure()`).
   */
  flushCiphertext(): boolean {
    const fd = this.fileno();
    while (this.outSize > 0) {
      const first = this.out[0]!;
      const firstLeft = first.length - this.outOffset;
      let offered: number;
      let n: number;
      try {
        if (this.out.length === 1 || firstLeft >= CHUNK_SIZE) {
          offered = firstLeft;
          n = writeBytes(fd, this.outOffset ? first.subarray(this.outOffset) : first);
        } else {
          offered = Math.min(this.outSize, CHUNK_SIZE);
          n = writeGather(fd, this.out, 0, this.outOffset);
        }
      } catch (error) {
        this.fail(error as Error);
        return true;
      }
      if (n < 0) return false;
      this.consumeOut(n);
      // The kernel took less than offered: it is full until WRITE says otherwise.
      if (n < offered) return false;
    }
    this.outHeld = false;
    const done = this.outDone;
    this.outDone = null;
    if (done) this.finishCiphertextWrite(done);
    return true;
  }

  private consumeOut(n: number): void {
    this.outSize -= n;
    while (n > 0) {
      const left = this.out[0]!.length - this.outOffset;
      if (n >= left) {
        n -= left;
        this.out.shift();
        this.outOffset = 0;
      } else {
        this.outOffset += n;
        n = 0;
      }
    }
  }

  private dropCiphertext(): void {
    this.outHeld = false;
    this.out.length = 0;
    this.outOffset = 0;
    this.outSize = 0;
    const done = this.outDone;
    this.outDone = null;
    done?.();
  }

  /**
   * Plaintext to send, for the stream: hands `data` to the engine and
   * returns its length, or returns 0 when it would block (records waiting
   * for the kernel, or the engine holding a backlog). Throws the
   * connection's error.
   */
  sendSome(data: Uint8Array | readonly Uint8Array[]): number {
    if (this.error !== null) throw this.error;
    if (this.state !== 'done') {
      if (this.state === 'closed') throw new OSError(E.EBADF, 'send');
      return 0;
    }
    if (this.outSize > 0 && !this.outHeld && !this.flushCiphertext()) return 0;
    const engine = this.engine!;
    // One write in flight at a time: the engine encrypts a write at once
    // unless the previous one is still finishing (until the pipe's microtask);
    // then this would only queue plaintext out of anyone's sight.
    if (engine.writableLength > 0 || this.lowerWriteFinishing) return 0;
    let length = 0;
    this.busy++;
    this.plainWriteInFlight = true;
    // The engine's write requests (its own, and the pipe's for the records)
    // are Node's bookkeeping (reactor/node-interop.ts).
    beginNodeBookkeeping();
    try {
      if (data instanceof Uint8Array) {
        engine.write(data, this.engineWriteDone);
        length = data.byteLength;
      } else {
        // Several buffers as one engine write (Node's writev): one batch of records.
        engine.cork();
        for (let i = 0; i < data.length; i++) {
          engine.write(data[i]!, i === data.length - 1 ? this.engineWriteDone : undefined);
          length += data[i]!.byteLength;
        }
        engine.uncork();
      }
    } finally {
      endNodeBookkeeping();
      this.busy--;
    }
    if (this.error !== null) throw this.error;
    return length;
  }

  /**
   * The engine finished a write (its records are written, and it knows):
   * it takes the next one (the owner may have some queued).
   */
  private readonly engineWriteDone = (): void => {
    this.plainWriteInFlight = false;
    if (this.lowerWriteFinishing) this.lowerWriteFinished();
    else if (this.state === 'done') this.progress();
  };

  /**
   * Whether `sendSome` would take data now (else the owner waits for
   * `onProgress` or for WRITE).
   */
  canSend(): boolean {
    return this.state === 'done' && (this.outSize === 0 || this.outHeld) && !this.lowerWriteFinishing && (this.engine?.writableLength ?? 1) === 0;
  }

  // ------------------------------------------------------------ Python's socket API over TLS

  /** Sends plaintext; throws `SSLWantWriteError`/`SSLWantReadError` when it cannot now. */
  override send(data: Uint8Array | string, _flags = 0): number {
    if (this.state !== 'done') this.doHandshake();
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const n = this.sendSome(bytes);
    if (n === 0 && bytes.byteLength > 0) throw new SSLWantWriteError();
    return n;
  }

  /** Receives up to `bufsize` plaintext bytes (empty at end of file); throws `SSLWantReadError` when none is there yet. */
  override recv(bufsize: number, _flags = 0): Buffer {
    if (!Number.isInteger(bufsize) || bufsize < 0) throw new RangeError('negative or non-integer buffersize in recv');
    if (this.state !== 'done' && !(this.state === 'failed' && this.plainSize > 0)) this.doHandshake();
    if (this.plainSize === 0) {
      const data = this.receive();
      if (data === null) throw new SSLWantReadError();
      if (data.length === 0) return EMPTY;
      this.plain.unshift(data);
      this.plainSize += data.length;
    }
    return this.takePlain(bufsize);
  }

  /** Receives into `buf` (up to `nbytes`); returns the count (0 at end of file). */
  override recvInto(buf: Uint8Array, nbytes?: number): number {
    const data = this.recv(nbytes || buf.byteLength);
    buf.set(data, 0);
    return data.length;
  }

  /**
   * The peer's certificate: Python's dict form, or with `binaryForm` its
   * DER bytes; null when the peer sent none. Throws before the handshake.
   */
  getpeercert(binaryForm = false): PeerCertInfo | Buffer | null {
    if (this.state !== 'done') throw new Error('handshake not done yet');
    const cert = this.engine!.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) return null;
    if (binaryForm) return cert.raw;
    return toPeerCertInfo(cert);
  }

  /** The ALPN protocol agreed on, or null. */
  selectedAlpnProtocol(): string | null {
    const p = this.engine?.alpnProtocol;
    return typeof p === 'string' && p ? p : null;
  }

  /** `[name, protocol version, secret bits]` of the cipher in use, or null before the handshake. */
  cipher(): [string, string, number] | null {
    if (this.state !== 'done') return null;
    const c = this.engine!.getCipher();
    const bits = /256|CHACHA20/.test(c.name) ? 256 : /128/.test(c.name) ? 128 : /3DES|DES-CBC3/.test(c.name) ? 112 : 0;
    return [c.name, c.version, bits];
  }

  /** The TLS version in use (`'TLSv1.3'`), or null before the handshake. */
  version(): string | null {
    if (this.state !== 'done') return null;
    return this.engine!.getProtocol();
  }

  /** Closes the connection: the engine is discarded (no close_notify, as Python's `close()`), the fd closed. */
  override close(): void {
    if (this.state !== 'closed') {
      // Records already made (data the stream counted as written) get one last chance.
      if (this.outSize > 0 && this.state === 'done' && this.fileno() >= 0) this.flushCiphertext();
      this.state = 'closed';
      const engine = this.engine;
      const pipe = this.pipe;
      this.engine = null;
      this.pipe = null;
      this.dropCiphertext();
      this.plain.length = 0;
      this.plainSize = 0;
      this.destroyEngine(engine, pipe);
    }
    super.close();
  }

  /**
   * Destroys the engine (and the pipe under it). What Node does inside —
   * the nextTicks of its stream's destroy, the handles' close — is its
   * bookkeeping (reactor/node-interop.ts); the immediate it queues to free
   * the OpenSSL session comes later, on the pipe's close, and counts.
   */
  private destroyEngine(engine: tls.TLSSocket | null, pipe: CipherPipe | null): void {
    beginNodeBookkeeping();
    try {
      engine?.destroy();
      pipe?.destroy();
    } finally {
      endNodeBookkeeping();
    }
  }
}

/**
 * Wraps `socket` for TLS (Tornado's `ssl_wrap_socket`): `sslOptions` is an
 * `SSLContext` or Tornado's dict form; `serverHostname` is the name a
 * client verifies and sends as SNI.
 */
export function sslWrapSocket(socket: Socket, sslOptions: SSLOptions | SSLContext, serverHostname?: string | null,
  options: WrapOptions = {}): SSLSocket {
  const context = sslOptionsToContext(sslOptions);
  return new SSLSocket(socket, context, { ...options, serverHostname: serverHostname ?? null });
}

