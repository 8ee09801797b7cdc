/**
 * The IOLoop's poller on an io_uring (`poller: 'uring'`): Tornado's
 * level-triggered `add_handler`/`update_handler`/`remove_handler` semantics
 * with one `io_uring_enter` per loop iteration. No Tornado counterpart (its
 * loops only poll); the layers under it are liburing's and tokio-uring's.
 *
 * ## What it does, and what it leaves to others
 * - **Readiness for fds without an endpoint**: one-shot POLL_ADDs re-armed
 *   in each batch (./poll-set.ts).
 * - **The endpoint table and CQE routing**: a fd can instead be attached as
 *   a completion endpoint (./endpoint.ts: a stream socket's, a pipe's, a
 *   listener's transport): it is never polled; its own operations (a
 *   multishot RECV, SENDs, ACCEPTs…) feed its state, and `poll()` reports
 *   READ/WRITE for it from that state, level-triggered, next to the polled
 *   fds. The poller keeps the table by id and by fd, arms the dirty
 *   endpoints before the enter, and hands each CQE to its endpoint; what a
 *   CQE means is the endpoint's business. `user_data` is (endpoint id,
 *   kind << 24 | generation) for those, (fd, KIND_POLL << 24 | generation)
 *   for polls; internal requests (removes, cancels) carry 0.
 * - Not its business: the ring's mechanics (./ring.ts), when and how long
 *   to enter (the wait plan, ../wait-plan.ts), the memory endpoints share
 *   (./endpoint-memory.ts), which transport a stream gets (./transports.ts).
 *
 * ## Why `unregister` makes a syscall
 * An armed request holds a reference to the file: a socket closed while its
 * poll (or RECV, or ACCEPT) is armed stays open (no FIN reaches the peer)
 * until the request ends. So `unregister` of an armed fd, like an
 * endpoint's detach, submits its cancels and runs the deferred completions
 * at once (one FFI call, as epoll_ctl(DEL) costs).
 */
import { OSError, errno as E } from '../sys/errors.js';
import { ERROR, MAX_EVENTS, type Poller } from '../poller.js';
import { resolveURing, type URingConfig } from '../loop-options.js';
import type { FdSource, TransportTimers } from '../transport.js';
import { URingTransports } from './transports.js';
import { PollSet } from './poll-set.js';
import { TASKRUN_BATCH, planRingWait, type RingWaitFacts, type RingWaitPlan } from '../wait-plan.js';
import { IORING_CQE_F_BUFFER, Ring, type RingOptions, type RingStats } from './ring.js';
import type { ProvidedBuffers } from './provided-buffers.js';
import type { SendBudget, SendSlots } from './send-memory.js';
import { EndpointMemory } from './endpoint-memory.js';
import { Deque } from '../deque.js';
import type { SendQueue } from './send-queue.js';
import { CompletionSocket, type CompletionStats, type SocketHost } from './socket-transport.js';
import {
  GEN_MASK, KIND_ACCEPT_SLOT, KIND_CLOSE, KIND_CONNECT, KIND_HANGUP, KIND_POLL, KIND_POLLOUT, KIND_READ, KIND_RECV, KIND_SEND, nextGen,
  type CompletionEndpoint,
} from './endpoint.js';



/** Options of the uring poller: the ring's, the provided buffers' (a power of two of them), the loop's. */
export interface URingPollerOptions extends RingOptions {
  bufferCount?: number;
  bufferSize?: number;
  /** Bytes all the ring's send buffers may hold together (default: `uring.sendBudget`; see SendBudget). */
  sendBudget?: number;
  /** The loop's uring options (default: from the environment, ../loop-options.ts). */
  uring?: URingConfig;
  /**
   * Whether a chain of one SEND goes quiet: no CQE if the socket takes it
   * at once (./send-queue.ts; default true where the kernel can skip CQEs).
   * False keeps every SEND's CQE, as before quiet SENDs (for A/B timing).
   */
  quietSends?: boolean;
  /**
   * Whether a handed-over chunk (a RECV's provided buffer) that a stream
   * writes back is sent from where it is, at once, instead of copied into a
   * send slot (direct SENDs, ./send-queue.ts; default: `uring.directSends`;
   * they need quiet SENDs). False copies every write (for A/B timing).
   */
  directSends?: boolean;
}

/** The io_uring poller. */
export class URingPoller implements Poller, SocketHost {
  readonly name = 'uring' as const;
  readonly readyFds = new Int32Array(MAX_EVENTS);
  readonly readyEvents = new Int32Array(MAX_EVENTS);
  /** SocketHost: the ring. */
  readonly ring: Ring;
  /** Readiness for the fds without an endpoint (./poll-set.ts). */
  private readonly polls = new PollSet();
  // Completion endpoints: by id (user_data lo) and by fd while attached.
  private readonly endpoints: Array<CompletionEndpoint | undefined> = [];
  private readonly endpointGens: number[] = [];
  private readonly freeIds: number[] = [];
  private readonly endpointByFd: Array<CompletionEndpoint | undefined> = [];
  // Reused queues, never truncated (../deque.ts): both fill and empty every iteration.
  private readonly dirtyEndpoints = new Deque<CompletionEndpoint>();
  private activeEndpoints = new Deque<CompletionEndpoint>();
  private spareActive = new Deque<CompletionEndpoint>();
  // Send queues with a quiet SEND in flight (no CQE on success: ./send-queue.ts), concluded after a harvest.
  private quietQueues = new Deque<SendQueue>();
  private spareQuiet = new Deque<SendQueue>();
  /** The provided buffers, send slots and send budget its endpoints share (./endpoint-memory.ts). */
  private readonly memory: EndpointMemory;
  /** SocketHost: native memory SENDs are made from. */
  readonly slots: SendSlots;
  /** SocketHost: the cap on bytes all send buffers of this ring hold together. */
  readonly sendBudget: SendBudget;
  /** SendHost: whether single SENDs go quiet (URingPollerOptions.quietSends, where the kernel can skip CQEs). */
  readonly quietSends: boolean;
  /** SocketHost: whether handed-over chunks written back are sent from where they are (URingPollerOptions.directSends). */
  readonly directSends: boolean;
  /** SocketHost: counters of the completion sockets' slow paths. */
  readonly completionStats: CompletionStats = {
    enobufs: 0, recvRearms: 0, stale: 0, directReadFlushes: 0, shortSends: 0, ringCloses: 0, lingerCloses: 0, lingering: 0, lingerAborts: 0, sendCopiedBytes: 0,
    quietSends: 0, quietRetries: 0, sendDirectBytes: 0,
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

  constructor(options: URingPollerOptions = {}) {
    this.config = options.uring ?? resolveURing();
    this.ring = new Ring(options);
    this.quietSends = (options.quietSends ?? this.config.quietSends) !== false && this.ring.canSkipCqe;
    this.directSends = (options.directSends ?? this.config.directSends) !== false;
    this.memory = new EndpointMemory(this.ring, { ...options, sendBudget: options.sendBudget ?? this.config.sendBudget });
    this.slots = this.memory.slots;
    this.sendBudget = this.memory.sendBudget;
    this.transports = new URingTransports(this, this.config);
  }

  /**
   * Attaches `fd` (a connected or connecting stream socket) as a completion
   * socket, or returns null where it cannot be (the fd is already polled,
   * or the kernel has no buffer rings): the caller then uses readiness.
   */
  attach(fd: number, ringSends = false, timers: TransportTimers | null = null,
    source: FdSource | null = null): CompletionSocket | null {
    const existing = fd >= 0 ? this.endpointByFd[fd] : undefined;
    if (existing !== undefined) return existing instanceof CompletionSocket ? existing : null;
    if (this.providedBuffers() === null) return null;
    return this.attachEndpoint(fd, (id, gen) => new CompletionSocket(this, fd, id, gen, ringSends, timers, source));
  }

  /**
   * Attaches `fd` as the endpoint `make` builds with its id and generation,
   * or returns null if the ring is closed or `fd` is polled or attached
   * already.
   */
  attachEndpoint<T extends CompletionEndpoint>(fd: number, make: (id: number, gen: number) => T): T | null {
    if (this.ring.fd < 0 || fd < 0) return null;
    if (this.endpointByFd[fd] !== undefined) return null;
    if (this.polls.has(fd)) return null;
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
    return this.memory.providedBuffers();
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
    this.polls.register(fd, events);
  }

  modify(fd: number, events: number): void {
    if (this.ring.fd < 0) throw new OSError(E.EBADF, 'io_uring_enter');
    const endpoint = fd >= 0 ? this.endpointByFd[fd] : undefined;
    if (endpoint !== undefined) return endpoint.watch(events, true);
    this.polls.modify(fd, events);
  }

  unregister(fd: number): void {
    if (this.ring.fd < 0 || fd < 0) return;
    // A stream removes its fd only to close it or to hand it over (startTls):
    // either way the ring must stop using it now.
    const endpoint = this.endpointByFd[fd];
    if (endpoint !== undefined) return this.detach(endpoint);
    if (this.polls.unregister(this.ring, fd)) this.ring.flush();
  }

  poll(timeoutMs: number): number {
    const ring = this.ring;
    if (ring.fd < 0) throw new OSError(E.EBADF, 'io_uring_enter');
    const queuedBefore = ring.pending();
    // Most iterations have nothing to arm (a ping-pong's RECV stays armed): no call then.
    if (this.polls.dirtyCount() !== 0) this.polls.arm(ring);
    if (this.dirtyEndpoints.length !== 0) this.armDirtyEndpoints();
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
      if (this.quietQueues.length !== 0) this.settleQuietSends();
      return this.reportEndpoints(0);
    }
    const uninterrupted = ring.submitAndWait(plan.minComplete, plan.timeoutMs);
    facts.backlog = ring.cqReady() >= TASKRUN_BATCH;
    let n = this.harvest();
    if (this.quietQueues.length !== 0) this.settleQuietSends();
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
    // Every request cancelled and complete, then no provided buffer can be
    // filled any more (they are JS memory: ./provided-buffers.ts), then the close.
    this.ring.cancelEverything();
    this.memory.release();
    this.ring.close();
    for (const endpoint of this.endpoints) {
      if (endpoint === undefined) continue;
      endpoint.detached = true;
      endpoint.abandon();
    }
    this.memory.free();
    this.endpoints.length = 0;
    this.freeIds.length = 0;
    this.endpointByFd.length = 0;
    this.dirtyEndpoints.clear();
    this.activeEndpoints.clear();
    this.quietQueues.clear();
    this.polls.clear();
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
   * stay open, no FIN for the peer), so when the owner closes the fd (or
   * hands it over) the endpoint's cancels are submitted at once, with the
   * deferred completions run: one FFI call, as epoll_ctl(DEL) costs on
   * epoll. When the ring closes it (a stream's close: its CLOSE queued
   * behind the cancels), nothing needs them in the kernel before the loop's
   * next enter, and they wait for it (docs/uring.md, "Closing through the
   * ring"). Their CQEs free the id later; until then its generation keeps
   * them apart from a new endpoint on the same fd.
   */
  detach(endpoint: CompletionEndpoint): void {
    if (endpoint.detached) return;
    endpoint.detached = true;
    if (this.endpointByFd[endpoint.fd] === endpoint) this.endpointByFd[endpoint.fd] = undefined;
    if (this.ring.fd < 0) return;
    const inFlight = endpoint.cancelForClose();
    // The ring closes the fd: it stays open (its number taken) until that
    // CLOSE runs, and the cancels and the CLOSE go with the loop's next
    // enter, as SENDs do (a loop that stops or closes submits what is
    // pending; at exit the kernel closes the fd, and a worker thread's
    // exit closes its loops: ../worker-loops.ts). An fd its owner closes
    // or hands over right after needs its cancels in the kernel first.
    if (endpoint.closesThroughRing?.() !== true && (inFlight || this.ring.pending() > 0)) this.ring.flush();
    this.maybeFree(endpoint);
  }

  private maybeFree(endpoint: CompletionEndpoint): void {
    if (!endpoint.detached || endpoint.inFlight()) return;
    if (this.endpoints[endpoint.id] !== endpoint) return;
    this.endpoints[endpoint.id] = undefined;
    this.freeIds.push(endpoint.id);
  }

  /** SendHost: a quiet SEND was written; `settleQuietSends` concludes it after an enter has consumed it. */
  quietSendWritten(queue: SendQueue): void {
    if (queue.quietListed) return;
    queue.quietListed = true;
    this.quietQueues.push(queue);
  }

  /**
   * Completes the quiet SENDs that are over (./send-queue.ts): their SQEs
   * consumed and the CQ read to the end, so a failure would have shown as
   * a CQE (routed to its queue already, which then no longer waits). Not
   * while CQEs wait unread or overflowed: one of them could be that failure.
   */
  private settleQuietSends(): void {
    const ring = this.ring;
    if (ring.cqReady() !== 0 || ring.cqOverflowed()) return;
    const list = this.quietQueues;
    if (list.length === 1) {
      // One queue (a ping-pong's reply): no swap. Completing it may write
      // its next quiet SEND, or another queue's, into the list emptied first.
      const queue = list.at(0);
      const settled = queue.quietSettled(ring);
      // Not consumed yet (the enter was skipped): stays listed.
      if (!settled && queue.quiet) return;
      list.clear();
      queue.quietListed = false;
      // Else its SEND failed or went short: its CQE concluded it, and it leaves the list.
      if (settled) this.settleQuietSend(queue);
      return;
    }
    const keep = this.spareQuiet;
    // Completing one may write the next quiet SEND of the same queue: into `keep`.
    this.quietQueues = keep;
    this.spareQuiet = list;
    for (let i = 0; i < list.length; i++) {
      const queue = list.at(i);
      queue.quietListed = false;
      if (queue.quietSettled(ring)) this.settleQuietSend(queue);
      // Not consumed yet (the enter was skipped): listed again.
      else if (queue.quiet) this.quietSendWritten(queue);
    }
    list.clear();
  }

  /** Completes `queue`'s quiet SEND, sent in full (see settleQuietSends); lists the next one its completion wrote. */
  private settleQuietSend(queue: SendQueue): void {
    if (this.trace !== null) this.trace.quietSends++;
    this.completeEndpoint(KIND_SEND, queue.id, queue.gen, queue.quietLength(), 0);
    if (queue.quiet) this.quietSendWritten(queue);
  }

  /** Lets every dirty endpoint write its SQEs. */
  private armDirtyEndpoints(): void {
    const list = this.dirtyEndpoints;
    for (let i = 0; i < list.length; i++) {
      const endpoint = list.at(i);
      endpoint.dirty = false;
      if (!endpoint.detached) endpoint.arm();
    }
    list.clear();
  }

  private anyEndpointReady(): boolean {
    const list = this.activeEndpoints;
    for (let i = 0; i < list.length; i++) if (list.at(i).readyEvents() !== 0) return true;
    return false;
  }

  /** Appends the ready endpoints to the ready list after `n` polled fds. */
  private reportEndpoints(n: number): number {
    const list = this.activeEndpoints;
    const keep = this.spareActive;
    for (let i = 0; i < list.length; i++) {
      const endpoint = list.at(i);
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
    list.clear();
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
      if (flags & IORING_CQE_F_BUFFER) this.memory.providedBuffers()?.giveBack(flags >>> 16);
      return;
    }
    endpoint.complete(kind, res, flags);
    if (endpoint.detached) this.maybeFree(endpoint);
    else this.markActive(endpoint);
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
    const events = this.polls.complete(udLo, udHi & GEN_MASK, res);
    if (events === 0) return true;
    this.readyFds[n] = udLo;
    this.readyEvents[n] = events;
    this.nready = ++n;
    return true;
  };


}

/** Names of the request kinds in user_data (./endpoint.ts), for trace mode. */
const KIND_NAMES: Record<number, string> = {
  0: 'cancel', [KIND_POLL]: 'POLL_ADD', [KIND_RECV]: 'RECV', [KIND_POLLOUT]: 'POLLOUT', [KIND_SEND]: 'SEND',
  [KIND_CLOSE]: 'CLOSE', [KIND_CONNECT]: 'CONNECT', [KIND_READ]: 'READ', [KIND_HANGUP]: 'HANGUP_POLL', [KIND_ACCEPT_SLOT]: 'ACCEPT',
};

/** What one poll did below the readiness it reported (trace mode only). */
class PollTrace {
  private skipped = false;
  private submitted = 0;
  private readonly kinds = new Uint32Array(KIND_ACCEPT_SLOT + 1);
  endpointsReported = 0;
  /** Quiet SENDs found done without a CQE after this poll's enter. */
  quietSends = 0;

  start(skipped: boolean, submitted: number): void {
    this.skipped = skipped;
    this.submitted = submitted;
    this.kinds.fill(0);
    this.endpointsReported = 0;
    this.quietSends = 0;
  }

  cqe(kind: number): void {
    this.kinds[Math.min(kind, KIND_ACCEPT_SLOT)]!++;
  }

  describe(): string {
    if (this.skipped) {
      return `ring: no enter (nothing completed, nothing new armed); ${this.endpointsReported} fd(s) reported from completion state`;
    }
    const cqes: string[] = [];
    let total = 0;
    this.kinds.forEach((count, kind) => {
      if (count === 0) return;
      total += count;
      cqes.push(`${KIND_NAMES[kind] ?? `kind ${kind}`} ${count}`);
    });
    const quiet = this.quietSends ? `; ${this.quietSends} quiet SEND(s) done without a CQE (sent in full inside the enter)` : '';
    return `ring: 1 enter submitted ${this.submitted} SQE(s); ${total} CQE(s)${total ? ` (${cqes.join(', ')})` : ''}${quiet}; ` +
      `${this.endpointsReported} fd(s) reported from completion state`;
  }
}
