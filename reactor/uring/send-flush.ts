/**
 * When ring sends reach the kernel. No Tornado counterpart.
 *
 * A stream's write copies its bytes into the ring's send buffer and counts
 * them as written at once, as write(2) does on epoll, so its Future
 * resolves inside `write()`. The SEND SQEs are submitted with the loop's
 * next io_uring_enter — the one call per iteration that is the point of
 * the ring — and in three more places, so that no byte a Future called
 * written is left behind:
 * - when the loop stops (`IOLoop.start()` returns: reactor/ioloop.ts);
 * - when the loop closes (the poller's close submits before it cancels);
 * - when the process or thread exits (`process.on('exit')`, here).
 *
 * What is not covered: code that blocks the loop's thread right after a
 * write until the peer has the bytes (a blocking recv() on the other end
 * in the same thread, Atomics.wait for a reply) — the enter that would send
 * them never comes. The loop option `uring.submit: 'turn'`
 * (`GALE_URING_SUBMIT=turn`) submits at the end of every turn that wrote
 * (one microtask, so before the continuation of any Future the write
 * resolved): safe for such code, at the cost of a second FFI call in most
 * iterations (docs/uring.md, "When a write reaches the kernel").
 */
import { inMicrotask } from '../microtask.js';
import type { Ring } from './ring.js';

const scheduled = new WeakSet<Ring>();
const withSends = new Set<Ring>();
let exitHooked = false;
/** The ring `sendsQueued` saw last (it is in `withSends` while its fd is open). */
let lastRing: Ring | null = null;

/**
 * `ring` has SENDs queued: they are submitted at exit if nothing has by
 * then, and with `eachTurn` (`uring.submit: 'turn'`) at the end of this turn.
 */
export function sendsQueued(ring: Ring, eachTurn: boolean): void {
  // A thread has one loop as a rule: comparing with the ring seen last
  // spares the Set lookup (~150 instructions) that every write made.
  if (ring !== lastRing && !withSends.has(ring)) {
    if (withSends.size >= 16) for (const known of withSends) if (known.fd < 0) withSends.delete(known);
    withSends.add(ring);
    lastRing = ring;
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', submitAll);
    }
  }
  if (eachTurn && !scheduled.has(ring)) {
    scheduled.add(ring);
    // Not queueMicrotask: it takes an async id, which tells the loop Node
    // may have a new timer, so its next blocking wait would first hop
    // through libuv (reactor/node-interop.ts: a port message and an FFI
    // call). inMicrotask takes none.
    inMicrotask(() => {
      scheduled.delete(ring);
      if (ring.fd >= 0 && ring.pending() > 0) ring.flush();
    });
  }
}

/** Submits what every live ring of this thread still has queued. */
function submitAll(): void {
  for (const ring of withSends) {
    try {
      if (ring.fd >= 0 && ring.pending() > 0) ring.flush();
    } catch { /* exiting anyway */ }
  }
}
