/**
 * The differential test's programs: what one is (plain JSON, so a failing
 * one can be printed, recorded in ./regressions.ts and replayed), and the
 * fast-check arbitrary that generates them.
 *
 * A program connects two streams, `a` and `b` (a Unix socketpair or TCP on
 * 127.0.0.1, TLS or not), then runs its steps one at a time; the runner
 * lets the loop settle after each (./execute.ts), so what a step observes
 * does not depend on timing. Sizes are picked around the limits: 0, small,
 * one read chunk (64 KiB) and more, more than a Unix socket buffer, and
 * floods that run a writer into `maxWriteBufferSize`.
 */
import fc from 'fast-check';

export type Side = 'a' | 'b';

/** Per-stream options (undefined: gale's default). */
export interface SideOptions {
  maxWriteBufferSize?: number;
  maxBufferSize?: number;
}

export type ReadStep =
  | { op: 'readBytes'; side: Side; n: number; partial: boolean }
  | { op: 'readBytesStreaming'; side: Side; n: number }
  | { op: 'readUntil'; side: Side; maxBytes?: number }
  | { op: 'readUntilRegex'; side: Side; maxBytes?: number }
  | { op: 'readInto'; side: Side; n: number; partial: boolean }
  | { op: 'readUntilClose'; side: Side; streaming: boolean };

export type Step =
  | ReadStep
  /** One write of `size` bytes. */
  | { op: 'write'; side: Side; size: number }
  /** Up to `count` writes of `size` bytes, one loop turn apart, stopping at the first that throws. */
  | { op: 'flood'; side: Side; size: number; count: number }
  | { op: 'close'; side: Side }
  /** shutdown(SHUT_WR) on the stream's socket. */
  | { op: 'halfClose'; side: Side }
  /** SO_LINGER 0, then close: an RST on TCP (on a Unix socket, a close that resets a peer with unread data). */
  | { op: 'reset'; side: Side }
  | { op: 'setNodelay'; side: Side; value: boolean };

export interface Program {
  transport: 'unix' | 'tcp';
  tls: boolean;
  a: SideOptions;
  b: SideOptions;
  steps: Step[];
}

/** The delimiter `readUntil` and `readUntilRegex` look for; written data holds one every 100 bytes. */
export const DELIMITER = '\n';

const side = fc.constantFrom<Side>('a', 'b');
const size = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 300 }) },
  { weight: 3, arbitrary: fc.constantFrom(1000, 5000, 70_000, 300_000) },
);
const readSize = fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1000, 5000, 70_000));
const maxBytes = fc.option(fc.constantFrom(10, 150, 5000), { nil: undefined });

const read: fc.Arbitrary<ReadStep> = fc.oneof(
  fc.record({ op: fc.constant('readBytes' as const), side, n: readSize, partial: fc.boolean() }),
  fc.record({ op: fc.constant('readBytesStreaming' as const), side, n: readSize }),
  fc.record({ op: fc.constant('readUntil' as const), side, maxBytes }, { requiredKeys: ['op', 'side'] }),
  fc.record({ op: fc.constant('readUntilRegex' as const), side, maxBytes }, { requiredKeys: ['op', 'side'] }),
  fc.record({ op: fc.constant('readInto' as const), side, n: readSize, partial: fc.boolean() }),
  fc.record({ op: fc.constant('readUntilClose' as const), side, streaming: fc.boolean() }),
);

/** What to generate; `floods` are the counts a flood may have. */
export interface ProgramShape {
  floods: readonly number[];
}

/**
 * The full shape (`npm run fuzz`): floods up to 10,000 writes, enough to
 * fill the ring's 8 MiB send buffer. The suite's shape keeps floods short
 * (each flood write is a loop turn) and replays the long ones it has found
 * from ./regressions.ts.
 */
export const FULL_SHAPE: ProgramShape = { floods: [20, 400, 10_000] };
export const QUICK_SHAPE: ProgramShape = { floods: [20, 400] };

function steps(shape: ProgramShape): fc.Arbitrary<Step> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('write' as const), side, size }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('flood' as const), side, size: fc.constantFrom(1000, 4096), count: fc.constantFrom(...shape.floods) }) },
    { weight: 6, arbitrary: read },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('close' as const), side }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('halfClose' as const), side }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('reset' as const), side }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('setNodelay' as const), side, value: fc.boolean() }) },
  );
}

const sideOptions: fc.Arbitrary<SideOptions> = fc.record({
  maxWriteBufferSize: fc.constantFrom(1024, 65_536, 1_000_000),
  maxBufferSize: fc.constantFrom(4096, 200_000, 1_000_000),
}, { requiredKeys: [] });

/**
 * Open differences the generator steers around until they are fixed (each
 * is in ./regressions.ts `OPEN` with its minimal program, and in
 * docs/differential.md): the reason, or null when `program` hits none.
 */
export function knownOpenDifference(program: Program): string | null {
  const { steps } = program;
  for (const [i, step] of steps.entries()) {
    if (step.op !== 'halfClose') continue;
    // Writes that may still be queued when the side half-closes (OPEN in regressions.ts).
    if (steps.slice(0, i).some((s) => s.side === step.side && (s.op === 'flood' || (s.op === 'write' && s.size >= 300_000)))) {
      return 'a side half-closes with writes queued: ring sends differ';
    }
  }
  return null;
}

/** Random programs of `shape`: a transport, TLS or not, each side's limits, 1 to 12 steps. */
export function programs(shape: ProgramShape = FULL_SHAPE): fc.Arbitrary<Program> {
  return fc.record({
    transport: fc.constantFrom<Program['transport']>('unix', 'tcp'),
    tls: fc.boolean(),
    a: sideOptions,
    b: sideOptions,
    steps: fc.array(steps(shape), { minLength: 1, maxLength: 12 }),
  }).filter((program) => knownOpenDifference(program) === null);
}

/**
 * The bytes of write number `id` (`size` long): a pattern that depends on
 * the write, so a rejected write's bytes or a chunk sent twice never pass
 * for the bytes expected at that place, with the delimiter every 100 bytes.
 */
export function writeBytes(id: number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let o = 0; o < size; o++) {
    bytes[o] = o % 100 === 99 ? 0x0a : 0x10 + ((id * 131 + o * 7 + (o >> 7)) % 0xf0);
  }
  return bytes;
}
