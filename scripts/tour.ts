/**
 * `npm run tour`: watch gale's loop work, one iteration at a time.
 *
 * A tiny echo exchange over loopback TCP — a TCPServer that echoes one line,
 * an IOStream client that sends it — runs on an IOLoop in trace mode. Each
 * iteration's trace line is printed split into its phases, with the fds
 * named, and followed by what the application saw happen in it. Read it
 * beside reactor/README.md, whose "life of one echo message" section walks
 * through the same exchange in the code. (Tornado has no such script; it
 * plays the part of a guided reading of `tornado.ioloop`.)
 */
import { IOLoop } from '../reactor/ioloop.js';
import { setLogger, stderrLogger } from '../reactor/log.js';
import { TCPServer } from '../net/tcpserver.js';
import { bindSockets } from '../net/netutil.js';
import { AF_INET, Socket } from '../reactor/sys/socket.js';
import { IOStream } from '../streams/iostream.js';

const MESSAGE = 'hello gale\n';
const fdNames = new Map<number, string>();
let lastTraced = 0;
let pendingNotes: string[] = [];

const loop = new IOLoop({ makeCurrent: true, trace: true });

/**
 * Records what the application saw. Inside an iteration (its phases 1–4)
 * the note waits for that iteration's trace line; between iterations it is
 * phase 5 — Promise continuations running after the iteration yielded.
 */
function note(text: string): void {
  const iteration = loop.stats().iterations;
  if (iteration > lastTraced) pendingNotes.push(text);
  else console.log(`  phase 5 (after iteration ${lastTraced}, Promise continuations): ${text}`);
}

function nameOf(fd: string): string {
  if (fd === 'node') return "libuv's backend fd (Node has work ready)";
  return fdNames.get(Number(fd)) ?? 'an fd of this process';
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

/** Prints one trace line, phase by phase, then the notes taken inside its iteration. */
function annotate(line: string): void {
  const m = TRACE.exec(line);
  if (!m) {
    console.log(line);
    return;
  }
  const [, iteration, callbacks, timeouts, poll, nready, ready, ms, pending] = m;
  lastTraced = Number(iteration);
  console.log(`\n${line}`);
  console.log(`  phases 1–2 (take and run): ${callbacks} callbacks, ${timeouts} timeouts ran`);
  console.log(`  phase 3 (poll): poll(${poll}) — ${describeTimeout(poll!)}; ${nready} fd(s) ready`);
  for (const item of ready!.split(' ').filter(Boolean)) {
    const [fd, letters] = item.split(':');
    console.log(`  phase 4 (dispatch): fd ${fd} is ${describeEvents(letters!)}: ${nameOf(fd!)}`);
  }
  for (const text of pendingNotes) console.log(`    in iteration ${iteration}: ${text}`);
  pendingNotes = [];
  console.log(`  (${ms} ms in phases 3–4; ${pending} timeouts pending; phase 5 yields to Node next)`);
}

setLogger({
  ...stderrLogger,
  info: (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('[trace]')) annotate(args[0]);
    else stderrLogger.info(...args);
  },
});

/** Echoes one line back, then closes the connection. */
class EchoServer extends TCPServer {
  override async handleStream(stream: IOStream): Promise<void> {
    fdNames.set(stream.fileno(), 'the server side of the connection');
    note(`server (phase 4, the listener's accept handler): accepted a connection, fd ${stream.fileno()}; readUntil('\\n') finds nothing yet, so the stream watches READ`);
    const line = await stream.readUntil('\n')!;
    note(`server: readUntil resolved with ${JSON.stringify(line.toString())} (${line.length} bytes); writing them back`);
    await stream.write(line)!;
    note('server: write() resolved: the kernel took all the bytes at once, no WRITE event needed');
    stream.close();
  }
}

const [listener] = bindSockets(0, '127.0.0.1');
const port = (listener!.getsockname() as [string, number])[1];
fdNames.set(listener!.fileno(), 'the listening socket (a connection is waiting to be accepted)');
const server = new EchoServer();
server.addSockets([listener!]);

const client = new IOStream(new Socket(AF_INET));
fdNames.set(client.fileno(), 'the client socket');
console.log(`gale tour: poller ${loop.pollerName}; listening socket fd ${listener!.fileno()} (127.0.0.1:${port}); client fd ${client.fileno()}`);
console.log('Each block is one iteration of IOLoop: its trace line, then the phases it went through.');

const echoed = await loop.runSync(async () => {
  note(`client (phase 2, runSync's callback): connect() to 127.0.0.1:${port} started (nonblocking: EINPROGRESS), watching WRITE`);
  await client.connect(['127.0.0.1', port])!;
  note(`client: connected; write(${JSON.stringify(MESSAGE)}) goes out at once, then readUntil('\\n') waits`);
  await client.write(MESSAGE)!;
  const reply = await client.readUntil('\n')!;
  note(`client: got the echo back: ${JSON.stringify(reply.toString())}`);
  return reply.toString();
}, 10);

const stats = loop.stats();
if (stats.iterations > lastTraced) {
  console.log(`\niteration ${stats.iterations}: phase 2 ran runSync's "done" callback, which stopped the loop;`);
  console.log('  a stopped loop ends the iteration before polling, so it logs no trace line');
}
client.close();
server.stop();
loop.close();
setLogger(stderrLogger);
console.log(`\necho ${echoed === MESSAGE ? 'complete' : 'WRONG'}: sent ${JSON.stringify(MESSAGE)}, got ${JSON.stringify(echoed)}`);
console.log(`loop.stats(): ${stats.iterations} iterations, ${stats.ffiCalls} FFI calls, ${stats.events} events dispatched, ${stats.callbacks} callbacks, ${stats.timeouts} timeouts`);
if (echoed !== MESSAGE) process.exitCode = 1;
