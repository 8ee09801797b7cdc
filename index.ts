/**
 * gale: a Tornado-style event-loop runtime for Node.js with its own reactor.
 *
 * The package root re-exports every public name; the subpaths
 * `gale/reactor`, `gale/streams`, `gale/net`, `gale/resolvers`, `gale/ssl` expose each
 * folder's part.
 */
export * from './reactor/index.js';
export * from './net/index.js';
export * from './ssl/index.js';
export * from './streams/index.js';
export * from './resolvers/index.js';
