/**
 * What the Node-interop specs give Node to do while a gale loop is busy,
 * and how they check it got its turn: a Node timer, an immediate and a
 * node:net round trip, each stamped with the loop's iteration count when it
 * was queued and when it ran (spec/ioloop-batch, spec/ssl-bookkeeping).
 */
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket as NetSocket } from 'node:net';
import type { IOLoop } from '../reactor/ioloop.js';

/** How many iterations "promptly" allows, past a batch's end. */
export const FEW = 8;

/** The longest run of a loop's iterations without a Node turn (a yield or a hop), sampled by the caller. */
export function longestRunTracker(loop: IOLoop): { sample(): void; longest: number } {
  let lastTurns = -1;
  let runStart = 0;
  const tracker = {
    longest: 0,
    sample() {
      const s = loop.stats();
      const turns = s.yields + s.hops;
      if (turns !== lastTurns) {
        lastTurns = turns;
        runStart = s.iterations;
      }
      tracker.longest = Math.max(tracker.longest, s.iterations - runStart + 1);
    },
  };
  return tracker;
}

/** Node's work for a busy loop: see the file's header. */
export class NodeWork {
  /** Iteration counts: when each piece was queued and when it ran. */
  readonly at: Record<string, number> = {};
  private client: NetSocket | null = null;

  private constructor(private readonly loop: IOLoop, private readonly server: Server) {}

  /** Starts the node:net echo server the round trip goes to. */
  static async start(loop: IOLoop): Promise<NodeWork> {
    const server = createServer((socket) => socket.on('data', (data) => socket.end(data)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new NodeWork(loop, server);
  }

  /** Queues the three: a timer due in 1 ms, an immediate, a node:net connect-write-echo. */
  queue(): void {
    const now = (): number => this.loop.stats().iterations;
    const at = this.at;
    at.timerArmed = now();
    setTimeout(() => { at.timer = now(); }, 1);
    at.immediateQueued = now();
    setImmediate(() => { at.immediate = now(); });
    const client = connect((this.server.address() as AddressInfo).port, '127.0.0.1', () => {
      at.written = now();
      client.write('x');
    });
    client.on('data', () => { at.echoed = now(); });
    this.client = client;
  }

  /** Whether all three have run. */
  allRan(): boolean {
    return this.at.timer !== undefined && this.at.immediate !== undefined && this.at.echoed !== undefined;
  }

  /** The immediate ran at the next Node turn, the socket's echo within FEW iterations, the timer after it was armed. */
  assertRanPromptly(): void {
    const at = this.at;
    assert.ok(at.immediate! - at.immediateQueued! <= 2, JSON.stringify(at));
    assert.ok(at.echoed! - at.written! <= FEW, JSON.stringify(at));
    assert.ok(at.timer! >= at.timerArmed!, JSON.stringify(at));
  }

  close(): void {
    this.client?.destroy();
    this.server.close();
  }
}
