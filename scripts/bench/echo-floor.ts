/**
 * The floor: the least a JavaScript echo server can execute per unit of
 * work through gale's own FFI layer (koffi) and epoll, with none of gale's
 * machinery — no IOLoop, no IOStream, no Futures, no Promises, no
 * coexistence with Node's event loop.
 *
 *   node dist/scripts/bench/echo-floor.js PORT [HOST]     (HOST: 127.0.0.1)
 *
 * It is what c-epoll-echo.c does, written in JavaScript: one epoll set,
 * level-triggered; a readable connection is read into one 64 KiB buffer
 * allocated at start and written straight back; a write the kernel takes
 * only in part keeps the rest and waits for EPOLLOUT before reading again.
 * Per round trip that is three FFI calls (epoll_wait, read, write), the
 * same as gale's epoll echo. What gale executes above this floor
 * (instructions.ts, echo.ts's user time) is the price of its abstractions;
 * what this floor executes above the C server is the price of running the
 * loop in JavaScript over an FFI.
 *
 * Not a pattern to follow: it calls the FFI table `c` directly (gale's
 * code goes through libc.ts's checked wrappers), and it blocks in
 * epoll_wait forever, so Node's own event loop never runs again — which is
 * why SIGTERM simply ends it (no counters are printed).
 */
import { EPollPoller } from '../../reactor/epoll.js';
import { c, accept, close, lastErrno, setsockoptInt } from '../../reactor/sys/libc.js';
import { errno as E } from '../../reactor/sys/errors.js';
import { IPPROTO_TCP, TCP_NODELAY } from '../../reactor/sys/constants.js';
import { bindSockets } from '../../net/netutil.js';

const READ = 0x001;
const WRITE = 0x004;

const port = Number(process.argv[2] ?? 0);
const host = process.argv[3] ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('usage: echo-floor PORT [HOST]\n');
  process.exit(64);
}

const [listener] = bindSockets(port, host);
const listenFd = listener!.fileno();
const poller = new EPollPoller();
poller.register(listenFd, READ);
const buffer = Buffer.allocUnsafe(65536);
/** What the kernel has not taken yet, per connection waiting for EPOLLOUT. */
const unsent = new Map<number, Buffer>();

function drop(fd: number): void {
  poller.unregister(fd);
  unsent.delete(fd);
  close(fd);
}

/** Whether the last call failed only because the fd would block. */
function wouldBlock(): boolean {
  const err = lastErrno();
  return err === E.EAGAIN || err === E.EWOULDBLOCK || err === E.EINTR;
}

/** Writes `length` bytes of `data`; the rest, if any, waits for EPOLLOUT. */
function send(fd: number, data: Buffer, length: number): void {
  const written = c.writeBuf(fd, data, length) as number;
  if (written === length) return;
  if (written < 0 && !wouldBlock()) return drop(fd);
  unsent.set(fd, Buffer.from(data.subarray(Math.max(0, written), length)));
  poller.modify(fd, WRITE);
}

process.stdout.write(JSON.stringify({ server: 'js-floor', ready: true, port: listener!.getsockname()[1], pid: process.pid }) + '\n');

for (;;) {
  const n = poller.poll(-1);
  for (let i = 0; i < n; i++) {
    const fd = poller.readyFds[i]!;
    const events = poller.readyEvents[i]!;
    if (fd === listenFd) {
      for (let conn = accept(listenFd); conn >= 0; conn = accept(listenFd)) {
        setsockoptInt(conn, IPPROTO_TCP, TCP_NODELAY, 1);
        poller.register(conn, READ);
      }
    } else if (events & WRITE) {
      const rest = unsent.get(fd)!;
      unsent.delete(fd);
      poller.modify(fd, READ);
      send(fd, rest, rest.length);
    } else {
      const got = c.readBuf(fd, buffer, buffer.length) as number;
      if (got > 0) send(fd, buffer, got);
      else if (got === 0 || !wouldBlock()) drop(fd); // EOF, or a reset
      // else: a spurious wake-up (EAGAIN)
    }
  }
}
