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
 */
import { OSError, errno as E } from '../sys/errors.js';
import { ERROR, MAX_EVENTS, type Poller } from '../poller.js';
import { Ring, type RingOptions, type RingStats } from './ring.js';

const REGISTERED = 0x40000000; // in `wanted`: the fd is registered (its mask may be 0)
const EVENT_MASK = 0xffff;
const POLLNVAL = 0x20;

/** The io_uring poller. */
export class URingPoller implements Poller {
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

  constructor(options: RingOptions = {}) {
    this.ring = new Ring(options);
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
    this.ensureCapacity(fd);
    if (this.wanted[fd]! & REGISTERED) throw new OSError(E.EEXIST, 'poll_add');
    this.wanted[fd] = REGISTERED | (events & EVENT_MASK);
    this.markDirty(fd);
  }

  modify(fd: number, events: number): void {
    if (this.ring.fd < 0) throw new OSError(E.EBADF, 'io_uring_enter');
    if (fd < 0 || fd >= this.wanted.length || !(this.wanted[fd]! & REGISTERED)) throw new OSError(E.ENOENT, 'poll_update');
    this.wanted[fd] = REGISTERED | (events & EVENT_MASK);
    this.markDirty(fd);
  }

  unregister(fd: number): void {
    if (this.ring.fd < 0 || fd < 0 || fd >= this.wanted.length) return;
    this.wanted[fd] = 0;
    const gen = this.armedGen[fd]!;
    if (gen === 0) return; // nothing in flight (it completed and was not re-armed yet)
    this.armedGen[fd] = 0;
    this.ring.pollRemove(fd, gen);
    this.ring.flush();
  }

  poll(timeoutMs: number): number {
    const ring = this.ring;
    this.armDirty();
    const uninterrupted = ring.submitAndWait(timeoutMs, MAX_EVENTS);
    const n = this.harvest();
    return uninterrupted || n > 0 ? n : 0;
  }

  /** Cancels every poll, unmaps the ring and closes its fd. */
  close(): void {
    this.ring.close();
    this.ndirty = 0;
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
        ring.pollRemove(fd, armed);
        this.armedGen[fd] = 0;
      }
      if (wanted === 0) continue;
      let gen = (this.lastGen[fd]! + 1) >>> 0;
      if (gen === 0) gen = 1; // 0 marks "none" and internal requests
      this.lastGen[fd] = gen;
      this.armedGen[fd] = gen;
      this.armedMask[fd] = mask;
      ring.pollAdd(fd, mask, fd, gen);
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
      const gen = cqes[at + 1]! >>> 0;
      const res = cqes[at + 2]!;
      if (gen === 0 || fd < 0 || fd >= this.armedGen.length || this.armedGen[fd] !== gen) continue; // stale or internal
      this.armedGen[fd] = 0;
      if (this.wanted[fd]! & REGISTERED) this.markDirty(fd); // re-arm in the next batch
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

  private markDirty(fd: number): void {
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
