/**
 * Tornado's `netutil` helpers for servers: listening sockets for a port or a
 * Unix path, the accept handler that feeds new connections to a callback,
 * and the IP-literal check.
 */
import { checkPort, describeValue } from '../reactor/sys/validate.js';
import { chmodSync, statSync, unlinkSync } from 'node:fs';
import { IOLoop } from '../reactor/ioloop.js';
import type { TimeoutHandle } from '../reactor/timers.js';
import { appLog } from '../reactor/log.js';
import { OSError, errno as E } from '../reactor/sys/errors.js';
import { getaddrinfo } from '../reactor/sys/getaddrinfo.js';
import { parseIPv4, parseIPv6 } from '../reactor/sys/sockaddr.js';
import type { ListenerTransport } from '../reactor/transport.js';
import {
  AF_INET6, AF_UNIX, AF_UNSPEC, AI_NUMERICHOST, AI_PASSIVE, DEFAULT_BACKLOG, IPPROTO_IPV6, IPV6_V6ONLY,
  SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, Socket, type Address,
} from '../reactor/sys/socket.js';
import { isHandedOver, noteBound, takeInheritedFds } from './process.js';

/** Options of `bindSockets` (Tornado's keyword arguments). */
export interface BindOptions {
  /** AF_INET or AF_INET6 to restrict to one family; default both (AF_UNSPEC). */
  family?: number;
  /** The `listen` backlog (default 128). */
  backlog?: number;
  /** AI_* flags for getaddrinfo (default AI_PASSIVE). */
  flags?: number;
  /** Sets SO_REUSEPORT on every socket, so several processes can share the port. */
  reusePort?: boolean;
}

/**
 * Creates nonblocking listening sockets for every address `address` maps to
 * (all interfaces when `''` or null). With port 0 every socket gets the
 * port the first one was given. If any socket fails, the ones already made
 * are closed before the error is rethrown.
 */
export function bindSockets(port: number, address: string | null = null, options: BindOptions = {}): Socket[] {
  checkPort('port', port);
  if (address !== null && typeof address !== 'string') throw new TypeError(`address must be a string or null, got ${describeValue(address)}`);
  const { family = AF_UNSPEC, backlog = DEFAULT_BACKLOG, flags = AI_PASSIVE, reusePort = false } = options;
  const call = `bindSockets(${port}, ${JSON.stringify(address)}, family ${family}, flags ${flags}, reusePort ${reusePort})`;
  const inherited = takeInheritedFds(call);
  if (inherited) return inherited.map(adoptListener);
  const sockets = bindNewSockets(port, address, family, backlog, flags, reusePort);
  noteBound(call, sockets);
  return sockets;
}

/**
 * A listening socket this worker process inherited from its parent (see
 * `forkProcesses`): already bound and listening; made nonblocking here in
 * case the parent's was not.
 */
function adoptListener(fd: number): Socket {
  const sock = new Socket(undefined, undefined, undefined, fd);
  sock.setBlocking(false);
  sharedListeners.add(sock);
  return sock;
}

/**
 * Listeners this process shares with its sibling workers (adopted from the
 * parent). They are accepted on readiness even on a uring loop: an armed
 * ACCEPT takes the kernel's exclusive wake-up for a new connection, so a
 * worker blocked in a callback would hold connections (one per ACCEPT in
 * flight) that its siblings could serve, whereas a poll wakes every worker
 * and whoever calls accept first gets the connection (Tornado's model).
 */
const sharedListeners = new WeakSet<Socket>();

function bindNewSockets(port: number, address: string | null, family: number, backlog: number, flags: number,
  reusePort: boolean): Socket[] {
  const host = address === '' ? null : address;
  const sockets: Socket[] = [];
  let boundPort: number | null = null;
  try {
    for (const info of unique(getaddrinfo(host, port, family, SOCK_STREAM, 0, flags))) {
      const sockaddr = info.address as [string, number] | [string, number, number, number];
      // macOS lists fe80::1%lo0 for localhost; its firewall then prompts for
      // access to a "non-local" address, so Tornado skips it.
      if (process.platform === 'darwin' && address === 'localhost' && info.family === AF_INET6 && sockaddr[3]) continue;
      let sock: Socket;
      try {
        sock = new Socket(info.family, info.socktype | SOCK_NONBLOCK, info.protocol);
      } catch (error) {
        // The system lists a family its kernel cannot open (e.g. IPv6 off).
        if (error instanceof OSError && error.errno === E.EAFNOSUPPORT) continue;
        throw error;
      }
      sockets.push(sock);
      sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
      if (reusePort) sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
      // Linux's v6 sockets take v4 too by default, which would make binding
      // both 0.0.0.0 and :: fail; other systems need two sockets anyway.
      if (info.family === AF_INET6) sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
      const target: Address = sockaddr[1] === 0 && boundPort !== null
        ? (sockaddr.length === 4 ? [sockaddr[0], boundPort, sockaddr[2], sockaddr[3]] : [sockaddr[0], boundPort])
        : sockaddr;
      sock.bind(target);
      boundPort = (sock.getsockname() as [string, number])[1];
      sock.listen(backlog);
    }
  } catch (error) {
    for (const sock of sockets) sock.close();
    throw error;
  }
  return sockets;
}

// Tornado iterates over a set() of getaddrinfo's answers; keep the order.
function unique<T extends { family: number; address: Address }>(infos: T[]): T[] {
  const seen = new Set<string>();
  return infos.filter((info) => {
    const key = `${info.family}|${JSON.stringify(info.address)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Creates a nonblocking listening Unix socket at `file`. A stale socket
 * file there is replaced; any other kind of file is left alone and an
 * OSError EEXIST is thrown. The socket file gets permissions `mode`.
 */
export function bindUnixSocket(file: string, mode = 0o600, backlog = DEFAULT_BACKLOG): Socket {
  if (typeof file !== 'string' || file === '') throw new TypeError('bindUnixSocket needs a socket file path');
  const call = `bindUnixSocket(${JSON.stringify(file)}, mode 0o${mode.toString(8)})`;
  const inherited = takeInheritedFds(call);
  // In a worker the parent's socket is adopted: the file is the parent's to
  // keep, so it is neither unlinked nor replaced here.
  if (inherited) return adoptListener(inherited[0]);
  const sock = bindNewUnixSocket(file, mode, backlog);
  noteBound(call, [sock]);
  return sock;
}

function bindNewUnixSocket(file: string, mode: number, backlog: number): Socket {
  const abstract = file[0] === '\0';
  const sock = new Socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
  let created = false;
  try {
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    if (!abstract) {
      const existing = statSync(file, { throwIfNoEntry: false });
      if (existing?.isSocket()) unlinkSync(file);
      else if (existing) throw new OSError(E.EEXIST, 'bind', `File ${file} exists and is not a socket`);
    }
    sock.bind(file);
    created = !abstract;
    if (created) chmodSync(file, mode);
    sock.listen(backlog);
    return sock;
  } catch (error) {
    sock.close();
    if (created) try { unlinkSync(file); } catch { /* already gone */ }
    throw error;
  }
}

// Tornado's _DEFAULT_BACKLOG doubles as the accept batch: more connections
// can arrive while callbacks run, and accepting without bound would starve
// everything else on the loop.
const ACCEPT_BATCH = DEFAULT_BACKLOG;
// Out of fds (or kernel memory), accept fails while the connection stays
// queued, so the listener stays readable: watching it would spin the loop.
const EXHAUSTED = new Set([E.EMFILE, E.ENFILE, E.ENOBUFS, E.ENOMEM]);
const RETRY_FIRST = 0.1;
const RETRY_MAX = 1.0;

/**
 * Calls `callback(connection, address)` for each connection accepted on the
 * nonblocking listener `sock`. Returns a function that stops accepting.
 *
 * When the process or system runs out of fds, the error is logged once,
 * the listener is unwatched, and accepting is retried after a growing
 * backoff (0.1 s up to 1 s) until it succeeds or the remover is called.
 *
 * Connections come from the listener's transport (reactor/transport.ts):
 * accept4 on readiness, or on a uring loop what the kernel accepted inside
 * the loop's one `io_uring_enter` (no FFI call per connection). Callers see
 * no difference, errors included. Call the remover before closing `sock`:
 * on a ring, in-flight ACCEPTs hold the listener open until they are
 * cancelled.
 */
export function addAcceptHandler(sock: Socket, callback: (connection: Socket, address: Address) => void,
  ioLoop: IOLoop = IOLoop.current()!): () => void {
  // Kept so the remover still finds the registration after sock.close().
  const fd = sock.fileno();
  let removed = false;
  let watching = false;
  let retry: TimeoutHandle | null = null;
  let backoff = RETRY_FIRST;
  let reported = false;
  const nonblocking = !sock.getBlocking();
  // Where connections come from (reactor/transport.ts): a new one for each
  // watch. Once unwatched it accepts with accept4 (the retry after a pause).
  let transport: ListenerTransport | null = null;

  const watch = (): void => {
    if (isHandedOver(sock)) return;
    const opened = ioLoop.transportFor(fd, {
      kind: 'listener',
      nonblocking,
      // Listeners adopted from a parent are shared with sibling workers (see sharedListeners).
      shared: sharedListeners.has(sock),
      // A handler added before forkProcesses must not accept ahead on the
      // sockets the workers now own (it would take their connections).
      canAccept: () => !isHandedOver(sock),
    });
    try {
      ioLoop.addHandler(sock, acceptBatch, IOLoop.READ);
    } catch (error) {
      opened.release();
      throw error;
    }
    transport = opened;
    watching = true;
  };

  // Unwatching lets the transport go too (on a ring, its ACCEPTs are cancelled).
  const unwatch = (): void => {
    if (watching) ioLoop.removeHandler(fd);
    watching = false;
  };

  // The next connection, its peer in transport.acceptedAddress (acceptBatch
  // runs only after a first watch made a transport).
  const acceptedType = sock.type | (nonblocking ? SOCK_NONBLOCK : 0);
  const next = (): Socket | null => {
    const conn = transport!.accept();
    if (conn < 0) return null;
    // The listener's family, type and mode are known: wrapping costs no call.
    return new Socket(sock.family, acceptedType, sock.proto, conn);
  };

  const pause = (error: OSError): void => {
    if (!reported) {
      appLog.error(`Error accepting connections on fd ${fd}: ${error.message}; retrying in ${backoff}s`);
      reported = true;
    }
    unwatch();
    retry = ioLoop.callLater(backoff, resume);
    backoff = Math.min(backoff * 2, RETRY_MAX);
  };

  function acceptBatch(): void {
    // A parent supervising worker processes never accepts on the sockets it
    // handed them (Tornado's parent never returns from fork_processes).
    if (isHandedOver(sock)) return unwatch();
    // Closed without removing the handler first: stop. (On a ring the armed
    // ACCEPTs keep the listener open until then; on epoll nothing is reported.)
    if (sock.fileno() < 0) return unwatch();
    for (let i = 0; i < ACCEPT_BATCH && !removed; i++) {
      let accepted: Socket | null;
      try {
        accepted = next();
      } catch (error) {
        if (!(error instanceof OSError)) throw error;
        // Reset by the peer while still queued (seen on FreeBSD).
        if (error.errno === E.ECONNABORTED) continue;
        if (EXHAUSTED.has(error.errno)) return pause(error);
        throw error;
      }
      if (accepted === null) return; // drained (EAGAIN)
      backoff = RETRY_FIRST;
      reported = false;
      callback(accepted, transport!.acceptedAddress);
    }
  }

  // Try the accept before watching again: while fds are still short this
  // costs one failing accept per retry instead of two epoll_ctl calls too.
  function resume(): void {
    retry = null;
    if (removed || sock.fileno() < 0) return;
    try {
      // A blocking listener would block the thread here when nothing is queued.
      if (!sock.getBlocking()) acceptBatch();
    } finally {
      if (!removed && retry === null && !watching && sock.fileno() >= 0) watch();
    }
  }

  watch();
  return () => {
    if (removed) return;
    removed = true;
    if (retry) ioLoop.removeTimeout(retry);
    retry = null;
    unwatch();
  };
}

/** Whether `ip` is a well-formed IPv4 or IPv6 address. Never throws. */
export function isValidIp(ip: string): boolean {
  if (typeof ip !== 'string' || ip === '' || ip.includes('\0')) return false;
  // The strict parsers settle the common forms without an FFI call; the
  // rest ('127.1', 'fe80::1%lo') go to getaddrinfo as in Tornado.
  if (parseIPv4(ip) || parseIPv6(ip)) return true;
  try {
    return getaddrinfo(ip, 0, AF_UNSPEC, SOCK_STREAM, 0, AI_NUMERICHOST).length > 0;
  } catch {
    return false;
  }
}
