/**
 * Runs one program (./program.ts) on a fresh IOLoop and returns its trace:
 * what a user of the two streams can observe, in an order that does not
 * depend on timing. Each step runs, then the loop runs until nothing
 * changes any more (`settle`), so every Future, callback and byte a step
 * causes is recorded at that step on every backend.
 *
 * The runner also checks the invariants that hold on any backend (every
 * accepted byte delivered at most once and in order, a rejected write sent
 * nothing, close settles every Future and runs each close callback once,
 * no fd or native region left) and lists what broke them in `violations`.
 */
import { IOLoop, type IOLoopOptions } from '../../reactor/ioloop.js';
import { Future } from '../../reactor/future.js';
import { liveRegions } from '../../reactor/sys/arena.js';
import { setLogger, stderrLogger } from '../../reactor/log.js';
import { AF_UNIX, SHUT_WR, SOCK_STREAM, SOL_SOCKET, Socket, socketpair } from '../../reactor/sys/socket.js';
import { SO_LINGER } from '../../reactor/sys/constants.js';
import { addAcceptHandler, bindSockets } from '../../net/netutil.js';
import { sslWrapSocket } from '../../ssl/ssl-socket.js';
import { IOStream } from '../../streams/iostream.js';
import { SSLIOStream } from '../../streams/ssl-iostream.js';
import { StreamClosedError } from '../../streams/errors.js';
import { clientContext, serverContext } from '../tls-certs.js';
import { openFds } from '../helpers.js';
import { DELIMITER, writeBytes, type Program, type ReadStep, type Side, type SideOptions, type Step } from './program.js';

/** One Future (or flood of writes) and how it ended. */
export interface Outcome {
  /** `w<step>` for a write or flood, `r<step>` for a read. */
  id: string;
  side: Side;
  /** `out`: the bytes `side` sends; `in`: the bytes `side` receives. */
  direction: 'out' | 'in';
  /** `resolved …` or `rejected <class>(<realError class>:<code>)`; null while pending. */
  result: string | null;
  /** The step during whose settling it ended (steps.length: the final close). */
  at: number | null;
}

/** What one run observed. */
export interface Trace {
  /** Per step, what its call returned or threw. */
  steps: string[];
  outcomes: Outcome[];
  /** Close callbacks in the order they ran, as `<side>@<step>`. */
  closes: string[];
  /** Bytes each side received. */
  delivered: Record<Side, number>;
  /**
   * Sides whose writes met backpressure: data still queued after a step
   * settled, or a StreamBufferFullError. How far such a side got depends
   * on buffer sizes, which differ by backend (docs/differential.md).
   */
  backpressure: Record<Side, boolean>;
  /**
   * Per side, the step at which it closed with bytes its peer had sent it
   * still unread, or reset (or null). Where those bytes sat then — in the kernel, or
   * already taken by a ring RECV (read-ahead) — decides whether the peer
   * sees a reset or an end of file (docs/differential.md).
   */
  closedUnread: Record<Side, number | null>;
  /**
   * Per side, the step at which it closed while its peer held at least
   * `MUCH_UNREAD` bytes it had sent and the peer had not read (or null):
   * see `knownOpenDifferences` in ./compare.ts.
   */
  closedOnMuchUnread: Record<Side, number | null>;
  /**
   * Per side, the step at which it closed on a full read buffer
   * (`maxBufferSize`), or null: how far past the limit its last read went
   * depends on how arrivals were chunked.
   */
  readLimitAt: Record<Side, number | null>;
  /** Error-level log lines (digits blanked: fds differ). */
  errors: string[];
  /** Broken invariants (empty on a correct backend). */
  violations: string[];
}

/** Unread bytes past which a uring stream's read-ahead may be paused (its HIGH_WATER, 256 KiB, less a margin). */
export const MUCH_UNREAD = 128 * 1024;
const SETTLE_TICK = 0.002;
const SETTLE_QUIET_TICKS = 3;
const SETTLE_MAX_TICKS = 2000;

/** `error` as the trace shows it: class, and for a StreamClosedError its cause's class and code. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `non-error ${String(error)}`;
  let text = error.name;
  if (error instanceof StreamClosedError && error.realError) {
    const cause = error.realError as Error & { code?: string };
    text += `(${cause.name}${cause.code ? `:${cause.code}` : ''})`;
  } else if ((error as { code?: string }).code) {
    text += `(${(error as { code?: string }).code})`;
  }
  return text;
}

/** Runs `program` on a new loop with `loopOptions`; resolves with its trace. */
export async function execute(program: Program, loopOptions: IOLoopOptions, timeout = 60): Promise<Trace> {
  const fdsBefore = openFds();
  const regionsBefore = liveRegions();
  const errors: string[] = [];
  const quiet = () => {};
  setLogger({ debug: quiet, info: quiet, warn: quiet, error: (...args: unknown[]) => errors.push(args.map(String).join(' ').split('\n')[0]!.replace(/\d+/g, '#')) });
  const loop = new IOLoop({ ...loopOptions, makeCurrent: false });
  let trace: Trace;
  try {
    trace = await loop.runSync(() => new Run(loop, program).run(), timeout);
  } finally {
    loop.close();
    setLogger(stderrLogger);
  }
  trace.errors = errors;
  const leaked = [...openFds()].filter(([fd, target]) => fdsBefore.get(fd) !== target && !target.startsWith('/dev/'));
  if (leaked.length) trace.violations.push(`fds left open: ${leaked.map(([fd, t]) => `${fd} -> ${t}`).join(', ')}`);
  if (liveRegions() !== regionsBefore) trace.violations.push(`native regions: ${regionsBefore} before, ${liveRegions()} after`);
  return trace;
}

/** One program's run: the two streams and what has been seen so far. */
class Run {
  private readonly streams = {} as Record<Side, IOStream>;
  private readonly sent: Record<Side, Buffer[]> = { a: [], b: [] };
  private readonly received: Record<Side, Buffer[]> = { a: [], b: [] };
  private readonly receivedBytes: Record<Side, number> = { a: 0, b: 0 };
  private readonly closeCallbacks: Record<Side, number> = { a: 0, b: 0 };
  private readonly trace: Trace = {
    steps: [], outcomes: [], closes: [], delivered: { a: 0, b: 0 }, backpressure: { a: false, b: false }, closedUnread: { a: null, b: null }, closedOnMuchUnread: { a: null, b: null }, readLimitAt: { a: null, b: null }, errors: [], violations: [],
  };
  private step = 0;
  private writeId = 0;

  constructor(private readonly loop: IOLoop, private readonly program: Program) {}

  async run(): Promise<Trace> {
    await this.connect();
    for (const side of ['a', 'b'] as const) {
      this.streams[side].setCloseCallback(() => {
        this.closeCallbacks[side]++;
        this.trace.closes.push(`${side}@${this.step}`);
        const peer = side === 'a' ? 'b' : 'a';
        const total = (chunks: Buffer[]) => chunks.reduce((n, bytes) => n + bytes.byteLength, 0);
        // An RST (reset) drops what the peer's kernel still held, as a close with bytes unread does.
        const reset = this.program.steps[this.step]?.op === 'reset' && this.program.steps[this.step]!.side === side;
        if (reset || total(this.sent[peer]) > this.receivedBytes[side]) this.trace.closedUnread[side] ??= this.step;
        if (this.streams[side].error?.name === 'StreamBufferFullError') this.trace.readLimitAt[side] ??= this.step;
        if (total(this.sent[side]) - this.receivedBytes[peer] >= MUCH_UNREAD) this.trace.closedOnMuchUnread[side] ??= this.step;
      });
    }
    for (const step of this.program.steps) {
      this.trace.steps.push(await this.runStep(step));
      await this.settle();
      this.step++;
    }
    this.streams.a.close();
    this.streams.b.close();
    await this.settle();
    this.checkInvariants();
    this.trace.delivered = { ...this.receivedBytes };
    return this.trace;
  }

  // ------------------------------------------------------------ setup

  private async connect(): Promise<void> {
    const { program, loop } = this;
    const options = (side: SideOptions) => ({ ioLoop: loop, ...side });
    if (program.transport === 'unix') {
      const [x, y] = socketpair(AF_UNIX, SOCK_STREAM);
      if (program.tls) {
        this.streams.a = new SSLIOStream(sslWrapSocket(x, clientContext(), 'localhost', { doHandshakeOnConnect: false }), options(program.a));
        this.streams.b = new SSLIOStream(sslWrapSocket(y, serverContext(), null, { serverSide: true, doHandshakeOnConnect: false }), options(program.b));
        await Promise.all([(this.streams.a as SSLIOStream).waitForHandshake(), (this.streams.b as SSLIOStream).waitForHandshake()]);
      } else {
        this.streams.a = new IOStream(x, options(program.a));
        this.streams.b = new IOStream(y, options(program.b));
      }
      return;
    }
    const [listener] = bindSockets(0, '127.0.0.1');
    const address = listener!.getsockname();
    const accepted = new Future<Socket>();
    const remove = addAcceptHandler(listener!, (connection) => accepted.setResult(connection), loop);
    try {
      if (program.tls) {
        const client = new SSLIOStream(new Socket(), { ...options(program.a), sslOptions: clientContext() });
        this.streams.a = client;
        const connected = client.connect(address, { serverHostname: 'localhost' })!;
        const server = new SSLIOStream(sslWrapSocket(await accepted, serverContext(), null, { serverSide: true, doHandshakeOnConnect: false }), options(program.b));
        this.streams.b = server;
        await Promise.all([connected, server.waitForHandshake()]);
      } else {
        const client = new IOStream(new Socket(), options(program.a));
        this.streams.a = client;
        await client.connect(address);
        this.streams.b = new IOStream(await accepted, options(program.b));
      }
    } finally {
      remove();
      listener!.close();
    }
  }

  // ------------------------------------------------------------ steps

  private async runStep(step: Step): Promise<string> {
    const stream = this.streams[step.side];
    try {
      switch (step.op) {
        case 'write': return this.write(step.side, step.size);
        case 'flood': return await this.flood(step.side, step.size, step.count);
        case 'close': stream.close(); return 'ok';
        case 'halfClose': stream.socket.shutdown(SHUT_WR); return 'ok';
        case 'reset':
          if (!stream.closed()) stream.socket.setsockopt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
          stream.close();
          return 'ok';
        case 'setNodelay': stream.setNodelay(step.value); return 'ok';
        default: return this.read(step);
      }
    } catch (error) {
      if (step.op === 'write' || step.op === 'flood') this.noteBackpressure(step.side, error);
      return `threw ${describeError(error)}`;
    }
  }

  private write(side: Side, size: number): string {
    const bytes = writeBytes(this.writeId++, size);
    const future = this.streams[side].write(bytes)!;
    this.sent[side].push(bytes);
    this.noteQueued(side);
    this.track(`w${this.step}`, side, 'out', future, () => 'resolved');
    return 'ok';
  }

  /** Writes until one throws or `count` are accepted, yielding one loop iteration between writes. */
  private async flood(side: Side, size: number, count: number): Promise<string> {
    const stream = this.streams[side];
    const flood: Outcome = { id: `w${this.step}`, side, direction: 'out', result: null, at: null };
    this.trace.outcomes.push(flood);
    let resolved = 0;
    const rejected = new Map<string, number>();
    let pending = 0;
    let accepted = 0;
    let looping = true;
    let threw = 'none threw';
    const finish = () => {
      flood.result = `resolved ${resolved}, rejected ${[...rejected].map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}`;
      flood.at = this.step;
    };
    const settled = () => {
      if (--pending === 0 && !looping) finish();
    };
    for (; accepted < count; accepted++) {
      const bytes = writeBytes(this.writeId++, size);
      let future: Future<void>;
      try {
        future = stream.write(bytes)!;
      } catch (error) {
        this.noteBackpressure(side, error);
        threw = `then ${describeError(error)}`;
        break;
      }
      this.sent[side].push(bytes);
      this.noteQueued(side);
      pending++;
      future.then(() => { resolved++; settled(); }, (error: unknown) => {
        const key = describeError(error);
        rejected.set(key, (rejected.get(key) ?? 0) + 1);
        settled();
      });
      await new Promise<void>((resolve) => this.loop.addCallback(resolve));
    }
    looping = false;
    if (pending === 0) finish();
    // How many were accepted depends on buffer sizes: noted as backpressure when one threw.
    return `accepted ${accepted === count ? 'all' : 'some'} ${threw}`;
  }

  private read(step: ReadStep): string {
    const { side } = step;
    const stream = this.streams[side];
    if (stream.reading()) return 'busy';
    const take = (bytes: Uint8Array) => {
      this.received[side].push(Buffer.from(bytes));
      this.receivedBytes[side] += bytes.byteLength;
    };
    const id = `r${this.step}`;
    const bytesRead = (data: Buffer) => {
      take(data);
      return `resolved ${data.byteLength}`;
    };
    switch (step.op) {
      case 'readBytes': this.track(id, side, 'in', stream.readBytes(step.n, { partial: step.partial })!, bytesRead); break;
      case 'readBytesStreaming': this.track(id, side, 'in', stream.readBytes(step.n, { streamingCallback: take })!, bytesRead); break;
      case 'readUntil': this.track(id, side, 'in', stream.readUntil(DELIMITER, { maxBytes: step.maxBytes })!, bytesRead); break;
      case 'readUntilRegex': this.track(id, side, 'in', stream.readUntilRegex(/\n/, { maxBytes: step.maxBytes })!, bytesRead); break;
      case 'readUntilClose':
        this.track(id, side, 'in', stream.readUntilClose(step.streaming ? { streamingCallback: take } : {})!, bytesRead);
        break;
      case 'readInto': {
        const target = Buffer.alloc(step.n);
        this.track(id, side, 'in', stream.readInto(target, step.partial), (n: number) => {
          take(target.subarray(0, n));
          return `resolved ${n}`;
        });
        break;
      }
    }
    return 'ok';
  }

  private track<T>(id: string, side: Side, direction: 'out' | 'in', future: Future<T>, describe: (value: T) => string): void {
    const outcome: Outcome = { id, side, direction, result: null, at: null };
    this.trace.outcomes.push(outcome);
    future.then((value) => {
      outcome.result = describe(value);
      outcome.at = this.step;
    }, (error: unknown) => {
      outcome.result = `rejected ${describeError(error)}`;
      outcome.at = this.step;
    });
  }

  /** A write that the fd (or the ring's send buffer) did not take at once waits on the peer: backpressure. */
  private noteQueued(side: Side): void {
    if (this.streams[side].writing()) this.trace.backpressure[side] = true;
  }

  private noteBackpressure(side: Side, error: unknown): void {
    if ((error as Error)?.name === 'StreamBufferFullError') this.trace.backpressure[side] = true;
  }

  // ------------------------------------------------------------ settling

  /** What can change while the loop runs; settled when it stops changing. */
  private snapshot(): string {
    const parts: unknown[] = [this.trace.closes.length];
    for (const side of ['a', 'b'] as const) {
      const stream = this.streams[side];
      parts.push(this.receivedBytes[side], stream.reading(), stream.writing(), stream.closed());
    }
    parts.push(this.trace.outcomes.map((o) => o.result === null ? 0 : 1).join(''));
    return JSON.stringify(parts);
  }

  /** Runs the loop until the snapshot has not changed for a few ticks (bounded). */
  private async settle(): Promise<void> {
    let last = this.snapshot();
    let quiet = 0;
    for (let tick = 0; tick < SETTLE_MAX_TICKS && quiet < SETTLE_QUIET_TICKS; tick++) {
      await new Promise<void>((resolve) => this.loop.callLater(SETTLE_TICK, resolve));
      const now = this.snapshot();
      quiet = now === last ? quiet + 1 : 0;
      last = now;
    }
    for (const side of ['a', 'b'] as const) {
      if (this.streams[side].writing()) this.trace.backpressure[side] = true;
    }
  }

  // ------------------------------------------------------------ invariants

  private checkInvariants(): void {
    const { violations } = this.trace;
    for (const side of ['a', 'b'] as const) {
      const peer: Side = side === 'a' ? 'b' : 'a';
      const sent = Buffer.concat(this.sent[side]);
      const got = Buffer.concat(this.received[peer]);
      if (got.byteLength > sent.byteLength) {
        violations.push(`${peer} received ${got.byteLength} bytes, ${side} had ${sent.byteLength} accepted`);
      }
      const n = Math.min(got.byteLength, sent.byteLength);
      const mismatch = firstDifference(got.subarray(0, n), sent.subarray(0, n));
      if (mismatch !== -1) violations.push(`${peer} received bytes ${side} never sent there: first at offset ${mismatch} of ${got.byteLength} received (${sent.byteLength} accepted)`);
      if (this.closeCallbacks[side] !== 1) violations.push(`${side}'s close callback ran ${this.closeCallbacks[side]} times`);
    }
    for (const outcome of this.trace.outcomes) {
      if (outcome.result === null) violations.push(`${outcome.id} (${outcome.side}) never settled though both streams closed`);
    }
  }
}

function firstDifference(x: Buffer, y: Buffer): number {
  if (x.equals(y)) return -1;
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return i;
  return -1;
}
