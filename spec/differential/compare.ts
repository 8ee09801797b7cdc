/**
 * Compares one program's traces across backends. Every run must keep the
 * invariants (no `violations`); beyond that, traces must be equal, except
 * where a difference depends on where bytes sit (the kernel's buffers, the
 * ring's send buffer, its read-ahead): a direction whose writer met
 * backpressure, a reset with bytes unread, writes to a peer that has
 * closed. There only the invariants are compared; docs/differential.md
 * lists each exception with the program that showed it.
 */
import type { Backend } from './backends.js';
import type { Outcome, Trace } from './execute.js';
import type { Program, Side, Step } from './program.js';
import type { RunResult } from './pool.js';

/**
 * Where traces may legitimately differ, taken over every backend's trace of
 * one program (the earliest step any backend saw it at), so that every trace
 * is reduced the same way.
 */
export interface Exceptions {
  /** Sides whose writes met backpressure on some backend. */
  pressured: ReadonlySet<Side>;
  /** Per side, the step at which it closed with bytes from its peer unread. */
  closedUnread: Record<Side, number | null>;
  /** Per side, the step at which it closed while its peer held much unread (OPEN_DIFFERENCES). */
  closedOnMuchUnread: Record<Side, number | null>;
  /** Per side, the step at which it closed (its close callback ran). */
  closedAt: Record<Side, number | null>;
  /** Per side, the step at which it closed on a full read buffer. */
  readLimitAt: Record<Side, number | null>;
}

/** The exceptions that apply to a program, from all its traces. */
export function exceptionsOf(traces: Iterable<Trace>): Exceptions {
  const pressured = new Set<Side>();
  const closedUnread: Record<Side, number | null> = { a: null, b: null };
  const closedOnMuchUnread: Record<Side, number | null> = { a: null, b: null };
  const closedAt: Record<Side, number | null> = { a: null, b: null };
  const readLimitAt: Record<Side, number | null> = { a: null, b: null };
  const earliest = (x: number | null, y: number | null) => (x === null ? y : y === null ? x : Math.min(x, y));
  for (const trace of traces) {
    for (const side of ['a', 'b'] as const) {
      if (trace.backpressure[side]) pressured.add(side);
      closedUnread[side] = earliest(closedUnread[side], trace.closedUnread[side]);
      closedOnMuchUnread[side] = earliest(closedOnMuchUnread[side], trace.closedOnMuchUnread[side]);
      readLimitAt[side] = earliest(readLimitAt[side], trace.readLimitAt[side]);
    }
    for (const entry of trace.closes) {
      const [side, at] = entry.split('@') as [Side, string];
      closedAt[side] = earliest(closedAt[side], Number(at));
    }
  }
  return { pressured, closedUnread, closedOnMuchUnread, closedAt, readLimitAt };
}

/** The parts of a trace compared exactly, reduced where `exceptions` say they may differ. */
export function comparable(program: Program, trace: Trace, exceptions: Exceptions): Record<string, unknown> {
  const { pressured } = exceptions;
  const dropped = (side: Side, direction: Outcome['direction']) =>
    (direction === 'out' && pressured.has(side)) || (direction === 'in' && pressured.has(peerOf(side)));
  const isRead = (step: Step) => step.op.startsWith('read');
  const after = (closed: number | null, at: number | null) => closed !== null && (at === null || at >= closed);
  // After either side closed with bytes unread, a reset and an end of file count the same.
  const closedUnread = (at: number | null) => after(exceptions.closedUnread.a, at) || after(exceptions.closedUnread.b, at);
  // Writes after the peer closed: the ring's send buffer takes what write(2) would refuse (EPIPE).
  const peerGone = (side: Side, at: number | null) => after(exceptions.closedAt[peerOf(side)], at);
  // A reset drops what the kernel still held for this side; what a ring RECV had already taken is delivered.
  const resetLoses = (side: Side, at: number | null) =>
    after(exceptions.closedUnread[peerOf(side)], at) || after(exceptions.readLimitAt[side], at);
  // A read started once the peer had closed over unread bytes: the reset may have dropped all it would get.
  const peerResetBefore = (side: Side, step: number) => after(exceptions.closedUnread[peerOf(side)], step);
  // Known open difference: see OPEN_DIFFERENCES.
  const unverified = (side: Side, at: number | null) => after(exceptions.closedOnMuchUnread[peerOf(side)], at);
  return {
    steps: trace.steps.map((result, i) => {
      const step = program.steps[i]!;
      if ((step.op === 'write' || step.op === 'flood') && pressured.has(step.side)) return '(backpressure)';
      if (isRead(step) && pressured.has(peerOf(step.side))) return '(peer had backpressure)';
      if (unverified(step.side, i)) return OPEN_DIFFERENCES.closeUnderReadAhead;
      if ((step.op === 'write' || step.op === 'flood') && peerGone(step.side, i)) return writeToClosedPeer(result);
      if (isRead(step) && peerResetBefore(step.side, i)) return readAfterReset(result);
      return closedUnread(i) || peerGone(step.side, i) ? resetOrEof(result) : result;
    }),
    outcomes: trace.outcomes
      .filter((o) => !dropped(o.side, o.direction) && !unverified(o.side, o.at))
      // A read the reset left nothing for threw when it was called (above):
      // it has no outcome; where read-ahead kept bytes, it resolved. Which
      // bytes it got is the invariants' prefix check.
      .filter((o) => !(o.direction === 'in' && peerResetBefore(o.side, stepOf(o)) && /^resolved/.test(o.result ?? '')))
      .map((o) => (closedUnread(o.at) || peerGone(o.side, o.at) ? { ...o, result: resetOrEof(o.result) } : o))
      .map((o) => (o.direction === 'out' && peerGone(o.side, o.at) ? { ...o, result: '(written as the peer closed)' } : o))
      .map((o) => (o.direction === 'in' && resetLoses(o.side, o.at) ? { ...o, result: o.result?.replace(/^resolved \d+/, 'resolved (a prefix)') ?? null } : o)),
    closes: pressured.size ? '(backpressure)'
      : trace.closes.map((entry) => {
        const [side, at] = entry.split('@') as [Side, string];
        return unverified(side, Number(at)) ? `${side}@${OPEN_DIFFERENCES.closeUnderReadAhead}` : entry;
      }),
    delivered: (['a', 'b'] as const).map((side) => (pressured.has(peerOf(side)) ? '(backpressure)'
      : resetLoses(side, null) ? '(a prefix: reset or read limit)' : trace.delivered[side])),
    // A peer's reset may leave this side more to drain (what the read-ahead took): a full buffer logged.
    errors: pressured.size ? '(backpressure)'
      : trace.errors.filter((line) => !(resetLoses('a', null) || resetLoses('b', null)) || !/maximum read buffer size/.test(line)),
  };
}

/**
 * Differences found and not fixed yet, compared as invariants only until
 * they are (docs/differential.md has each one's minimal program).
 */
export const OPEN_DIFFERENCES = {
  /**
   * A uring stream holding 256 KiB unread pauses its RECV (flow control);
   * with ring sends its peer's close lingers on the SENDs it cannot
   * complete, so the stream does not learn of it until it reads; epoll
   * reports the hang-up at once and the stream closes.
   */
  closeUnderReadAhead: '(open: peer closed while read-ahead paused)',
} as const;

/**
 * A result after the peer closed: a reset, a broken pipe and an end of
 * file count the same (which one a side meets depends on where the bytes
 * sat: the kernel, the ring's send buffer, its read-ahead).
 */
function resetOrEof(result: string | null): string | null {
  return result && result.replace(/StreamClosedError\((OSError:ECONNRESET|OSError:EPIPE|ESTREAMCLOSED|StreamBufferFullError)\)/g, 'StreamClosedError(reset or EOF)');
}

/**
 * A read's step result once a reset may have dropped what the kernel held
 * for this side: on epoll the stream may already be closed, its bytes
 * lost with the reset, and the read throws when called; on a ring RECV
 * had taken them (read-ahead), so the same read is started and resolves
 * with them. Either, never anything else.
 */
function readAfterReset(result: string): string {
  return /^(ok|threw StreamClosedError)/.test(result) ? '(read, or StreamClosedError: the reset dropped the unread bytes)' : result;
}

/** A write's step result once the peer has closed: accepted (by a send buffer) or refused, never anything else. */
function writeToClosedPeer(result: string): string {
  return /^(ok|accepted |threw StreamClosedError)/.test(result) ? '(accepted, or StreamClosedError: the peer closed)' : result;
}

/** The step an outcome's operation was started at (its id: `r<step>`, `w<step>`). */
function stepOf(outcome: Outcome): number {
  return Number(outcome.id.slice(1));
}

function peerOf(side: Side): Side {
  return side === 'a' ? 'b' : 'a';
}

/**
 * Why the runs of `program` disagree or broke an invariant, or null when
 * they agree. `maskOpen: false` compares what OPEN_DIFFERENCES masks too.
 */
export function compareRuns(program: Program, results: Map<Backend, RunResult>, { maskOpen = true } = {}): string | null {
  const problems: string[] = [];
  const traces = new Map<Backend, Trace>();
  for (const [backend, result] of results) {
    if ('error' in result) problems.push(`${backend}: run failed: ${result.error}`);
    else {
      traces.set(backend, result.trace);
      for (const violation of result.trace.violations) problems.push(`${backend}: ${violation}`);
    }
  }
  if (problems.length) return problems.join('\n');
  const exceptions = exceptionsOf(traces.values());
  if (!maskOpen) exceptions.closedOnMuchUnread = { a: null, b: null };
  const [[referenceName, reference], ...others] = [...traces];
  const expected = comparable(program, reference!, exceptions);
  for (const [backend, trace] of others) {
    const actual = comparable(program, trace, exceptions);
    if (JSON.stringify(actual) !== JSON.stringify(expected)) problems.push(`${backend} differs from ${referenceName}:\n${partDiff(expected, actual)}`);
  }
  return problems.length ? problems.join('\n') : null;
}

/** Each part of the trace where `actual` differs from `expected`, both values shown. */
function partDiff(expected: Record<string, unknown>, actual: Record<string, unknown>): string {
  return Object.keys(expected)
    .filter((key) => JSON.stringify(expected[key]) !== JSON.stringify(actual[key]))
    .map((key) => `  ${key}: expected ${JSON.stringify(expected[key])}\n  ${' '.repeat(key.length)}  got      ${JSON.stringify(actual[key])}`)
    .join('\n');
}
