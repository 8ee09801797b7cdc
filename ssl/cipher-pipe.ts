/**
 * The ciphertext side of a TLS connection: the stream handle Node's TLS
 * engine (a `tls.TLSSocket`, TLSWrap over OpenSSL) reads records from and
 * writes records to, while the fd stays with gale (the role
 * `ssl.MemoryBIO` plays for asyncio's `sslproto.py`).
 *
 * - What gale reads from the socket is `feed()`-ed in; the engine decrypts
 *   it at once (application data reaches the TLSSocket's `'data'` inside
 *   the call).
 * - What the engine wants sent arrives as one batch of records per engine
 *   write and goes to the `CiphertextSink`, which writes it to the fd and
 *   calls back once it is all in the kernel. The engine sends nothing more
 *   until it is told (one write in flight), which is the TLS layer's
 *   backpressure.
 *
 * TLSWrap sits on a C++ stream. Over a JS stream Node gives it a `JSStream`
 * handle, whose reads and writes call into JavaScript, driven by Node's
 * `JSStreamSocket` — itself a `net.Socket` (a Duplex with both stream
 * states, built and destroyed per connection), which reports every write
 * done from a `setImmediate`. That immediate was a hand-over to Node per
 * engine write: gale's loop yields to Node whenever something took an
 * async id (docs/reactor.md), and a handshake is three or four engine
 * writes. So the pipe drives the `JSStream` handle itself:
 *
 * - the engine's `onwrite(req, records)` hands the records (Node's copies)
 *   to the sink; once the sink says they are written the pipe reports the
 *   write done (`finishWrite`) from a microtask — after the engine's own
 *   call has returned, as it needs, but with no async id and within the
 *   same loop iteration, so the engine's next records (the reply to a
 *   request, after the session tickets) move at once;
 * - `feed` hands the bytes to `readBuffer`, which copies them into the
 *   engine inside the call, so the caller's buffer may be reused at once;
 *   before the engine's first read start (or while it stops reading) the
 *   pipe keeps them (then they must not change) until it reads.
 *
 * The TLSSocket takes the pipe for a connected `net.Socket` whose `_handle`
 * is that handle (`instanceof` and `_handle` are what it checks), and uses
 * a few members of it: `on`/`once` (`'close'`, `'error'`, `'connect'`),
 * `_parent` (null: the end of the chain its timeouts walk), `connecting`, `allowHalfOpen`, `writableLength`, `readableLength`/`read`
 * (bytes fed before its start) and `destroy` (its handle's close). Nothing
 * else of `net.Socket` runs: the pipe's prototype is chained to it only
 * for `instanceof`, and every member the TLSSocket reads is the pipe's own.
 *
 * `allowHalfOpen` is false: the TLSSocket inherits it from its parent, and
 * with `true` a client gets `'end'` but never `'close'` (TLS-NOTES trap 1).
 * End of file is never fed through here: the SSLSocket ends the plaintext
 * itself.
 */
import { EventEmitter } from 'node:events';
import { Socket as NetSocket } from 'node:net';
import { jsStreamHandleClass, type JSStreamHandle } from './node-tls.js';
import { inMicrotask } from '../reactor/microtask.js';
import { beginNodeBookkeeping, endNodeBookkeeping, tookBookkeepingId } from '../reactor/node-interop.js';

/** Where the engine's records go. */
export interface CiphertextSink {
  /** Sends `chunks`; calls `done` once they are all written (or dropped). */
  sendCiphertext(chunks: Buffer[], done: () => void): void;
  /**
   * Whether the owner has discarded the engine (nothing it hears from it
   * any more reaches application code): then what Node does on the pipe's
   * close is its bookkeeping alone (reactor/node-interop.ts).
   */
  engineDiscarded?(): boolean;
}

// libuv's ECANCELED, as Node reports a write or shutdown cut short by a close.
const UV_ECANCELED = -125;
// The handle's callbacks find their pipe through this key.
const PIPE = Symbol('CipherPipe');

function handlePipe(handle: JSStreamHandle): CipherPipe {
  return (handle as unknown as { [PIPE]: CipherPipe })[PIPE];
}

// The handle's callbacks (C++ calls them with the handle as `this`).
function isClosing(this: JSStreamHandle): boolean {
  return handlePipe(this).destroyed;
}
function onreadstart(this: JSStreamHandle): number {
  handlePipe(this).readStart();
  return 0;
}
function onreadstop(this: JSStreamHandle): number {
  handlePipe(this).readStop();
  return 0;
}
function onwrite(this: JSStreamHandle, req: object, records: Buffer[]): number {
  handlePipe(this).engineWrite(req, records);
  return 0;
}
function onshutdown(this: JSStreamHandle, req: object): number {
  handlePipe(this).engineShutdown(req);
  return 0;
}

export class CipherPipe extends EventEmitter {
  /** The engine's stream handle (read by the TLSSocket). */
  _handle: JSStreamHandle | null;
  /** The end of the TLSSocket's `_parent` chain (net.Socket walks it for its timeouts). */
  readonly _parent = null;
  private closed = false;
  private readonly sink: CiphertextSink;
  private reading = false;
  private flushQueued = false;
  // What was fed while the engine was not reading, oldest first.
  private readonly queue: Buffer[] = [];
  private queued = 0;
  // The engine's write request whose records are with the sink, and its
  // shutdown request waiting behind it (Node's TLSWrap may ask for both).
  private currentWrite: object | null = null;
  private pendingShutdown: object | null = null;
  private finishQueued = false;

  constructor(sink: CiphertextSink) {
    super();
    this.sink = sink;
    const handle = new (jsStreamHandleClass())();
    (handle as unknown as { [PIPE]: CipherPipe })[PIPE] = this;
    handle.isClosing = isClosing;
    handle.onreadstart = onreadstart;
    handle.onreadstop = onreadstop;
    handle.onwrite = onwrite;
    handle.onshutdown = onshutdown;
    this._handle = handle;
  }

  /**
   * Whether `destroy` was called. (Accessors, not fields, for everything
   * net.Socket's prototype also defines: the pipe's own always win.)
   */
  get destroyed(): boolean {
    return this.closed;
  }

  /** Read by the TLSSocket, which inherits it (trap 1). */
  get allowHalfOpen(): boolean {
    return false;
  }

  /** Read by the TLSSocket: the connection is up (gale connected the fd). */
  get connecting(): boolean {
    return false;
  }

  /** Read by the TLSSocket: no write of a previous owner is in flight. */
  get writableLength(): number {
    return 0;
  }

  /** Bytes fed that the engine has not taken (the TLSSocket reads them at its start). */
  get readableLength(): number {
    return this.queued;
  }

  /**
   * Gives the engine ciphertext read from the socket: at once if it
   * `takesAtOnce()`, else kept (then `data` must not change) until it reads.
   */
  feed(data: Buffer): void {
    if (this.takesAtOnce()) {
      this._handle!.readBuffer(data);
      return;
    }
    this.queue.push(data);
    this.queued += data.length;
  }

  /**
   * Whether `feed` would hand bytes to the engine inside the call (the
   * engine is reading and nothing waits before them), so a buffer about to
   * be reused needs no copy.
   */
  takesAtOnce(): boolean {
    return this.reading && this.queued === 0 && !this.closed;
  }

  /** The oldest chunk fed and not taken, or null (the TLSSocket's start drains them this way). */
  read(): Buffer | null {
    const data = this.queue.shift();
    if (data === undefined) return null;
    this.queued -= data.length;
    return data;
  }

  /**
   * From the engine: it reads. What waits goes to it in a microtask (this
   * runs inside the engine's own read start, which must not be re-entered).
   */
  readStart(): void {
    this.reading = true;
    if (this.queued > 0 && !this.flushQueued) {
      this.flushQueued = true;
      inMicrotask(this.flush);
    }
  }

  /** From the engine: stop handing it data. */
  readStop(): void {
    this.reading = false;
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    while (this.reading && !this.closed && this.queue.length > 0) this._handle!.readBuffer(this.read()!);
  };

  /** From the engine: a batch of records to send (its copies, ours to keep). */
  engineWrite(req: object, records: Buffer[]): void {
    // Node created `req` (one async id) for this call: a request that never
    // reaches libuv, so no reason for gale's loop to give Node a turn.
    tookBookkeepingId();
    this.currentWrite = req;
    // After close the engine's last words have nowhere to go (trap 5): done.
    if (this.closed) this.queueFinish();
    else this.sink.sendCiphertext(records, this.written);
  }

  // The sink's word: the records are in the kernel (or dropped).
  private readonly written = (): void => {
    this.queueFinish();
  };

  /** Tells the engine, from a microtask, that its write (and a shutdown behind it) is done. */
  private queueFinish(): void {
    if (this.finishQueued) return;
    this.finishQueued = true;
    inMicrotask(this.finish);
  }

  private readonly finish = (): void => {
    this.finishQueued = false;
    const handle = this._handle;
    if (handle === null) return;
    const req = this.currentWrite;
    this.currentWrite = null;
    if (req !== null) handle.finishWrite(req, 0);
    if (this.currentWrite === null && this.pendingShutdown !== null) {
      const shutdown = this.pendingShutdown;
      this.pendingShutdown = null;
      handle.finishShutdown(shutdown, 0);
    }
  };

  /**
   * From the engine's shutdown (its close_notify went through `onwrite`
   * first): nothing more will be written. Done once that write is.
   */
  engineShutdown(req: object): void {
    tookBookkeepingId(); // `req`'s, as for a write
    this.pendingShutdown = req;
    if (this.currentWrite === null) this.queueFinish();
  }

  /**
   * The engine's handle closes (the TLSSocket was destroyed), or the owner
   * ends the pipe: a write or shutdown still in flight is cancelled and
   * `'close'` follows in a microtask (the TLSSocket finishes its own close
   * on it). With `error`, `'error'` comes first.
   */
  destroy(error?: Error): this {
    if (this.closed) return this;
    this.closed = true;
    this.reading = false;
    this.queue.length = 0;
    this.queued = 0;
    inMicrotask(() => {
      // The TLSSocket finishes its close on ours, and queues an immediate to
      // free its OpenSSL session: with the engine discarded, Node's bookkeeping.
      const bookkeeping = error === undefined && this.sink.engineDiscarded?.() === true;
      if (bookkeeping) beginNodeBookkeeping();
      try {
        const handle = this._handle;
        this._handle = null;
        if (handle !== null) {
          const req = this.currentWrite;
          const shutdown = this.pendingShutdown;
          this.currentWrite = null;
          this.pendingShutdown = null;
          if (req !== null) handle.finishWrite(req, UV_ECANCELED);
          if (shutdown !== null) handle.finishShutdown(shutdown, UV_ECANCELED);
        }
        if (error) this.emit('error', error);
        this.emit('close');
      } finally {
        if (bookkeeping) endNodeBookkeeping();
      }
    });
    return this;
  }
}

// The TLSSocket takes a `net.Socket` with a `_handle` for a stream it can
// sit on directly: chained for `instanceof` only. The pipe's event methods
// are EventEmitter's (net.Socket's Readable ones would look for stream state).
Object.setPrototypeOf(CipherPipe.prototype, NetSocket.prototype);
for (const name of ['on', 'addListener', 'once', 'prependListener', 'prependOnceListener', 'off', 'removeListener', 'removeAllListeners', 'emit'] as const) {
  Object.defineProperty(CipherPipe.prototype, name, { value: EventEmitter.prototype[name], writable: true, configurable: true });
}
