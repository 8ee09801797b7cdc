/**
 * The ciphertext side of a TLS connection: a JS `Duplex` that Node's TLS
 * engine (a `tls.TLSSocket`) reads records from and writes records to,
 * while the fd stays with gale (the role `ssl.MemoryBIO` plays for
 * asyncio's `sslproto.py`).
 *
 * - What gale reads from the socket is `feed()`-ed in; the engine decrypts
 *   it at once (application data reaches the TLSSocket's `'data'` inside
 *   the call).
 * - What the engine wants sent arrives in `_write`/`_writev` and goes to
 *   the `CiphertextSink`, which writes it to the fd and calls back once it
 *   is all in the kernel. The engine sends nothing more until then (one
 *   write in flight), which is the TLS layer's backpressure.
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

export class CipherPipe extends Duplex {
  private readonly sink: CiphertextSink;

  constructor(sink: CiphertextSink) {
    super({ allowHalfOpen: false });
    this.sink = sink;
  }

  /** Gives the engine ciphertext read from the socket. */
  feed(data: Buffer): void {
    this.push(data);
  }

  /** Tells the engine the socket reached end of file. */
  feedEnd(): void {
    this.push(null);
  }

  override _read(): void {
    // Data is pushed when the socket has some; nothing to do on demand.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sink.sendCiphertext([chunk], () => callback());
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = new Array<Buffer>(chunks.length);
    for (let i = 0; i < chunks.length; i++) buffers[i] = chunks[i]!.chunk;
    this.sink.sendCiphertext(buffers, () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback();
  }
}
