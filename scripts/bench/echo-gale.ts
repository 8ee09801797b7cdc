/**
 * gale's echo server, written the way a Tornado user would write it:
 *
 *     class EchoServer(TCPServer):
 *         async def handle_stream(self, stream, address):
 *             while True:
 *                 data = await stream.read_bytes(65536, partial=True)
 *                 await stream.write(data)
 *
 *   node dist/scripts/bench/echo-gale.js PORT [HOST]     (HOST: 127.0.0.1)
 *
 * Awaiting each write is what keeps memory bounded: no more is read from a
 * connection until what was read before has been flushed (the same
 * backpressure node:net's server gets from pause/resume on 'drain').
 *
 * `GALE_ECHO_READ=into` runs the other loop gale offers, Tornado 5's
 * `read_into`: every read lands in one Buffer the connection keeps, so no
 * chunk is fresh memory. Not what a Tornado 4.4 user writes; the benchmark
 * runs it (`gale-into`, `gale-uring-into`) to measure what handing a fresh
 * Buffer to user code per chunk costs in bulk (docs/benchmarks.md, "What
 * bounds bulk").
 *
 * On SIGTERM it prints one JSON line of counters to stderr and exits,
 * including `ffiCalls` (every FFI call this thread made, from the syscall
 * layer's counter) and `loopFfiCalls` (what `IOLoop.stats()` attributes to
 * the loop's own turns), so the runner can report FFI calls per echoed
 * message against the budget in DESIGN.md, and `ffiBufferCalls` (those of
 * them that passed a Buffer argument: on readiness every read and write).
 *
 * What it loads is what a user gets: the package's entry, `import 'gale'`
 * (package.json "exports": the bundle in dist/bundle/, scripts/bundle.mjs).
 * `GALE_ECHO_MODULES=files` loads tsc's per-file modules instead (dist/*),
 * to compare the two (the idle resident set is mostly the cost of loading
 * code: docs/benchmarks-history.md, "Memory").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Gale from 'gale';

type FfiCounter = { calls: number; bufferCalls: number };
const perFile = process.env.GALE_ECHO_MODULES === 'files';
const { IOLoop, TCPServer, StreamClosedError, bindSockets }: typeof Gale = perFile
  ? await import('../../index.js')
  : await import('gale');

/**
 * The FFI layer's counter, which the package does not export. From the
 * bundle: the chunk that holds reactor/sys/ffi.js (dist/bundle/metafile.json
 * names it), the same module instance the package's entry already loaded.
 */
async function ffiCounterOfThisProcess(): Promise<FfiCounter> {
  if (perFile) return (await import('../../reactor/sys/ffi.js')).ffiCounter;
  const repo = fileURLToPath(new URL('../../../', import.meta.url));
  const meta = JSON.parse(readFileSync(join(repo, 'dist/bundle/metafile.json'), 'utf8')) as { outputs: Record<string, { inputs: object }> };
  const chunk = Object.keys(meta.outputs).find((file) => 'dist/reactor/sys/ffi.js' in meta.outputs[file]!.inputs);
  if (!chunk) throw new Error('no bundled file holds reactor/sys/ffi.js: run `npm run build`');
  return ((await import(pathToFileURL(join(repo, chunk)).href)) as { ffiCounter: FfiCounter }).ffiCounter;
}

const readInto = process.env.GALE_ECHO_READ === 'into';

class EchoServer extends TCPServer {
  connections = 0;
  reads = 0;
  bytesEchoed = 0;

  override async handleStream(stream: Gale.IOStream, _address: Gale.Address): Promise<void> {
    this.connections++;
    stream.setNodelay(true); // as node:net's server does: small echoes go out at once
    try {
      if (readInto) await this.echoInto(stream);
      for (;;) {
        const data = await stream.readBytes(65536, { partial: true })!;
        this.reads++;
        this.bytesEchoed += data.length;
        await stream.write(data)!;
      }
    } catch (error) {
      if (!(error instanceof StreamClosedError)) throw error;
      // The client closed: the normal end of an echo session.
    }
  }

  /** `GALE_ECHO_READ=into`: one Buffer per connection, reused once its write is taken. */
  private async echoInto(stream: Gale.IOStream): Promise<never> {
    const buffer = Buffer.allocUnsafeSlow(65536);
    for (;;) {
      const n = await stream.readInto(buffer, true)!;
      this.reads++;
      this.bytesEchoed += n;
      await stream.write(buffer.subarray(0, n))!;
    }
  }
}

const port = Number(process.argv[2] ?? 0);
const host = process.argv[3] ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('usage: echo-gale PORT [HOST]\n');
  process.exit(64);
}

const loop = IOLoop.current()!;
const server = new EchoServer();
const sockets = bindSockets(port, host);
server.addSockets(sockets);
const bound = sockets[0].getsockname() as [string, number];
process.stdout.write(JSON.stringify({ server: 'gale', ready: true, port: bound[1], pid: process.pid, poller: loop.pollerName }) + '\n');

// The counter is looked up at the end, not at start: reading the bundle's
// metafile (~85 KB of JSON) at start-up would add its garbage to the idle
// RSS this server reports for gale.
process.on('SIGTERM', async () => {
  const stats = loop.stats();
  const ffiCounter = await ffiCounterOfThisProcess();
  process.stderr.write(JSON.stringify({
    server: 'gale',
    connections: server.connections,
    reads: server.reads,
    bytesEchoed: server.bytesEchoed,
    ffiCalls: ffiCounter.calls,
    ffiBufferCalls: ffiCounter.bufferCalls,
    loopFfiCalls: stats.ffiCalls,
    iterations: stats.iterations,
    events: stats.events,
  }) + '\n');
  process.exit(0);
});

await loop.start();
