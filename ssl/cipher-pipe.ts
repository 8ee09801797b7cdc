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
 *   bytes are `push`ed and kept by the duplex.
 * - `write` hands the sink each batch (all the buffers written between
 *   `cork` and `uncork`) directly, and runs the callbacks when the sink says
 *   so: synchronously when the kernel took everything, so JSStreamSocket's
 *   own completion (an immediate) is queued at once.
 *
 * `allowHalfOpen` is false: the TLSSocket inherits it from the duplex, and
 * with `true` a client gets `'end'` but never `'close'` (TLS-NOTES trap 1).
 */
import { Duplex } from 'node:stream';

/** Where the engine's records go. */
export interface CiphertextSink {
  /** Sends `chunks`; calls `done` once they are all written (or dropped). */
  sendCiphertext(chunks: Buffer[], done: () => void): void;
}

type WriteCallback = (error?: Error | null) => void;

export class CipherPipe extends Duplex {
  private readonly sink: CiphertextSink;
  private corks = 0;
  private batch: Buffer[] = [];
  private batchCallbacks: WriteCallback[] = [];

  constructor(sink: CiphertextSink) {
    super({ allowHalfOpen: false });
    this.sink = sink;
  }

  /**
   * Gives the engine ciphertext read from the socket: at once if it
   * `takesAtOnce()`, else kept (then `data` must not change) until it reads.
   */
  feed(data: Buffer): void {
    if (this.takesAtOnce()) this.emit('data', data);
    else this.push(data);
  }

  /**
   * Whether `feed` would hand bytes to the engine inside the call (the
   * engine is reading and nothing waits before them), so a buffer about to
   * be reused needs no copy.
   */
  takesAtOnce(): boolean {
    return this.readableFlowing === true && this.readableLength === 0 && !this.destroyed;
  }

  /** Tells the engine the socket reached end of file. */
  feedEnd(): void {
    this.push(null);
  }

  override _read(): void {
    // Data is fed when the socket has some; nothing to do on demand.
  }

  override cork(): void {
    this.corks++;
  }

  override uncork(): void {
    if (this.corks > 0 && --this.corks === 0) this.sendBatch();
  }

  /** From the engine: a record (or several) to send; batched while corked. */
  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
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

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    // Only reached through Writable.prototype.write called directly; same path.
    this.sink.sendCiphertext([chunk], () => callback());
  }

  override _final(callback: WriteCallback): void {
    callback();
  }
}
