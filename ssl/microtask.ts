/**
 * `inMicrotask(callback)`: runs `callback` once the synchronous work under
 * way has returned, as `queueMicrotask` does — but without its async id.
 * Node's `queueMicrotask` builds an `AsyncResource` per call, which takes
 * one, and gale's loop hands its turn to Node whenever anything took an
 * async id (docs/reactor.md): a microtask per engine write made every TLS
 * iteration a hand-over. A reaction on a settled Promise takes none (the
 * loop's own batching uses the same, reactor/ioloop.ts). A callback that
 * throws rejects that Promise: Node reports it as an unhandled rejection.
 */
const settled = Promise.resolve();

export function inMicrotask(callback: () => void): void {
  void settled.then(callback);
}
