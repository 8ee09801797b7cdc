/**
 * `npm run tour`: watch gale's loop work, one iteration at a time, on
 * readiness and on completion.
 *
 * A tiny echo exchange over loopback TCP — a TCPServer that echoes one line,
 * an IOStream client that sends it — runs twice, each time on its own
 * IOLoop in trace mode: first on epoll (readiness: the kernel says an fd is
 * ready, the stream makes the read(2)/write(2)), then on io_uring
 * (completion: the stream's requests are SQEs, one io_uring_enter per
 * iteration submits them and harvests their CQEs, and the transport hands
 * the stream what already happened). Each iteration's trace line is printed
 * split into its phases, with the fds named, the ring's line below it, and
 * what the application saw happen. Read it beside reactor/README.md, whose
 * "life of one echo message" sections walk the same exchange through the
 * code. (Tornado has no such script; it plays the part of a guided reading
 * of `tornado.ioloop`.) Elsewhere than Linux only the platform's poller runs.
 */
import { IOLoop } from '../reactor/ioloop.js';
import { setLogger, stderrLogger } from '../reactor/log.js';
import type { PollerName } from '../reactor/poller.js';
import { platformPoller } from '../reactor/loop-options.js';
import { TCPServer } from '../net/tcpserver.js';
import { bindSockets } from '../net/netutil.js';
import { AF_INET, Socket } from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';

const MESSAGE = 'hello gale\n';

/** The state of the echo being narrated. */
interface Run {
  loop: IOLoop;
  /** The loop runs on completions (a ring), not readiness. */
  ring: boolean;
  fdNames: Map<number, string>;
  lastTraced: number;
  pendingNotes: string[];
  /** On a ring: the iteration's trace line, waiting for the ring's line that follows it. */
  held: RegExpExecArray | null;
}

let run: Run | null = null;

/**
 * Records what the application saw. Inside an iteration (its phases 1–4)
 * the note waits for that iteration's trace line; between iterations it is
 * phase 5 — Promise continuations running after the iteration yielded.
 */
function note(text: string): void {
  const r = run!;
  const iteration = r.loop.stats().iterations;
  if (iteration > r.lastTraced) r.pendingNotes.push(text);
  else console.log(`  phase 5 (after iteration ${r.lastTraced}, Promise continuations): ${text}`);
}

function nameOf(fd: string): string {
  if (fd === 'node') return "libuv's backend fd (Node has work ready)";
  return run!.fdNames.get(Number(fd)) ?? 'an fd of this process';
}

function describeEvents(letters: string): string {
  const names: string[] = [];
  if (letters.includes('R')) names.push('readable');
  if (letters.includes('W')) names.push('writable');
  if (letters.includes('E')) names.push('error/hang-up');
  return names.join(' and ') || 'nothing';
}

function describeTimeout(poll: string): string {
  if (poll === 'idle') return 'nothing due: block until an fd is ready (an hour at most)';
  if (poll === '0 ms') return 'do not block: something ran or is queued, and its continuations must run first';
  return `block at most ${poll}: until the next timeout, or Node's next timer`;
}

const TRACE = /^\[trace\] iteration (\d+): ran (\d+) callbacks, (\d+) timeouts; poll\((.*?)\) -> (\d+) ready \[(.*?)\]; poll\+dispatch ([\d.]+) ms; (\d+) timeouts pending$/;
const RING = /^\[trace\] {3}(ring: .*)$/;

/**
 * Prints one trace line, phase by phase, then the notes taken inside its
 * iteration. On a ring the loop logs a second line right after (what the
 * one enter did): the iteration is printed once it has come.
 */
function annotate(line: string): void {
  const r = run!;
  const ring = RING.exec(line);
  if (ring && r.held !== null) {
    const held = r.held;
    r.held = null;
    printIteration(held, ring[1]!);
    return;
  }
  const m = TRACE.exec(line);
  if (!m) {
    console.log(line);
    return;
  }
  if (r.ring) r.held = m;
  else printIteration(m, null);
}

function printIteration(m: RegExpExecArray, ring: string | null): void {
  const r = run!;
  const [line, iteration, callbacks, timeouts, poll, nready, ready, ms, pending] = m;
  r.lastTraced = Number(iteration);
  console.log(`\n${line}`);
  console.log(`  phases 1–2 (take and run): ${callbacks} callbacks, ${timeouts} timeouts ran`);
  console.log(`  phase 3 (poll): poll(${poll}) — ${describeTimeout(poll!)}; ${nready} fd(s) ready`);
  if (ring !== null) console.log(`    below it, the ${ring}`);
  for (const item of ready!.split(' ').filter(Boolean)) {
    const [fd, letters] = item.split(':');
    console.log(`  phase 4 (dispatch): fd ${fd} is ${describeEvents(letters!)}: ${nameOf(fd!)}`);
  }
  for (const text of r.pendingNotes) console.log(`    in iteration ${iteration}: ${text}`);
  r.pendingNotes = [];
  console.log(`  (${ms} ms in phases 3–4; ${pending} timeouts pending; phase 5 yields to Node next)`);
}

/** Echoes one line back, then closes the connection. */
class EchoServer extends TCPServer {
  override async handleStream(stream: IOStream): Promise<void> {
    const ring = run!.ring;
    run!.fdNames.set(stream.fileno(), ring
      ? 'the server side of the connection (READ: its RECV completed, the bytes wait in the transport)'
      : 'the server side of the connection');
    note(`server (phase 4, the listener's accept handler): ${ring ? "took the connection the ring's ACCEPT had accepted" : 'accepted a connection with accept4(2)'}, fd ${stream.fileno()}; ` +
      `readUntil('\\n') finds nothing yet, so the stream watches READ${ring ? ' (the transport arms a multishot RECV with the next enter)' : ''}`);
    const line = await stream.readUntil('\n')!;
    note(`server: readUntil resolved with ${JSON.stringify(line.toString())} (${line.length} bytes)` +
      `${ring ? ', handed over by the transport (no read(2))' : ', read with one read(2)'}; writing them back`);
    await stream.write(line)!;
    note(ring
      ? "server: write() resolved: the bytes are in the ring's send buffer; their SEND goes out with the next enter"
      : 'server: write() resolved: the kernel took all the bytes at once (one write(2)), no WRITE event needed');
    stream.close();
  }
}

/** Runs the echo on a loop of `poller` and narrates it; returns whether the echo came back. */
async function echo(poller: PollerName): Promise<boolean> {
  const loop = new IOLoop({ poller, makeCurrent: false, trace: true });
  const ring = loop.pollerName === 'uring';
  run = { loop, ring, fdNames: new Map(), lastTraced: 0, pendingNotes: [], held: null };
  const [listener] = bindSockets(0, '127.0.0.1');
  const port = (listener!.getsockname() as [string, number])[1];
  run.fdNames.set(listener!.fileno(), ring
    ? "the listening socket (the ring's ACCEPT has accepted a connection: it waits in the acceptor)"
    : 'the listening socket (a connection is waiting to be accepted)');
  const server = new EchoServer();
  const client = new IOStream(new Socket(AF_INET), { ioLoop: loop });
  run.fdNames.set(client.fileno(), ring
    ? 'the client socket (CONNECT completed, or RECV brought the echo)'
    : 'the client socket');
  console.log(`\n=== gale tour: poller ${loop.pollerName} (${ring ? 'completion: the ring does the I/O, the loop reports what completed' : 'readiness: the kernel reports ready fds, the streams do the I/O'}); ` +
    `listening socket fd ${listener!.fileno()} (127.0.0.1:${port}); client fd ${client.fileno()}`);
  console.log('Each block is one iteration of IOLoop: its trace line, then the phases it went through.');
  let echoed = '';
  try {
    echoed = await loop.runSync(async () => {
      server.addSockets([listener!]); // on this loop, now current
      note(ring
        ? `client (phase 2, runSync's callback): connect() to 127.0.0.1:${port} queued as a CONNECT SQE (no syscall yet), watching WRITE`
        : `client (phase 2, runSync's callback): connect() to 127.0.0.1:${port} started (nonblocking connect(2): EINPROGRESS), watching WRITE`);
      await client.connect(['127.0.0.1', port])!;
      note(`client: connected; write(${JSON.stringify(MESSAGE)}) ${ring ? "goes into the ring's send buffer (a SEND SQE)" : 'goes out at once (one write(2))'}, then readUntil('\\n') waits`);
      await client.write(MESSAGE)!;
      const reply = await client.readUntil('\n')!;
      note(`client: got the echo back: ${JSON.stringify(reply.toString())}`);
      return reply.toString();
    }, 10);
  } finally {
    const stats = loop.stats();
    if (stats.iterations > run.lastTraced) {
      console.log(`\niteration ${stats.iterations}: phase 2 ran runSync's "done" callback, which stopped the loop;`);
      console.log('  a stopped loop ends the iteration before polling, so it logs no trace line');
    }
    client.close();
    server.stop();
    loop.close();
    console.log(`\necho on ${loop.pollerName} ${echoed === MESSAGE ? 'complete' : 'WRONG'}: sent ${JSON.stringify(MESSAGE)}, got ${JSON.stringify(echoed)}`);
    console.log(`loop.stats() on ${loop.pollerName}: ${stats.iterations} iterations, ${stats.ffiCalls} FFI calls, ${stats.events} events dispatched, ${stats.callbacks} callbacks, ${stats.timeouts} timeouts`);
    run = null;
  }
  return echoed === MESSAGE;
}

setLogger({
  ...stderrLogger,
  info: (...args: unknown[]) => {
    if (run !== null && typeof args[0] === 'string' && args[0].startsWith('[trace]')) annotate(args[0]);
    else stderrLogger.info(...args);
  },
});

// Readiness first, then completion; elsewhere than Linux, the platform's one.
const pollers: PollerName[] = process.platform === 'linux' ? ['epoll', 'uring'] : [platformPoller()];
let ok = true;
try {
  for (const poller of pollers) ok = (await echo(poller)) && ok;
} finally {
  setLogger(stderrLogger);
}
if (!ok) process.exitCode = 1;
