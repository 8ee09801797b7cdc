/**
 * A listening socket's acceptor on a ring: connections are accepted by the
 * kernel inside the loop's one `io_uring_enter`, queued here, and handed to
 * the accept handler (net/netutil.ts `addAcceptHandler`, so `TCPServer`)
 * with no FFI call per connection. Corresponds to the accept loop of
 * Tornado's `netutil.add_accept_handler`, on completions.
 *
 * ## Why single-shot ACCEPTs with an address slot each, not one multishot
 * Tornado's callback gets `(connection, address)`. A multishot ACCEPT
 * cannot return per-connection peer addresses (the kernel has one
 * sockaddr pointer per request), so the address would cost a
 * `getpeername` FFI call (~4 µs on ffi-rs when this was decided, more
 * than the accept it replaces; well under 1 µs on koffi since) whenever it is read — and `TCPServer.handleStream` receives
 * it for every connection, so an HTTP-style server reads it every time.
 * Faking a lazy `[host, port]` (an array with getters, a Proxy) would
 * not be a plain Address either (deep equality, structured clone,
 * `Object.keys`). So instead `slots` single-shot ACCEPTs are kept in
 * flight, each with its own native sockaddr + socklen slot; the kernel
 * writes the peer address there and JS decodes it from memory. A
 * completed slot is re-armed in the next submission batch (an SQE written
 * in JS, no FFI call). Per connection: 0 FFI calls, one CQE, one SQE,
 * and the exact address. `ACCEPT` waits on the listener exclusively, so
 * one connection wakes one slot, not all of them.
 *
 * Measured (a bare ring, 20–30k connections from a child, server CPU per
 * connection, medians of 3 interleaved rounds): these slots 38.8 µs,
 * multishot without the address 32.9, multishot + getpeername 36.1. The
 * kernel arms a fresh poll for each single-shot ACCEPT, which costs about
 * what the FFI call it saves does; with the address handed to every
 * callback the slots cost the same CPU as the lazy scheme, with one FFI
 * call fewer and no fake array. What is given up: at most `slots`
 * connections are accepted per loop iteration (32 by default; a storm
 * drains over a few iterations, each still one FFI call).
 *
 * ## Readiness emulated
 * The loop watches READ on the listener as on epoll; the poller reports
 * READ (level-triggered) while an accepted connection, or an error, waits
 * here, and the handler takes them with `take()`. The ACCEPTs are armed
 * only while READ is watched.
 *
 * ## Bounded queue
 * Accepted-but-unclaimed connections plus ACCEPTs in flight never exceed
 * `queueCap` (128, Tornado's accept batch): above it no slot is re-armed,
 * connections stay in the kernel's backlog, and the backlog pushes back
 * on clients as it does on epoll. Taking connections re-arms the slots.
 *
 * ## Errors, as the epoll accept loop has them
 * `ECONNABORTED` (reset while queued) is dropped and the slot re-armed.
 * Any other error is handed to the handler by `take()` (as an OSError
 * `accept`) once the connections accepted before it are taken; until then
 * no slot is re-armed, so a persistent error costs one CQE, not a storm.
 * `addAcceptHandler` pauses on EMFILE/ENFILE/ENOBUFS/ENOMEM exactly as
 * on epoll (log once, unwatch, retry after a backoff): unwatching detaches
 * the acceptor, and the connection that failed is still in the backlog.
 * (The kernel reads RLIMIT_NOFILE when an ACCEPT is prepared: one armed
 * before the limit was lowered still accepts under the old limit.)
 *
 * ## Close
 * An armed ACCEPT holds a reference to the listener's file: closed under
 * it, the socket would stay open and keep accepting. Unwatching the fd
 * (`removeHandler`) detaches the acceptor: its ACCEPTs are cancelled and
 * submitted at once (one FFI call, as epoll_ctl(DEL)), and connections
 * accepted but not taken are closed. A connection whose ACCEPT completed
 * before its cancel is closed when that CQE arrives. The sockaddr slots are
 * freed only once no ACCEPT is in flight (the kernel may still write them).
 * Generations in `user_data` (./endpoint.ts) keep a late CQE from reaching
 * a new listener on the same fd number.
 *
 * ## Listeners shared between processes
 * Because an armed ACCEPT takes the exclusive wake-up, a process blocked
 * in a callback would hold connections its siblings could serve; so
 * net/netutil.ts keeps listeners adopted from a parent on readiness, and
 * `canAccept` stops a parent from arming ACCEPTs on sockets it handed over.
 */
import { allocRegion, freeRegion, type Region } from '../sys/arena.js';
import { close as closeFd } from '../sys/libc.js';
import { OSError, errno as E } from '../sys/errors.js';
import { decodeSockaddr, type Address } from '../sys/sockaddr.js';
import { SOCK_CLOEXEC, SOCK_NONBLOCK } from '../sys/constants.js';
import { READ } from '../poller.js';
import { acceptNow } from '../readiness-transport.js';
import type { ListenerTransport } from '../transport.js';
import { KIND_ACCEPT_SLOT, type CompletionEndpoint, type EndpointHost } from './endpoint.js';
import { Operation } from './operation.js';
import { Deque } from '../deque.js';

/** Single-shot ACCEPTs kept in flight by default. */
export const DEFAULT_ACCEPT_SLOTS = 32;
/** Most slots an acceptor may have (user_data kinds 0x80–0xff). */
export const MAX_ACCEPT_SLOTS = 0x100 - KIND_ACCEPT_SLOT;
/** Connections queued plus ACCEPTs in flight, at most (Tornado's accept batch, `_DEFAULT_BACKLOG`). */
export const DEFAULT_QUEUE_CAP = 128;

// A slot: sockaddr_storage-sized room (sockaddr_un, 110 B, is the largest), then its socklen_t.
const SOCKADDR_ROOM = 128;
const SLOT_BYTES = SOCKADDR_ROOM + 8;

/** Counters of one acceptor (tests and benchmarks read them). */
export interface AcceptorStats {
  /** Connections the kernel accepted for it. */
  accepted: number;
  /** ACCEPT SQEs written. */
  armed: number;
  /** ECONNABORTED completions dropped. */
  aborted: number;
  /** Times arming stopped at the queue cap. */
  capped: number;
  /** Errors handed to the handler. */
  errors: number;
}

/** Options of an acceptor. */
export interface AcceptorOptions {
  /** Whether accepted sockets are nonblocking (the listener's mode). */
  nonblocking: boolean;
  /** Single-shot ACCEPTs in flight (1 to MAX_ACCEPT_SLOTS; default 32). */
  slots?: number;
  /** Connections queued plus in flight, at most (default 128). */
  queueCap?: number;
  /**
   * Asked before arming: false means this process must not accept on the
   * listener any more (a parent that handed it to worker processes). No
   * ACCEPT is armed then, and READ is reported so the handler runs and
   * unwatches, as a readiness loop's handler would on its next wake-up.
   */
  canAccept?: () => boolean;
}

/** One listener's ACCEPTs and the connections they brought (see the file comment). */
export class Acceptor implements CompletionEndpoint, ListenerTransport {
  readonly mode = 'completion' as const;
  readonly fd: number;
  readonly id: number;
  readonly gen: number;
  detached = false;
  active = false;
  dirty = false;
  readonly stats: AcceptorStats = { accepted: 0, armed: 0, aborted: 0, capped: 0, errors: 0 };
  /** The peer address of the connection `take()` (or `accept()`) returned last. */
  acceptedAddress: Address = '';

  private readonly host: EndpointHost;
  private readonly nonblocking: boolean;
  private readonly acceptFlags: number;
  private readonly slotCount: number;
  private readonly queueCap: number;
  private region: Region | null;
  /** `region` as u32s: the socklen_t of each slot is written and read through it (no Buffer method call per connection). */
  private regionWords: Uint32Array;
  /** One single-shot ACCEPT per address slot (./operation.ts); kind KIND_ACCEPT_SLOT + slot. */
  private readonly ops: Operation[];
  /**
   * The slots with no ACCEPT armed, as a stack (`idleCount` of them): arming
   * takes from it instead of scanning every slot each time a connection
   * is accepted or taken.
   */
  private readonly idle: Int32Array;
  private idleCount: number;
  private armedCount = 0;
  private wanted = 0;
  // Accepted, not yet taken: fds and their addresses (reused queues, ../deque.ts: they empty at nearly every take).
  private readonly fds = new Deque<number>();
  private readonly addresses = new Deque<Address>();
  /** An error to hand over once the queue is empty (0: none). */
  private errno = 0;
  private readonly canAccept: (() => boolean) | null;
  /** `canAccept` said no: report READ so the handler looks. */
  private refused = false;

  constructor(host: EndpointHost, fd: number, id: number, gen: number, options: AcceptorOptions) {
    const slots = options.slots ?? DEFAULT_ACCEPT_SLOTS;
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_ACCEPT_SLOTS) {
      throw new RangeError(`slots must be an integer from 1 to ${MAX_ACCEPT_SLOTS}, got ${slots}`);
    }
    const queueCap = options.queueCap ?? DEFAULT_QUEUE_CAP;
    if (!Number.isInteger(queueCap) || queueCap < 1) throw new RangeError(`queueCap must be a positive integer, got ${queueCap}`);
    this.host = host;
    this.fd = fd;
    this.id = id;
    this.gen = gen;
    this.nonblocking = options.nonblocking;
    this.acceptFlags = SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
    this.slotCount = slots;
    this.queueCap = queueCap;
    this.canAccept = options.canAccept ?? null;
    this.ops = Array.from({ length: slots }, (_, slot) => new Operation(id, KIND_ACCEPT_SLOT + slot, gen));
    this.region = allocRegion(slots * SLOT_BYTES);
    this.regionWords = new Uint32Array(this.region.view.buffer, this.region.view.byteOffset, (slots * SLOT_BYTES) >>> 2);
    this.idle = new Int32Array(slots);
    this.idleCount = 0;
    this.allIdle();
  }

  /** Every slot idle, the lowest taken first. */
  private allIdle(): void {
    for (let slot = this.slotCount - 1; slot >= 0; slot--) this.idle[this.slotCount - 1 - slot] = slot;
    this.idleCount = this.slotCount;
  }

  /** Connections accepted and not yet taken. */
  queued(): number {
    return this.fds.length;
  }

  /** ACCEPTs in flight. */
  inFlightCount(): number {
    return this.armedCount;
  }

  // ------------------------------------------------------------ the endpoint (the poller's side)

  watch(events: number, _registered: boolean): void {
    this.wanted = events & READ;
    this.host.markDirty(this);
    this.host.markActive(this);
  }

  readyEvents(): number {
    return this.wanted & READ && (this.fds.length > 0 || this.errno !== 0 || this.refused) ? READ : 0;
  }

  reported(_events: number): void {
    // Level-triggered from the queue: nothing to re-arm for the report itself.
  }

  /** Arms every idle slot, while READ is watched, no error waits and the cap allows. */
  arm(): void {
    const region = this.region;
    if (this.detached || region === null || !(this.wanted & READ) || this.errno !== 0) return;
    if (this.canAccept !== null && !this.canAccept()) {
      this.refused = true;
      this.host.markActive(this);
      return;
    }
    const ring = this.host.ring;
    while (this.idleCount > 0) {
      if (this.queued() + this.armedCount >= this.queueCap) {
        this.stats.capped++;
        return;
      }
      const slot = this.idle[--this.idleCount]!;
      const op = this.ops[slot]!;
      const at = slot * SLOT_BYTES;
      this.regionWords[(at + SOCKADDR_ROOM) >>> 2] = SOCKADDR_ROOM; // socklen in: the room there is
      ring.accept(this.fd, this.acceptFlags, false, this.id, op.udHi, region.addr + at, region.addr + at + SOCKADDR_ROOM);
      op.start();
      this.armedCount++;
      this.stats.armed++;
    }
  }

  complete(kind: number, res: number, _flags: number): void {
    const slot = kind - KIND_ACCEPT_SLOT;
    const op = slot >= 0 && slot < this.slotCount ? this.ops[slot]! : null;
    if (op === null || !op.armed) return;
    op.finish();
    this.idle[this.idleCount++] = slot;
    this.armedCount--;
    if (this.detached) {
      // Completed before its cancel: nobody will take this connection.
      if (res >= 0) closeQuietly(res);
      if (this.armedCount === 0) this.freeSlots();
      return;
    }
    if (res >= 0) return this.accepted(slot, res);
    if (res === -E.ECANCELED) {
      this.host.markDirty(this);
    } else if (res === -E.ECONNABORTED) {
      this.stats.aborted++;
      this.host.markDirty(this);
    } else if (this.errno === 0) {
      this.errno = -res; // handed over by take(); slots stay idle until then
    }
  }

  private accepted(slot: number, fd: number): void {
    const view = this.region!.view;
    const at = slot * SLOT_BYTES;
    let address: Address;
    try {
      address = decodeSockaddr(view, at, this.regionWords[(at + SOCKADDR_ROOM) >>> 2]!);
    } catch (error) {
      closeQuietly(fd); // a family gale cannot describe: refuse it as accept(2) would fail
      if (this.errno === 0) this.errno = error instanceof OSError ? error.errno : E.EAFNOSUPPORT;
      return;
    }
    this.fds.push(fd);
    this.addresses.push(address);
    this.stats.accepted++;
    this.host.markDirty(this);
  }

  /** The fd is about to be closed: cancel the ACCEPTs, close what was not taken. */
  cancelForClose(): boolean {
    this.wanted = 0;
    this.closeQueued();
    this.errno = 0;
    const ring = this.host.ring;
    for (const op of this.ops) op.cancel(ring);
    if (this.armedCount === 0) this.freeSlots();
    return this.armedCount > 0;
  }

  inFlight(): boolean {
    return this.armedCount > 0;
  }

  /** The ring is gone (it cancelled everything first): drop the requests, close what was not taken. */
  abandon(): void {
    for (const op of this.ops) op.finish();
    this.allIdle();
    this.armedCount = 0;
    this.closeQueued();
    this.freeSlots();
  }

  // ------------------------------------------------------------ the handler's side

  /**
   * The transport contract's accept: what the ring accepted (`take`) while
   * the listener is watched; once unwatched (detached), accept4(2) itself,
   * for the retry a paused accept handler makes before watching again.
   */
  accept(): number {
    return this.detached ? acceptNow(this, this.fd, this.nonblocking) : this.take();
  }

  /**
   * The next accepted connection's fd (its address in `acceptedAddress`), or
   * -1 if none waits. Throws the OSError an ACCEPT failed with, once the
   * connections accepted before it are taken.
   */
  take(): number {
    if (this.fds.length > 0) {
      const fd = this.fds.shift()!; // length > 0: both hold one
      this.acceptedAddress = this.addresses.shift()!;
      if (this.armedCount < this.slotCount) this.host.markDirty(this);
      return fd;
    }
    if (this.errno !== 0) {
      const errno = this.errno;
      this.errno = 0;
      this.stats.errors++;
      this.host.markDirty(this);
      throw new OSError(errno, 'accept');
    }
    return -1;
  }

  /** Stops accepting before the listener is closed or unwatched (what `removeHandler` does too). */
  detach(): void {
    if (!this.detached) this.host.detach(this);
  }

  /** The transport contract's release: `detach`. */
  release(): void {
    this.detach();
  }

  private closeQueued(): void {
    for (let i = 0; i < this.fds.length; i++) closeQuietly(this.fds.at(i));
    this.fds.clear();
    this.addresses.clear();
  }

  private freeSlots(): void {
    if (this.region === null) return;
    freeRegion(this.region);
    this.region = null;
    this.regionWords = new Uint32Array(0);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeFd(fd);
  } catch { /* the fd is released on Linux whatever close(2) says */ }
}
