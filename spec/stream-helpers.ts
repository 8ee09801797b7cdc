/**
 * The stream specs' shared harness: transports that make a connected
 * `[writer, reader]` pair of streams (TCP on 127.0.0.1, a Unix socketpair,
 * a pipe), `streamTest` (fresh loop, bounded run, Tornado-style ExpectLog,
 * fd-leak check), and small waiting helpers. Used by iostream.spec.ts,
 * pipe-iostream.spec.ts and the other iostream-*.spec.ts files through
 * stream-suite.ts or directly.
 */
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { Future } from '../reactor/future.js';
import { moment } from '../reactor/gen.js';
import { setLogger, stderrLogger, type Logger } from '../reactor/log.js';
import { AF_INET, AF_UNIX, SOCK_STREAM, SOL_SOCKET, Socket, pipe, socketpair } from '../reactor/sys/socket.js';
import { BaseIOStream } from '../streams/base-iostream.js';
import { IOStream } from '../streams/iostream.js';
import { PipeIOStream } from '../streams/pipe-iostream.js';
import type { StreamOptions } from '../streams/options.js';
import { fdLeakCheck } from './helpers.js';

// ------------------------------------------------------------ transports

/** How to make a connected `[writer, reader]` pair of streams. */
export interface Transport {
  name: string;
  /** Both directions work (sockets). */
  duplex: boolean;
  /** The reader sees a hang-up (ERROR) when the writer closes (socketpair, pipe), not just EOF (TCP). */
  hangup: boolean;
  make(loop: IOLoop, writer: StreamOptions, reader: StreamOptions): [BaseIOStream, BaseIOStream];
  /** Makes the writer's close reset the connection (sockets only). */
  arrangeReset?(writer: BaseIOStream, reader: BaseIOStream): void;
}

const SO_LINGER = 13;

/** A connected TCP pair on 127.0.0.1: `[accepted, connected]`. */
export function tcpSockets(): [Socket, Socket] {
  const listener = new Socket(AF_INET, SOCK_STREAM);
  try {
    listener.bind(['127.0.0.1', 0]);
    listener.listen(1);
    const client = new Socket(AF_INET, SOCK_STREAM);
    client.connect(listener.getsockname());
    const [server] = listener.accept();
    return [server, client];
  } finally {
    listener.close();
  }
}

export const tcp: Transport = {
  name: 'tcp 127.0.0.1',
  duplex: true,
  hangup: false,
  make(loop, writer, reader) {
    const [a, b] = tcpSockets();
    return [new IOStream(a, { ioLoop: loop, ...writer }), new IOStream(b, { ioLoop: loop, ...reader })];
  },
  arrangeReset(writer) {
    // Linger 0: close() sends RST instead of FIN.
    (writer as IOStream).socket.setsockopt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
  },
};

export const unixPair: Transport = {
  name: 'unix socketpair',
  duplex: true,
  hangup: true,
  make(loop, writer, reader) {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
    return [new IOStream(a, { ioLoop: loop, ...writer }), new IOStream(b, { ioLoop: loop, ...reader })];
  },
  arrangeReset(writer, reader) {
    // A Unix socket closed with unread data resets its peer.
    reader.write('unread by the writer');
    void writer;
  },
};

export const pipes: Transport = {
  name: 'pipe',
  duplex: false,
  hangup: true,
  make(loop, writer, reader) {
    const [r, w] = pipe();
    return [new PipeIOStream(w, { ioLoop: loop, ...writer }), new PipeIOStream(r, { ioLoop: loop, ...reader })];
  },
};

// ------------------------------------------------------------ harness

/** What each test gets. */
export interface Ctx {
  loop: IOLoop;
  /** A fresh `[writer, reader]` pair, closed by the harness at the end. */
  pair(options?: { writer?: StreamOptions; reader?: StreamOptions }): [BaseIOStream, BaseIOStream];
  /** Lets warnings/errors matching `pattern` through; returns a check that one was logged. */
  expectLog(pattern: RegExp): () => void;
  /** Every log record so far. */
  logs: Array<[level: string, text: string]>;
  transport: Transport;
}

/** A Logger that records every line into `logs`. */
function recorder(logs: Array<[string, string]>): Logger {
  const record = (level: string) => (...args: unknown[]) => {
    logs.push([level, args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' ')]);
  };
  return { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

/** Wraps a test body: fresh loop, bounded run, log expectations, fd-leak check. */
export function streamTest(transport: Transport, body: (ctx: Ctx) => Promise<void>, timeout = 20): () => Promise<void> {
  return async () => {
    const check = fdLeakCheck();
    const logs: Array<[string, string]> = [];
    const expected: RegExp[] = [];
    const streams: BaseIOStream[] = [];
    setLogger(recorder(logs));
    const loop = new IOLoop();
    loop.makeCurrent();
    const ctx: Ctx = {
      loop,
      logs,
      transport,
      pair(options = {}) {
        const made = transport.make(loop, options.writer ?? {}, options.reader ?? {});
        streams.push(...made);
        return made;
      },
      expectLog(pattern) {
        expected.push(pattern);
        return () => assert.ok(logs.some(([, text]) => pattern.test(text)), `expected a log matching ${pattern}`);
      },
    };
    let failed = true;
    try {
      await loop.runSync(() => body(ctx), timeout);
      failed = false;
    } finally {
      for (const stream of streams) stream.close();
      loop.close();
      IOLoop.clearCurrent();
      setLogger(stderrLogger);
      if (failed) for (const [level, text] of logs) process.stderr.write(`  [${level}] ${text}\n`);
    }
    const unexpected = logs.filter(([level, text]) => (level === 'warn' || level === 'error') && !expected.some((p) => p.test(text)));
    assert.equal(unexpected, [], 'unexpected warnings or errors were logged');
    check();
  };
}

/** A callback and the Future of its first call. */
export function waiter<T = void>(): { cb: (value: T) => void; done: Future<T> } {
  const done = new Future<T>();
  return { cb: (value: T) => { if (!done.done()) done.setResult(value); }, done };
}

/** Turns the loop `n` times. */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await moment;
}

/** The bytes a stream holds in its read buffer (white-box, for flow-control checks). */
export function buffered(stream: BaseIOStream): number {
  return (stream as unknown as { readBuffer: { size: number } }).readBuffer.size;
}

/** Bytes as a latin1 string ('null'/'undefined' for no data), for readable assertions. */
export function str(data: Buffer | null | undefined): string {
  return data === null || data === undefined ? String(data) : data.toString('latin1');
}

/** Reads from `r` in partial chunks until `done()`; returns the bytes read. */
export async function drain(r: BaseIOStream, done: () => boolean): Promise<number> {
  let total = 0;
  while (!done()) total += (await r.readBytes(256 * 1024, { partial: true })!).length;
  return total;
}

/**
 * Whether `stream` reads on completions (an IOStream on a uring loop;
 * docs/uring.md): the few tests that close its fd behind its back or count
 * syscalls assert what the ring does instead, where docs/uring.md says the
 * difference is intended.
 */
export function onCompletions(stream: BaseIOStream): boolean {
  return (stream as unknown as { transport?: { mode: string } }).transport?.mode === 'completion';
}

/** Whether `stream` also writes through the ring (SENDs; the default on a uring loop). */
export function onRingSends(stream: BaseIOStream): boolean {
  return (stream as unknown as { transport?: { ringSends?: boolean } }).transport?.ringSends === true;
}
