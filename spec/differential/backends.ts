/**
 * The backends and modes the differential test compares, and the one place
 * that says how each is chosen. Today some choices are environment
 * variables read at import (send-flush.ts, socket-transport.ts) or per
 * stream (uring/attach.ts), so each runs in its own child process with its
 * environment; when they become `IOLoop` options, `backendSetup` is what
 * changes (return them in `loopOptions`).
 */

/** Every backend and mode, in the order traces are compared (the first is the reference). */
export const BACKENDS = [
  'epoll',
  'poll',
  'uring-readiness',
  'uring-recv',
  'uring-ring',
  'uring-ring-no-accept-connect',
] as const;

export type Backend = (typeof BACKENDS)[number];

/** What a run on `backend` needs: the child's environment and the IOLoop options. */
export interface BackendSetup {
  env: Record<string, string | undefined>;
  loopOptions: { poller: 'epoll' | 'poll' | 'uring' };
}

/** How to run on `backend`: epoll, poll, or io_uring in one of its stream modes (docs/uring.md). */
export function backendSetup(backend: Backend): BackendSetup {
  // Unset means the default: ring reads, ring sends, ring accepts and connects.
  const uring = { GALE_URING_STREAMS: undefined, GALE_URING_ACCEPT: undefined, GALE_URING_CONNECT: undefined, GALE_URING_PIPES: undefined };
  switch (backend) {
    case 'epoll': return { env: { GALE_POLLER: 'epoll' }, loopOptions: { poller: 'epoll' } };
    case 'poll': return { env: { GALE_POLLER: 'poll' }, loopOptions: { poller: 'poll' } };
    // The ring as a poller only: streams read and write on readiness.
    case 'uring-readiness': return { env: { ...uring, GALE_POLLER: 'uring', GALE_URING_STREAMS: '0' }, loopOptions: { poller: 'uring' } };
    // Reads on completions (multishot RECV), writes with write(2).
    case 'uring-recv': return { env: { ...uring, GALE_POLLER: 'uring', GALE_URING_STREAMS: '1' }, loopOptions: { poller: 'uring' } };
    // The default: reads and sends through the ring, accept and connect too.
    case 'uring-ring': return { env: { ...uring, GALE_POLLER: 'uring' }, loopOptions: { poller: 'uring' } };
    case 'uring-ring-no-accept-connect': return {
      env: { ...uring, GALE_POLLER: 'uring', GALE_URING_ACCEPT: '0', GALE_URING_CONNECT: '0' },
      loopOptions: { poller: 'uring' },
    };
  }
}

/** `backend` checked: one of BACKENDS. */
export function parseBackend(name: string): Backend {
  if (!(BACKENDS as readonly string[]).includes(name)) throw new RangeError(`backend must be one of ${BACKENDS.join(', ')}, got ${name}`);
  return name as Backend;
}
