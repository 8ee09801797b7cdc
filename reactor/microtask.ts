/**
 * `inMicrotask(callback)`: runs `callback` once the synchronous work under
 * way has returned, as `queueMicrotask` does — but without its async id.
 * Node's `queueMicrotask` builds an `AsyncResource` per call, which takes
 * one, and the loop hands its turn to Node whenever anything took an async
 * id (./node-interop.ts, docs/reactor.md). A reaction on a settled Promise
 * takes none. Used where the loop chains its batched iterations
 * (./ioloop.ts), where ring sends go out at the end of a turn
 * (./uring/send-flush.ts), and by the TLS layer for each engine write
 * (ssl/). A callback that throws rejects that Promise: Node reports it as
 * an unhandled rejection.
 */
const settled = Promise.resolve();

export function inMicrotask(callback: () => void): void {
  void settled.then(callback);
}
