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
 * ## Completion endpoints
 * A fd can instead be attached as a completion endpoint (./endpoint.ts: a
 * stream socket's transport, ./socket-transport.ts): it is never polled;
 * its own requests (multishot RECV, SEND, …) feed its state, and `poll()`
 * reports READ/WRITE for it from that state, level-triggered, next to the
 * polled fds. The poller keeps the table of endpoints by id and by fd,
 * arms the dirty ones before the enter and routes their CQEs; what a CQE
 * means is the endpoint's business. `user_data` is (endpoint id,
 * kind << 24 | generation) for those, (fd, KIND_POLL << 24 | generation)
 * for polls; internal requests (removes, cancels) carry 0.
 */
import { OSError, errno as E } from '../sys/errors.js';
import { POLLNVAL } from '../sys/constants.js';
import { genLog } from '../log.js';
import { ERROR, MAX_EVENTS, type Poller } from '../poller.js';
import { resolveURing, type URingConfig } from '../loop-options.js';
import type { TransportTimers } from '../transport.js';
import { URingTransports } from './transports.js';
import { TASKRUN_BATCH, planRingWait, type RingWaitFacts, type RingWaitPlan } from '../wait-plan.js';
import { IORING_CQE_F_BUFFER, Ring, type RingOptions, type RingStats } from './ring.js';
import { ProvidedBuffers } from './provided-buffers.js';
import { SendBudget, SendSlots } from './send-memory.js';
import { CompletionSocket, type CompletionStats, type SocketHost } from './socket-transport.js';
import {
  GEN_MASK, KIND_ACCEPT_SLOT, KIND_CLOSE, KIND_CONNECT, KIND_POLL, KIND_POLLOUT, KIND_READ, KIND_RECV, KIND_SEND, nextGen,
  type CompletionEndpoint,
} from './endpoint.js';

const REGISTERED = 0x40000000; // in `wanted`: the fd is registered (its mask may be 0)
const EVENT_MASK = 0xffff;

/** Provided buffers per ring: 64 × 64 KiB (4 MiB of address space, faulted in as used; a 64 KiB read fills one). */
const PBUF_ENTRIES = 64;
const PBUF_SIZE = 64 * 1024;
const PBUF_GROUP = 0;


/** Options of the uring poller: the ring's, the provided buffers' (a power of two of them), the loop's. */
export interface URingPollerOptions extends RingOptions {
  bufferCount?: number;
  bufferSize?: number;
  /** Bytes all the ring's send buffers may hold together (default: `uring.sendBudget`; see SendBudget). */
  sendBudget?: number;
  /** The loop's uring options (default: from the environment, ../loop-options.ts). */
  uring?: URingConfig;
}

/** The io_uring poller. */
export class URingPoller implements Poller, SocketHost {
  readonly name = 'uring' as const;
  readonly readyFds = new Int32Array(MAX_EVENTS);
  readonly readyEvents = new Int32Array(MAX_EVENTS);
  /** SocketHost: the ring. */
  readonly ring: Ring;
  // Per polled fd, indexed by fd number (grown on demand):
  private wanted = new Int32Array(64); // REGISTERED | events, or 0
  private armedGen = new Uint32Array(64); // user_data hi of the poll in flight, 0: none
  private armedMask = new Int32Array(64); // the events that poll watches
  private lastGen = new Uint32Array(64); // the fd's last generation (kept across reuse)
  private isDirty = new Uint8Array(64);
  private dirty = new Int32Array(64); // fds whose poll must be (re)armed or changed
  private ndirty = 0;
  // Completion endpoints: by id (user_data lo) and by fd while attached.
  private readonly endpoints: Array<CompletionEndpoint | undefined> = [];
  private readonly endpointGens: number[] = [];
  private readonly freeIds: number[] = [];
  private readonly endpointByFd: Array<CompletionEndpoint | undefined> = [];
  private readonly dirtyEndpoints: CompletionEndpoint[] = [];
  private activeEndpoints: CompletionEndpoint[] = [];
  private spareActive: CompletionEndpoint[] = [];
  private buffers: ProvidedBuffers | null = null;
  private buffersFailed = false;
  /** SocketHost: native memory SENDs are made from. */
  readonly slots = new SendSlots();
  /** SocketHost: the cap on bytes all send buffers of this ring hold together. */
  readonly sendBudget: SendBudget;
  /** SocketHost: counters of the completion sockets' slow paths. */
  readonly completionStats: CompletionStats = {
    enobufs: 0, recvRearms: 0, stale: 0, directReadFlushes: 0, shortSends: 0, ringCloses: 0, lingerCloses: 0, lingering: 0, lingerAborts: 0,
  };

  /** The loop's uring options (which transports streams and listeners get). */
  readonly config: URingConfig;
  /** The transports this loop hands out (../transport.ts). */
  readonly transports: URingTransports;

  private trace: PollTrace | null = null;

  /** Non-blocking polls that made no enter (the wait plan's rule 6). */
  deferredEnters = 0;
  private deferredLast = false;
  // The wait plan's inputs and output, reused (planning allocates nothing).
  private readonly waitFacts: RingWaitFacts = {
    endpointReady: false, armedNow: false, completed: false, cqesPosted: false, skippedLast: false, backlog: false,
  };
  private readonly waitPlan: RingWaitPlan = { skip: false, minComplete: 0, timeoutMs: null };

  private readonly bufferCount: number;
  private readonly bufferSize: number;

  constructor(options: URingPollerOptions = {}) {
    this.config = options.uring ?? resolveURing();
    this.ring = new Ring(options);
    this.bufferCount = options.bufferCount ?? PBUF_ENTRIES;
    this.bufferSize = options.bufferSize ?? PBUF_SIZE;
    this.sendBudget = new SendBudget(options.sendBudget ?? this.config.sendBudget);
    this.transports = new URingTransports(this, this.config);
  }

  /**
   * Attaches `fd` (a connected or connecting stream socket) as a completion
   * socket, or returns null where it cannot be (the fd is already polled,
   * or the kernel has no buffer rings): the caller then uses readiness.
   */
  attach(fd: number, eofIsHangup: boolean, ringSends = false, timers: TransportTimers | null = null): CompletionSocket | null {
    const existing = fd >= 0 ? this.endpointByFd[fd] : undefined;
    if (existing !== undefined) return existing instanceof CompletionSocket ? existing : null;
    if (this.providedBuffers() === null) return null;
    return this.attachEndpoint(fd, (id, gen) => new CompletionSocket(this, fd, id, gen, eofIsHangup, ringSends, timers));
  }

  /**
   * Attaches `fd` as the endpoint `make` builds with its id and generation,
   * or returns null if the ring is closed or `fd` is polled or attached
   * already.
   */
  attachEndpoint<T extends CompletionEndpoint>(fd: number, make: (id: number, gen: number) => T): T | null {
    if (this.ring.fd < 0 || fd < 0) return null;
    if (this.endpointByFd[fd] !== undefined) return null;
    if (fd < this.wanted.length && this.wanted[fd]! & REGISTERED) return null;
    const id = this.freeIds.length ? this.freeIds.pop()! : this.endpoints.length;
    const gen = nextGen(this.endpointGens[id] ?? 0);
    this.endpointGens[id] = gen;
    const endpoint = make(id, gen);
    this.endpoints[id] = endpoint;
    this.endpointByFd[fd] = endpoint;
    return endpoint;
  }

  /** SocketHost: the ring's provided buffers (made on first use), or null where the kernel has none. */
  providedBuffers(): ProvidedBuffers | null {
    if (this.buffers !== null || this.buffersFailed || this.ring.fd < 0) return this.buffers;
    try {
      this.buffers = new ProvidedBuffers(this.ring, PBUF_GROUP, this.bufferCount, this.bufferSize);
    } catch (error) {
      this.buffersFailed = true;
      genLog.warn(`io_uring: no provided-buffer ring (${(error as Error).message}); streams use readiness`);
    }
    return this.buffers;
  }

  /** How many endpoints hold an id (attached, or detached with requests in flight). */
  socketCount(): number {
    return this.endpoints.length - this.freeIds.length;
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
    const endpoint = this.endpointByFd[fd];
    if (endpoint !== undefined) return endpoint.watch(events, true);
    this.ensureCapacity(fd);
    if (this.wanted[fd]! & REGISTERED) throw new OSError(E.EEXIST, 'poll_add');
    this.wanted[fd] = REGISTERED | (events & EVENT_MASK);
    this.markFdDirty(fd);
  }

  modify(fd: number, events: number): void {
    if (this.ring.fd < 0) throw new OSError(E.EBADF, 'io_uring_enter');
    const endpoint = fd >= 0 ? this.endpointByFd[fd] : undefined;
    if (endpoint !== undefined) return endpoint.watch(events, true);
    if (fd < 0 || fd >= this.wanted.length || !(this.wanted[fd]! & REGISTERED)) throw new OSError(E.ENOENT, 'poll_update');
    this.wanted[fd] = REGISTERED | (events & EVENT_MASK);
    this.markFdDirty(fd);
  }

  unregister(fd: number): void {
    if (this.ring.fd < 0 || fd < 0) return;
    // A stream removes its fd only to close it or to hand it over (startTls):
    // either way the ring must stop using it now.
    const endpoint = this.endpointByFd[fd];
    if (endpoint !== undefined) return this.detach(endpoint);
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
    const queuedBefore = ring.pending();
    this.armDirty();
    this.armDirtyEndpoints();
    // The wait plan's rules 5–8 (../wait-plan.ts) on the loop's timeout.
    const facts = this.waitFacts;
    const posted = ring.cqReady() !== 0;
    facts.endpointReady = timeoutMs !== 0 && this.anyEndpointReady();
    facts.armedNow = ring.pending() !== queuedBefore;
    facts.cqesPosted = posted;
    facts.completed = posted || ring.taskWorkPending();
    facts.skippedLast = this.deferredLast;
    const plan = this.waitPlan;
    planRingWait(plan, timeoutMs, facts, MAX_EVENTS);
    this.deferredLast = plan.skip;
    const trace = this.trace;
    if (trace !== null) trace.start(plan.skip, ring.pending());
    if (plan.skip) {
      this.deferredEnters++;
      return this.reportEndpoints(0);
    }
    const uninterrupted = ring.submitAndWait(plan.minComplete, plan.timeoutMs);
    facts.backlog = ring.cqReady() >= TASKRUN_BATCH;
    let n = this.harvest();
    n = this.reportEndpoints(n);
    return uninterrupted || n > 0 ? n : 0;
  }

  /** Trace mode: count what each poll submits and completes (see `traceLastPoll`). */
  traceOn(): void {
    this.trace ??= new PollTrace();
  }

  /** Trace mode: the last poll's enter, SQEs and CQEs by kind, in words. */
  traceLastPoll(): string | null {
    return this.trace?.describe() ?? null;
  }

  /** Submits the SQEs written since the last enter, if any (the loop stops: they must not wait for it). */
  submitPending(): void {
    if (this.ring.fd >= 0 && this.ring.pending() > 0) this.ring.flush();
  }

  /** Cancels every request, unmaps the rings and buffers, closes the ring fd. */
  close(): void {
    if (this.ring.fd < 0) return;
    this.ring.close();
    for (const endpoint of this.endpoints) {
      if (endpoint === undefined) continue;
      endpoint.detached = true;
      endpoint.abandon();
    }
    this.buffers?.unmap();
    this.buffers = null;
    this.slots.freeAll();
    this.endpoints.length = 0;
    this.freeIds.length = 0;
    this.endpointByFd.length = 0;
    this.dirtyEndpoints.length = 0;
    this.activeEndpoints.length = 0;
    this.ndirty = 0;
  }

  // ------------------------------------------------------------ completion endpoints

  /** EndpointHost: arm this endpoint's requests before the next enter. */
  markDirty(endpoint: CompletionEndpoint): void {
    if (endpoint.dirty) return;
    endpoint.dirty = true;
    this.dirtyEndpoints.push(endpoint);
  }

  /** EndpointHost: this endpoint may be ready. */
  markActive(endpoint: CompletionEndpoint): void {
    if (endpoint.active) return;
    endpoint.active = true;
    this.activeEndpoints.push(endpoint);
  }

  /** EndpointHost: see EndpointHost.completionWaiting (one extra enter only if SQEs are queued). */
  completionWaiting(endpoint: CompletionEndpoint, kind: number): boolean {
    const ring = this.ring;
    if (ring.fd < 0) return false;
    if (ring.pending() > 0) {
      this.completionStats.directReadFlushes++;
      ring.flush();
    }
    return ring.hasCqe(endpoint.id, (kind << 24) | endpoint.gen);
  }

  /**
   * EndpointHost: the endpoint's fd is about to be closed. A request in
   * flight holds a reference to the file (a socket closed under it would
   * stay open, no FIN for the peer), so the endpoint's cancels are submitted
   * at once, with the deferred completions run: one FFI call, as
   * epoll_ctl(DEL) costs on epoll. Their CQEs free the id later; until then
   * its generation keeps them apart from a new endpoint on the same fd.
   */
  detach(endpoint: CompletionEndpoint): void {
    if (endpoint.detached) return;
    endpoint.detached = true;
    if (this.endpointByFd[endpoint.fd] === endpoint) this.endpointByFd[endpoint.fd] = undefined;
    if (this.ring.fd < 0) return;
    if (endpoint.cancelForClose() || this.ring.pending() > 0) this.ring.flush();
    this.maybeFree(endpoint);
  }

  private maybeFree(endpoint: CompletionEndpoint): void {
    if (!endpoint.detached || endpoint.inFlight()) return;
    if (this.endpoints[endpoint.id] !== endpoint) return;
    this.endpoints[endpoint.id] = undefined;
    this.freeIds.push(endpoint.id);
  }

  /** Lets every dirty endpoint write its SQEs. */
  private armDirtyEndpoints(): void {
    const list = this.dirtyEndpoints;
    for (let i = 0; i < list.length; i++) {
      const endpoint = list[i]!;
      endpoint.dirty = false;
      if (!endpoint.detached) endpoint.arm();
    }
    list.length = 0;
  }

  private anyEndpointReady(): boolean {
    const list = this.activeEndpoints;
    for (let i = 0; i < list.length; i++) if (list[i]!.readyEvents() !== 0) return true;
    return false;
  }

  /** Appends the ready endpoints to the ready list after `n` polled fds. */
  private reportEndpoints(n: number): number {
    const list = this.activeEndpoints;
    const keep = this.spareActive;
    for (let i = 0; i < list.length; i++) {
      const endpoint = list[i]!;
      const events = endpoint.detached ? 0 : endpoint.readyEvents();
      if (events === 0 || n >= MAX_EVENTS) {
        if (events === 0) endpoint.active = false;
        else keep.push(endpoint);
        continue;
      }
      endpoint.reported(events);
      if (this.trace !== null) this.trace.endpointsReported++;
      this.readyFds[n] = endpoint.fd;
      this.readyEvents[n] = events;
      n++;
      keep.push(endpoint); // level-triggered: looked at again next time
    }
    list.length = 0;
    this.activeEndpoints = keep;
    this.spareActive = list;
    return n;
  }

  /** One CQE of an endpoint: dropped if stale, else the endpoint's to interpret. */
  private completeEndpoint(kind: number, id: number, gen: number, res: number, flags: number): void {
    const endpoint = this.endpoints[id];
    if (endpoint === undefined || endpoint.gen !== gen) {
      this.completionStats.stale++;
      // A provided buffer a stale RECV took must still go back to the ring.
      if (flags & IORING_CQE_F_BUFFER && this.buffers !== null) this.buffers.giveBack(flags >>> 16);
      return;
    }
    endpoint.complete(kind, res, flags);
    if (endpoint.detached) this.maybeFree(endpoint);
    else this.markActive(endpoint);
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
    this.nready = 0;
    this.ring.forEachCqe(this.routeCqe);
    return this.nready;
  }

  private nready = 0; // ready fds harvest() has written so far

  /**
   * One CQE: an endpoint's goes to it, a poll's reports its fd (unless
   * stale), internal ones (removes, cancels) are dropped. Returns false,
   * leaving the CQE in the CQ, once the ready list is full.
   */
  private readonly routeCqe = (udLo: number, udHi: number, res: number, flags: number): boolean => {
    let n = this.nready;
    if (n >= MAX_EVENTS) return false;
    const kind = udHi >>> 24;
    if (this.trace !== null) this.trace.cqe(kind);
    if (kind !== KIND_POLL) {
      if (kind !== 0) this.completeEndpoint(kind, udLo, udHi & GEN_MASK, res, flags);
      return true;
    }
    const fd = udLo;
    const gen = udHi & GEN_MASK;
    if (fd < 0 || fd >= this.armedGen.length || this.armedGen[fd] !== gen) return true; // stale
    this.armedGen[fd] = 0;
    if (this.wanted[fd]! & REGISTERED) this.markFdDirty(fd); // re-arm in the next batch
    let events: number;
    if (res < 0) {
      if (res === -E.ECANCELED) return true;
      events = ERROR; // the poll itself failed: let the handler find out why
    } else {
      events = res & (this.armedMask[fd]! | ERROR);
      if (res & POLLNVAL) events |= ERROR;
      if (events === 0) return true;
    }
    this.readyFds[n] = fd;
    this.readyEvents[n] = events;
    this.nready = ++n;
    return true;
  };

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

/** Names of the request kinds in user_data (./endpoint.ts), for trace mode. */
const KIND_NAMES: Record<number, string> = {
  0: 'cancel', [KIND_POLL]: 'POLL_ADD', [KIND_RECV]: 'RECV', [KIND_POLLOUT]: 'POLLOUT', [KIND_SEND]: 'SEND',
  [KIND_CLOSE]: 'CLOSE', [KIND_CONNECT]: 'CONNECT', [KIND_READ]: 'READ', [KIND_ACCEPT_SLOT]: 'ACCEPT',
};

/** What one poll did below the readiness it reported (trace mode only). */
class PollTrace {
  private skipped = false;
  private submitted = 0;
  private readonly kinds = new Uint32Array(KIND_ACCEPT_SLOT + 1);
  endpointsReported = 0;

  start(skipped: boolean, submitted: number): void {
    this.skipped = skipped;
    this.submitted = submitted;
    this.kinds.fill(0);
    this.endpointsReported = 0;
  }

  cqe(kind: number): void {
    this.kinds[Math.min(kind, KIND_ACCEPT_SLOT)]!++;
  }

  describe(): string {
    if (this.skipped) return `ring: no enter (nothing completed, nothing new armed); ${this.endpointsReported} fd(s) reported from completion state`;
    const cqes: string[] = [];
    let total = 0;
    this.kinds.forEach((count, kind) => {
      if (count === 0) return;
      total += count;
      cqes.push(`${KIND_NAMES[kind] ?? `kind ${kind}`} ${count}`);
    });
    return `ring: 1 enter submitted ${this.submitted} SQE(s); ${total} CQE(s)${total ? ` (${cqes.join(', ')})` : ''}; ` +
      `${this.endpointsReported} fd(s) reported from completion state`;
  }
}
