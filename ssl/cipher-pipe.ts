/**
 * The ciphertext side of a TLS connection: a JS `Duplex` that Node's TLS
 * engine (a `tls.TLSSocket`) reads records from and writes records to,
 * while the fd stays with gale (the role `ssl.MemoryBIO` plays for
 * asyncio's `sslproto.py`).
 *
 * - What gale reads from the socket is `feed()`-ed in; the engine decrypts
 *   it at once (application data reaches the TLSSocket's `'data'` inside
 *   the call).
 * - What the engine wants sent arrives in `write` and goes to the
 *   `CiphertextSink`, which writes it to the fd and calls back once it is
 *   all in the kernel. The engine sends nothing more until then (one write
 *   in flight), which is the TLS layer's backpressure.
 *
 * The engine's side is Node's `JSStreamSocket`, which uses a small part of
 * the duplex: `'data'`/`'end'`/`'close'`, `pause`/`resume`, and
 * `cork`/`write(buffer, callback)`/`uncork` for each batch of records. Both
 * hot paths skip the stream machinery in between (measured per pipelined
 * event: two `nextTick`s, the Writable's buffering and the Readable's
 * `maybeReadMore`, and a copy of every read):
 *
 * - `feedNow` emits `'data'` itself while the engine reads (the duplex
 *   flows and holds nothing), and JSStreamSocket copies the bytes into the
 *   engine inside that call, so the caller's buffer may be reused at once;
 *   otherwise (before the engine's first read, or while it pauses) the
 *   pipe keeps them until the engine reads again.
 * - `write` hands the sink each batch (all the buffers written between
 *   `cork` and `uncork`) directly, and runs the callbacks when the sink says
 *   so: synchronously when the kernel took everything, so JSStreamSocket's
 *   own completion (an immediate) is queued at once.
 *
 * It is not a `stream.Duplex`, only the part of one that JSStreamSocket
 * and TLSSocket use (an EventEmitter with `pause`/`resume`, `read`,
 * `readableLength`, `cork`/`write`/`uncork`, `end`, `destroy`): a Duplex's
 * two stream states, its construction and its destroy machinery were per
 * connection cost that nothing read (spec/ssl-hops counts what it saves).
 * JSStreamSocket wraps any object that is not a `net.Socket`; the TLS
 * engine never learns the difference.
 *
 * `allowHalfOpen` is false: the TLSSocket inherits it from the duplex, and
 * with `true` a client gets `'end'` but never `'close'` (TLS-NOTES trap 1).
 * End of file is never fed through here: the SSLSocket ends the plaintext
 * itself, so the pipe has no `'end'` to emit.
 */
import { EventEmitter } from 'node:events';

/** Where the engine's records go. */
export interface CiphertextSink {
  /** Sends `chunks`; calls `done` once they are all written (or dropped). */
  sendCiphertext(chunks: Buffer[], done: () => void): void;
}

type WriteCallback = (error?: Error | null) => void;

export class CipherPipe extends EventEmitter {
  /** Read by the TLSSocket, which inherits it (trap 1). */
  readonly allowHalfOpen = false;
  /** Read by JSStreamSocket (its `isClosing`). */
  readable = true;
  /** Read by JSStreamSocket (its `isClosing`). */
  writable = true;
  /** Whether `destroy` was called. */
  destroyed = false;
  private readonly sink: CiphertextSink;
  private flowing = false;
  private flushQueued = false;
  // What was fed while the engine was not reading, oldest first.
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private corks = 0;
  private batch: Buffer[] = [];
  private batchCallbacks: WriteCallback[] = [];

  constructor(sink: CiphertextSink) {
    super();
    this.sink = sink;
  }

  /**
   * Gives the engine ciphertext read from the socket: at once if it
   * `takesAtOnce()`, else kept (then `data` must not change) until it reads.
   */
  feed(data: Buffer): void {
    if (this.takesAtOnce()) {
      this.emit('data', data);
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
    return this.flowing && this.queued === 0 && !this.destroyed;
  }

  /** Bytes fed that the engine has not taken (TLSSocket reads them at its start). */
  get readableLength(): number {
    return this.queued;
  }

  /** The oldest chunk fed and not taken, or null (TLSSocket's start drains them this way). */
  read(): Buffer | null {
    const data = this.queue.shift();
    if (data === undefined) return null;
    this.queued -= data.length;
    return data;
  }

  /** From the engine: stop handing it data. */
  pause(): this {
    this.flowing = false;
    return this;
  }

  /**
   * From the engine: it reads again. What waits goes to it a tick later, as
   * a Readable's `resume` does (the engine calls this from inside its own
   * read start, which must not be re-entered).
   */
  resume(): this {
    this.flowing = true;
    if (this.queued > 0 && !this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flush);
    }
    return this;
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    while (this.flowing && !this.destroyed && this.queue.length > 0) this.emit('data', this.read());
  };

  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks > 0 && --this.corks === 0) this.sendBatch();
  }

  /** From the engine: a record (or several) to send; batched while corked. */
  write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const done = (typeof encoding === 'function' ? encoding : callback) as WriteCallback | undefined;
    if (!Buffer.isBuffer(chunk)) throw new TypeError('CipherPipe.write takes Buffers (records from the TLS engine)');
    this.batch.push(chunk);
    if (done) this.batchCallbacks.push(done);
    if (this.corks === 0) this.sendBatch();
    return true;
  }

  private sendBatch(): void {
    const chunks = this.batch;
    if (chunks.length === 0) return;
    const callbacks = this.batchCallbacks;
    this.batch = [];
    this.batchCallbacks = [];
    this.sink.sendCiphertext(chunks, () => {
      for (let i = 0; i < callbacks.length; i++) callbacks[i]!();
    });
  }

  /**
   * From the engine's shutdown (it sent its close_notify through `write`
   * first): nothing more will be written. `callback` runs a tick later, as
   * a Writable's `'finish'` would.
   */
  end(callback?: () => void): this {
    this.writable = false;
    if (typeof callback === 'function') process.nextTick(callback);
    return this;
  }

  /**
   * Ends the pipe: `'error'` (with `error`) and `'close'` follow a tick
   * later, as a stream's do; JSStreamSocket destroys itself on `'close'`.
   */
  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.readable = false;
    this.writable = false;
    this.flowing = false;
    this.queue.length = 0;
    this.queued = 0;
    process.nextTick(() => {
      if (error) this.emit('error', error);
      this.emit('close');
    });
    return this;
  }
}
