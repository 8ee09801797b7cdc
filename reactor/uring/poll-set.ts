/**
 * Readiness emulated on a ring for fds that have no completion endpoint
 * (handlers added with `addHandler`, libuv's fd, a TLS stream's socket):
 * Tornado's level-triggered `add_handler`/`update_handler`/`remove_handler`
 * on one-shot `POLL_ADD`s. The poller (./poller.ts) owns one and routes
 * every CQE of kind KIND_POLL here. Corresponds to Tornado's `_EPoll`
 * wrapper (tornado/platform/epoll.py), on a completion API.
 *
 * ## Level-triggered on one-shot polls
 * Each watched fd has at most one one-shot `POLL_ADD` in flight. When its
 * CQE arrives the fd is reported and marked dirty; the next `arm()` (run
 * before the poller's one enter) re-arms it in the same submission batch as
 * everything else. A fd that is still ready completes its new poll at once
 * (the kernel checks readiness when the poll is armed), so it is reported
 * again: level semantics, with no syscall per fd. `register`/`modify` only
 * record what is wanted and mark the fd dirty.
 *
 * ## Stale completions
 * `user_data` is (fd, KIND_POLL << 24 | generation). Every POLL_ADD takes a
 * fresh generation for its fd, and a CQE whose generation is not the fd's
 * armed one (a poll removed by `modify`/`unregister`, or from before the fd
 * number was closed and reused) is dropped.
 */
import { OSError, errno as E } from '../sys/errors.js';
import { POLLNVAL } from '../sys/constants.js';
import { ERROR } from '../poller.js';
import { KIND_POLL, nextGen } from './endpoint.js';
import type { Ring } from './ring.js';

const REGISTERED = 0x40000000; // in `wanted`: the fd is registered (its mask may be 0)
const EVENT_MASK = 0xffff;

/** The polled fds of one ring (see the file comment). */
export class PollSet {
  // Per polled fd, indexed by fd number (grown on demand):
  private wanted = new Int32Array(64); // REGISTERED | events, or 0
  private armedGen = new Uint32Array(64); // user_data hi of the poll in flight, 0: none
  private armedMask = new Int32Array(64); // the events that poll watches
  private lastGen = new Uint32Array(64); // the fd's last generation (kept across reuse)
  private isDirty = new Uint8Array(64);
  private dirty = new Int32Array(64); // fds whose poll must be (re)armed or changed
  private ndirty = 0;

  /** Whether `fd` is registered here. */
  has(fd: number): boolean {
    return fd >= 0 && fd < this.wanted.length && (this.wanted[fd]! & REGISTERED) !== 0;
  }

  /** Starts watching `fd` for `events` (armed with the next batch). Throws EEXIST if it is watched already. */
  register(fd: number, events: number): void {
    this.ensureCapacity(fd);
    if (this.wanted[fd]! & REGISTERED) throw new OSError(E.EEXIST, 'poll_add');
    this.wanted[fd] = REGISTERED | (events & EVENT_MASK);
    this.markDirty(fd);
  }

  /** Changes what `fd` is watched for. Throws ENOENT if it is not watched. */
  modify(fd: number, events: number): void {
    if (!this.has(fd)) throw new OSError(E.ENOENT, 'poll_update');
    this.wanted[fd] = REGISTERED | (events & EVENT_MASK);
    this.markDirty(fd);
  }

  /**
   * Stops watching `fd`. Returns whether it wrote a POLL_REMOVE for a poll
   * in flight (the caller submits it at once: an armed poll holds a
   * reference to the file, and a socket closed under it would stay open).
   */
  unregister(ring: Ring, fd: number): boolean {
    if (fd < 0 || fd >= this.wanted.length) return false;
    this.wanted[fd] = 0;
    const gen = this.armedGen[fd]!;
    if (gen === 0) return false; // nothing in flight (it completed and was not re-armed yet)
    this.armedGen[fd] = 0;
    ring.pollRemove(fd, (KIND_POLL << 24) | gen);
    return true;
  }

  /** How many fds wait for `arm` (0: it would write nothing). */
  dirtyCount(): number {
    return this.ndirty;
  }

  /** Writes the SQEs that bring every dirty fd's in-flight poll in line with what is wanted. */
  arm(ring: Ring): void {
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

  /**
   * A POLL_ADD's CQE (`gen` from its user_data, `res` its result): the
   * events to report for `fd`, or 0 (stale, cancelled, or nothing watched
   * happened). The fd is re-armed with the next batch while registered.
   */
  complete(fd: number, gen: number, res: number): number {
    if (fd < 0 || fd >= this.armedGen.length || this.armedGen[fd] !== gen) return 0; // stale
    this.armedGen[fd] = 0;
    if (this.wanted[fd]! & REGISTERED) this.markDirty(fd); // re-arm in the next batch
    if (res < 0) return res === -E.ECANCELED ? 0 : ERROR; // the poll itself failed: let the handler find out why
    let events = res & (this.armedMask[fd]! | ERROR);
    if (res & POLLNVAL) events |= ERROR;
    return events;
  }

  /** Forgets every fd (the ring is gone). */
  clear(): void {
    this.ndirty = 0;
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
