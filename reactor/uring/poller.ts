/**
 * The IOLoop's poller on an io_uring (`GALE_POLLER=uring`): Tornado's
 * level-triggered `add_handler`/`update_handler`/`remove_handler` semantics
 * with one `io_uring_enter` per loop iteration. Corresponds to Tornado's
 * `_EPoll` wrapper (tornado/platform/epoll.py), on a completion API.
 *
 * ## Level-triggered on one-shot polls
 * Each watched fd has at most one one-shot `POLL_ADD` in flight. When its CQE
 * arrives the fd is reported and marked dirty; the next `poll()` re-arms it
 * in the same submission batch as everything else, before it waits. A fd
 * that is still ready completes its new poll at once (the kernel checks
 * readiness when the poll is armed), so it is reported again: level
 * semantics, with no syscall per fd. `register`/`modify` only record what
 * is wanted and mark the fd dirty; the SQEs are written when `poll()` runs.
 *
 * ## Stale completions
 * `user_data` is (fd, generation). Every POLL_ADD takes a fresh generation
 * for its fd, and a CQE whose generation is not the fd's armed one (a poll
 * removed by `modify`/`unregister`, or from before the fd number was closed
 * and reused) is dropped.
 *
 * ## Why `unregister` makes a syscall
 * An armed poll holds a reference to the file: a socket closed while its
 * poll is armed stays open (no FIN reaches the peer) until the poll ends.
 * So `unregister` of an armed fd submits its POLL_REMOVE and runs the
 * deferred completions at once (one FFI call, as epoll_ctl(DEL) costs).
 *
 * ## Completion sockets
 * A stream socket can instead be attached (`attach`) as a completion socket
 * (./socket-transport.ts): it is never polled for READ; multishot RECV
 * completions (and SEND completions, with ring sends) feed its state, WRITE
 * is a one-shot POLLOUT, and `poll()` reports READ/WRITE for it from that
 * state, level-triggered, next to the polled fds. `user_data` is
 * (socket id, kind << 24 | generation) for those, (fd, POLL << 24 |
 * generation) for polls; internal requests (removes, cancels) carry 0.
 */
import { OSError, errno as E } from '../sys/errors.js';
import { genLog } from '../log.js';
import { ERROR, MAX_EVENTS, READ, WRITE, type Poller } from '../poller.js';
import { IORING_CQE_F_BUFFER, IORING_CQE_F_MORE, Ring, type RingOptions, type RingStats } from './ring.js';
import { ProvidedBuffers, SendSlots, type SendSlot } from './buffers.js';
import { CompletionSocket, type CompletionHost } from './socket-transport.js';

const REGISTERED = 0x40000000; // in `wanted`: the fd is registered (its mask may be 0)
const EVENT_MASK = 0xffff;
const POLLNVAL = 0x20;
const POLLOUT = 0x004;
const POLLERR = 0x008;
const POLLHUP = 0x010;
const MSG_WAITALL = 0x100;
const MSG_NOSIGNAL = 0x4000;

// user_data hi: kind << 24 | generation (24 bits; 0 is never a generation).
const GEN_MASK = 0xffffff;
const KIND_POLL = 1;
const KIND_RECV = 2;
const KIND_POLLOUT = 3;
const KIND_SEND = 4;

/** Provided buffers per ring: 64 × 64 KiB (4 MiB of address space, faulted in as used; a 64 KiB read fills one). */
const PBUF_ENTRIES = 64;
const PBUF_SIZE = 64 * 1024;
const PBUF_GROUP = 0;

/** Counters of the completion sockets' slow paths. */
export interface CompletionStats {
  /** RECVs re-armed after the buffer ring ran dry (ENOBUFS). */
  enobufs: number;
  /** Multishot RECVs that ended without an error or EOF (overflow, cancel) and were re-armed. */
  recvRearms: number;
  /** CQEs dropped because their socket or poll was gone (stale generation). */
  stale: number;
  /** Extra enters a direct read made to submit queued SQEs first. */
  directReadFlushes: number;
  /** SENDs the kernel completed short and that were re-submitted for the rest (ring sends). */
  shortSends: number;
}

/** Options of the uring poller: the ring's, and the provided buffers' (a power of two of them). */
export interface URingPollerOptions extends RingOptions {
  bufferCount?: number;
  bufferSize?: number;
}

function nextGen(gen: number): number {
  const next = (gen + 1) & GEN_MASK;
  return next === 0 ? 1 : next;
}

/** The io_uring poller. */
export class URingPoller implements Poller, CompletionHost {
  readonly name = 'uring' as const;
  readonly readyFds = new Int32Array(MAX_EVENTS);
  readonly readyEvents = new Int32Array(MAX_EVENTS);
  private readonly ring: Ring;
  // Per fd, indexed by fd number (grown on demand):
  private wanted = new Int32Array(64); // REGISTERED | events, or 0
  private armedGen = new Uint32Array(64); // user_data hi of the poll in flight, 0: none
  private armedMask = new Int32Array(64); // the events that poll watches
  private lastGen = new Uint32Array(64); // the fd's last generation (kept across reuse)
  private isDirty = new Uint8Array(64);
  private dirty = new Int32Array(64); // fds whose poll must be (re)armed or changed
  private ndirty = 0;
  // Completion sockets: by id (user_data lo) and by fd while attached.
  private readonly sockets: Array<CompletionSocket | undefined> = [];
  private readonly socketGens: number[] = [];
  private readonly freeIds: number[] = [];
  private readonly socketByFd: Array<CompletionSocket | undefined> = [];
  private readonly dirtySockets: CompletionSocket[] = [];
  private activeSockets: CompletionSocket[] = [];
  private spareActive: CompletionSocket[] = [];
  private buffers: ProvidedBuffers | null = null;
  private buffersFailed = false;
  private readonly slots = new SendSlots();
  readonly completionStats: CompletionStats = { enobufs: 0, recvRearms: 0, stale: 0, directReadFlushes: 0, shortSends: 0 };

  private readonly bufferCount: number;
  private readonly bufferSize: number;

  constructor(options: URingPollerOptions = {}) {
    this.ring = new Ring(options);
    this.bufferCount = options.bufferCount ?? PBUF_ENTRIES;
    this.bufferSize = options.bufferSize ?? PBUF_SIZE;
  }

  /**
   * Attaches `fd` (a connected or connecting stream socket) as a completion
   * socket, or returns null where it cannot be (the fd is already polled,
   * or the kernel has no buffer rings): the caller then uses readiness.
   */
  attach(fd: number, eofIsHangup: boolean, ringSends = false): CompletionSocket | null {
    if (this.ring.fd < 0 || fd < 0) return null;
    const existing = this.socketByFd[fd];
    if (existing !== undefined) return existing;
    if (fd < this.wanted.length && this.wanted[fd]! & REGISTERED) return null;
    if (this.buffers === null) {
      if (this.buffersFailed) return null;
      try {
        this.buffers = new ProvidedBuffers(this.ring, PBUF_GROUP, this.bufferCount, this.bufferSize);
      } catch (error) {
        this.buffersFailed = true;
        genLog.warn(`io_uring: no provided-buffer ring (${(error as Error).message}); streams use readiness`);
        return null;
      }
    }
    const id = this.freeIds.length ? this.freeIds.pop()! : this.sockets.length;
    const gen = nextGen(this.socketGens[id] ?? 0);
    this.socketGens[id] = gen;
    const socket = new CompletionSocket(this, fd, id, gen, eofIsHangup);
    socket.ringSends = ringSends;
    this.sockets[id] = socket;
    this.socketByFd[fd] = socket;
    return socket;
  }

  /** How many completion sockets hold an id (attached, or detached with requests in flight). */
  socketCount(): number {
    return this.sockets.length - this.freeIds.length;
  }

  /** The ring's fd. */
  fileno(): number {
    return this.ring.fd;
  }

  /** The ring's slow-path counters (enters, SQ-full flushes, CQ overflows). */
  ringStats(): RingStats {
    return { ...this.ring.stats };
  }

  register(fd: number, events: number): void {
    if (this.ring.fd < 0) throw new OSError(E.EBADF, 'io_uring_enter');
    if (fd < 0) throw new OSError(E.EBADF, 'poll_add');
    const socket = this.socketByFd[fd];
    if (socket !== undefined) return this.watch(socket, events, true);
    this.ensureCapacity(fd);
    if (this.wanted[fd]! & REGISTERED) throw new OSError(E.EEXIST, 'poll_add');
    this.wanted[fd] = REGISTERED | (events & EVENT_MASK);
    this.markFdDirty(fd);
  }

  modify(fd: number, events: number): void {
    if (this.ring.fd < 0) throw new OSError(E.EBADF, 'io_uring_enter');
    const socket = fd >= 0 ? this.socketByFd[fd] : undefined;
    if (socket !== undefined) return this.watch(socket, events, true);
    if (fd < 0 || fd >= this.wanted.length || !(this.wanted[fd]! & REGISTERED)) throw new OSError(E.ENOENT, 'poll_update');
    this.wanted[fd] = REGISTERED | (events & EVENT_MASK);
    this.markFdDirty(fd);
  }

  unregister(fd: number): void {
    if (this.ring.fd < 0 || fd < 0) return;
    // A stream removes its fd only to close it or to hand it over (startTls):
    // either way the ring must stop reading it now.
    const socket = this.socketByFd[fd];
    if (socket !== undefined) return this.detach(socket);
    if (fd >= this.wanted.length) return;
    this.wanted[fd] = 0;
    const gen = this.armedGen[fd]!;
    if (gen === 0) return; // nothing in flight (it completed and was not re-armed yet)
    this.armedGen[fd] = 0;
    this.ring.pollRemove(fd, (KIND_POLL << 24) | gen);
    this.ring.flush();
  }

  poll(timeoutMs: number): number {
    const ring = this.ring;
    if (ring.fd < 0) throw new OSError(E.EBADF, 'io_uring_enter');
    this.armDirty();
    this.armDirtySockets();
    if (timeoutMs !== 0 && this.anySocketReady()) timeoutMs = 0;
    const uninterrupted = ring.submitAndWait(timeoutMs, MAX_EVENTS);
    let n = this.harvest();
    n = this.reportSockets(n);
    return uninterrupted || n > 0 ? n : 0;
  }

  /** Cancels every request, unmaps the rings and buffers, closes the ring fd. */
  close(): void {
    if (this.ring.fd < 0) return;
    this.ring.close();
    this.buffers?.unmap();
    this.buffers = null;
    this.slots.freeAll();
    for (const socket of this.sockets) {
      if (socket === undefined) continue;
      socket.detached = true;
      socket.recvArmed = socket.pollOutArmed = false;
      socket.sendSlot = null;
      socket.dropReceived();
    }
    this.sockets.length = 0;
    this.freeIds.length = 0;
    this.socketByFd.length = 0;
    this.dirtySockets.length = 0;
    this.activeSockets.length = 0;
    this.ndirty = 0;
  }

  // ------------------------------------------------------------ completion sockets

  private watch(socket: CompletionSocket, events: number, registered: boolean): void {
    socket.wanted = events & (READ | WRITE);
    socket.registered = registered;
    this.markDirty(socket);
    this.markActive(socket);
  }

  /** CompletionHost: re-examine this socket's requests before the next enter. */
  markDirty(socket: CompletionSocket): void {
    if (socket.dirty) return;
    socket.dirty = true;
    this.dirtySockets.push(socket);
  }

  /** CompletionHost: this socket may be ready. */
  markActive(socket: CompletionSocket): void {
    if (socket.active) return;
    socket.active = true;
    this.activeSockets.push(socket);
  }

  /** CompletionHost: a send slot. */
  sendSlot(length: number): SendSlot {
    return this.slots.get(length);
  }

  /** CompletionHost: queue the SEND of what is left of the socket's slot. */
  submitSend(socket: CompletionSocket): void {
    const slot = socket.sendSlot!;
    this.ring.send(socket.fd, slot.addr + socket.sendOffset, socket.sendLength - socket.sendOffset,
      MSG_NOSIGNAL | MSG_WAITALL, socket.id, (KIND_SEND << 24) | socket.gen);
  }

  /** CompletionHost: see CompletionHost.mayReadDirectly (one extra enter only if SQEs are queued). */
  mayReadDirectly(socket: CompletionSocket): boolean {
    const ring = this.ring;
    if (ring.fd < 0) return false;
    if (ring.pending() > 0) {
      this.completionStats.directReadFlushes++;
      ring.flush();
    }
    const waiting = ring.cqReady();
    if (waiting === 0) return true;
    const cqes = ring.cqes;
    const hi = (KIND_RECV << 24) | socket.gen;
    for (let i = 0, head = ring.cqHeadValue(); i < waiting; i++, head = (head + 1) >>> 0) {
      const at = ring.cqeBase + (head & ring.cqMask) * 4;
      if (cqes[at] === socket.id && cqes[at + 1]! >>> 0 === hi) return false;
    }
    return true;
  }

  /**
   * CompletionHost: the stream is about to close the fd. An armed RECV or
   * POLLOUT holds a reference to the file (a socket closed under it would
   * stay open, no FIN for the peer), so both are cancelled and submitted at
   * once, with the deferred completions run: one FFI call, as epoll_ctl(DEL)
   * costs on epoll. Their CQEs free the socket's id later; until then its
   * generation keeps them apart from a new socket on the same fd number.
   */
  detach(socket: CompletionSocket): void {
    if (socket.detached) return;
    socket.detached = true;
    socket.wanted = 0;
    socket.registered = false;
    socket.dropReceived();
    if (this.socketByFd[socket.fd] === socket) this.socketByFd[socket.fd] = undefined;
    if (this.ring.fd < 0) return;
    let cancelled = false;
    if (socket.recvArmed && !socket.recvCancelling) {
      this.ring.cancel(socket.id, (KIND_RECV << 24) | socket.gen);
      socket.recvCancelling = true;
      cancelled = true;
    }
    if (socket.pollOutArmed) {
      this.ring.pollRemove(socket.id, (KIND_POLLOUT << 24) | socket.gen);
      cancelled = true;
    }
    // A SEND still queued must reach the kernel before the fd is closed.
    if (cancelled || socket.recvCancelling || this.ring.pending() > 0) this.ring.flush();
    this.maybeFree(socket);
  }

  private maybeFree(socket: CompletionSocket): void {
    if (!socket.detached || socket.recvArmed || socket.pollOutArmed || socket.sendSlot !== null) return;
    if (this.sockets[socket.id] !== socket) return;
    this.sockets[socket.id] = undefined;
    this.freeIds.push(socket.id);
  }

  /** Writes the RECV/POLLOUT/cancel SQEs that bring dirty sockets in line with their state. */
  private armDirtySockets(): void {
    const list = this.dirtySockets;
    const ring = this.ring;
    for (let i = 0; i < list.length; i++) {
      const socket = list[i]!;
      socket.dirty = false;
      if (socket.detached) continue;
      if (socket.wantsPollOut()) {
        // Level-triggered WRITE: what the last POLLOUT reported is dropped
        // and asked again (a still-writable socket completes at once).
        socket.writeReady = false;
        socket.pendingError = 0;
        ring.pollAdd(socket.fd, POLLOUT, socket.id, (KIND_POLLOUT << 24) | socket.gen);
        socket.pollOutArmed = true;
      }
      const want = socket.wantsRecv();
      if (want && !socket.recvArmed) {
        ring.recvMultishot(socket.fd, PBUF_GROUP, socket.id, (KIND_RECV << 24) | socket.gen);
        socket.recvArmed = true;
      } else if (!want && socket.recvArmed && !socket.recvCancelling) {
        ring.cancel(socket.id, (KIND_RECV << 24) | socket.gen);
        socket.recvCancelling = true;
      }
    }
    list.length = 0;
  }

  private anySocketReady(): boolean {
    const list = this.activeSockets;
    for (let i = 0; i < list.length; i++) if (list[i]!.readyEvents() !== 0) return true;
    return false;
  }

  /** Appends the ready completion sockets to the ready list after `n` polled fds. */
  private reportSockets(n: number): number {
    const list = this.activeSockets;
    const keep = this.spareActive;
    for (let i = 0; i < list.length; i++) {
      const socket = list[i]!;
      const events = socket.detached ? 0 : socket.readyEvents();
      if (events === 0 || n >= MAX_EVENTS) {
        if (events === 0) socket.active = false;
        else keep.push(socket);
        continue;
      }
      if (events & WRITE) this.markDirty(socket); // re-armed at the next poll
      this.readyFds[n] = socket.fd;
      this.readyEvents[n] = events;
      n++;
      keep.push(socket); // level-triggered: looked at again next time
    }
    list.length = 0;
    this.activeSockets = keep;
    this.spareActive = list;
    return n;
  }

  /** One CQE of a completion socket. */
  private completeSocket(kind: number, id: number, gen: number, res: number, flags: number): void {
    const socket = this.sockets[id];
    const buffers = this.buffers;
    if (socket === undefined || socket.gen !== gen) {
      this.completionStats.stale++;
      if (flags & IORING_CQE_F_BUFFER && buffers !== null) buffers.giveBack(flags >>> 16);
      return;
    }
    switch (kind) {
      case KIND_RECV: {
        if (flags & IORING_CQE_F_BUFFER && buffers !== null) {
          const bid = flags >>> 16;
          if (res > 0 && !socket.detached) {
            socket.received(buffers.take(bid, res));
            // Nobody reads and HIGH_WATER is reached: cancel it at the next enter (flow control).
            if (!socket.wantsRecv()) this.markDirty(socket);
          } else {
            buffers.giveBack(bid);
          }
        }
        if (res === 0) socket.eof = true;
        else if (res < 0) {
          if (res === -E.ENOBUFS) this.completionStats.enobufs++;
          else if (res !== -E.ECANCELED && !socket.detached) socket.readErrno = -res;
        }
        if (!(flags & IORING_CQE_F_MORE)) {
          socket.recvArmed = false;
          socket.recvCancelling = false;
          if (res > 0) this.completionStats.recvRearms++;
          this.markDirty(socket);
        }
        break;
      }
      case KIND_SEND: {
        const slot = socket.sendSlot;
        if (slot === null) break;
        if (res > 0 && socket.sendOffset + res < socket.sendLength) {
          socket.sendOffset += res;
          this.completionStats.shortSends++;
          this.submitSend(socket);
          return;
        }
        if (res <= 0) {
          if (!socket.detached) socket.writeErrno = res < 0 ? -res : E.EPIPE;
        } else {
          socket.sendDone += socket.sendLength;
        }
        socket.sendSlot = null;
        this.slots.put(slot);
        break;
      }
      case KIND_POLLOUT: {
        socket.pollOutArmed = false;
        if (res === -E.ECANCELED || socket.detached) break;
        socket.connected = true;
        socket.writeReady = true;
        if (res < 0 || res & (POLLERR | POLLHUP)) socket.pendingError = ERROR;
        this.markDirty(socket); // a connect that is over lets the RECV be armed
        break;
      }
    }
    if (socket.detached) this.maybeFree(socket);
    else this.markActive(socket);
  }

  /** Writes the SQEs that bring every dirty fd's in-flight poll in line with what is wanted. */
  private armDirty(): void {
    const ring = this.ring;
    const dirty = this.dirty;
    for (let i = 0; i < this.ndirty; i++) {
      const fd = dirty[i]!;
      this.isDirty[fd] = 0;
      const wanted = this.wanted[fd]!;
      const mask = wanted & EVENT_MASK;
      const armed = this.armedGen[fd]!;
      if (armed !== 0) {
        if (wanted !== 0 && this.armedMask[fd] === mask) continue; // already watching this
        ring.pollRemove(fd, (KIND_POLL << 24) | armed);
        this.armedGen[fd] = 0;
      }
      if (wanted === 0) continue;
      const gen = nextGen(this.lastGen[fd]!);
      this.lastGen[fd] = gen;
      this.armedGen[fd] = gen;
      this.armedMask[fd] = mask;
      ring.pollAdd(fd, mask, fd, (KIND_POLL << 24) | gen);
    }
    this.ndirty = 0;
  }

  /** Reads CQEs into readyFds/readyEvents (at most MAX_EVENTS; the rest wait in the CQ). */
  private harvest(): number {
    const ring = this.ring;
    const cqes = ring.cqes;
    const base = ring.cqeBase;
    const mask = ring.cqMask;
    let head = ring.cqHeadValue();
    const available = ring.cqReady();
    let n = 0;
    for (let i = 0; i < available && n < MAX_EVENTS; i++, head = (head + 1) >>> 0) {
      const at = base + (head & mask) * 4;
      const fd = cqes[at]!;
      const hi = cqes[at + 1]! >>> 0;
      const res = cqes[at + 2]!;
      const kind = hi >>> 24;
      if (kind !== KIND_POLL) {
        if (kind !== 0) this.completeSocket(kind, fd, hi & GEN_MASK, res, cqes[at + 3]! >>> 0);
        continue;
      }
      const gen = hi & GEN_MASK;
      if (fd < 0 || fd >= this.armedGen.length || this.armedGen[fd] !== gen) continue; // stale
      this.armedGen[fd] = 0;
      if (this.wanted[fd]! & REGISTERED) this.markFdDirty(fd); // re-arm in the next batch
      let events: number;
      if (res < 0) {
        if (res === -E.ECANCELED) continue;
        events = ERROR; // the poll itself failed: let the handler find out why
      } else {
        events = res & (this.armedMask[fd]! | ERROR);
        if (res & POLLNVAL) events |= ERROR;
        if (events === 0) continue;
      }
      this.readyFds[n] = fd;
      this.readyEvents[n] = events;
      n++;
    }
    ring.setCqHead(head);
    return n;
  }

  private markFdDirty(fd: number): void {
    if (this.isDirty[fd]) return;
    this.isDirty[fd] = 1;
    if (this.ndirty === this.dirty.length) {
      const grown = new Int32Array(this.dirty.length * 2);
      grown.set(this.dirty);
      this.dirty = grown;
    }
    this.dirty[this.ndirty++] = fd;
  }

  private ensureCapacity(fd: number): void {
    if (fd < this.wanted.length) return;
    let size = this.wanted.length;
    while (size <= fd) size *= 2;
    const grow = <T extends Int32Array | Uint32Array | Uint8Array>(old: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.wanted = grow(this.wanted, (k) => new Int32Array(k));
    this.armedGen = grow(this.armedGen, (k) => new Uint32Array(k));
    this.armedMask = grow(this.armedMask, (k) => new Int32Array(k));
    this.lastGen = grow(this.lastGen, (k) => new Uint32Array(k));
    this.isDirty = grow(this.isDirty, (k) => new Uint8Array(k));
  }
}
