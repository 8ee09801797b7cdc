/**
 * poll(2), the portable backend (`poller: 'poll'` or `GALE_POLLER=poll`):
 * Tornado 4.4 has no poll backend (it falls back to `_Select`); this plays
 * that part, like asyncio's `PollSelector`.
 *
 * The `struct pollfd` array (fd i32 @0, events i16 @4, revents i16 @6) lives
 * in native memory and persists between calls, so a poll call passes one
 * pointer; registration edits the array in place. Removal swaps the last
 * entry into the hole to keep the array dense.
 */
import { allocRegion, freeRegion, type Region } from './sys/arena.js';
import { bindEarly, poll } from './sys/libc.js';
import { POLLNVAL } from './sys/constants.js';
import { OSError, errno as E } from './sys/errors.js';
import { ERROR, MAX_EVENTS, type Poller } from './poller.js';

const POLLFD_SIZE = 8;

/**
 * The pollfd array as 32-bit words (fd: word 2i) and 16-bit halves
 * (events: half 4i+2, revents: half 4i+3), in the platform's byte order as
 * the kernel reads them. Typed-array reads and writes are compiled inline,
 * where each Buffer `readInt32LE`/`writeInt16LE` was a call through a
 * generic property load (Buffer.prototype's methods are not inlined).
 */
interface PollfdViews {
  readonly words: Int32Array;
  readonly halves: Uint16Array;
}

function viewsOf(region: Region): PollfdViews {
  const { buffer, byteOffset, length } = region.view;
  return { words: new Int32Array(buffer, byteOffset, length / 4), halves: new Uint16Array(buffer, byteOffset, length / 2) };
}

/** The poll backend. */
export class PollPoller implements Poller {
  readonly name = 'poll' as const;
  readonly readyFds = new Int32Array(MAX_EVENTS);
  readonly readyEvents = new Int32Array(MAX_EVENTS);
  private region: Region;
  private views: PollfdViews;
  private capacity = 64;
  private count = 0;
  private closed = false;
  private readonly slots = new Map<number, number>(); // fd -> index in the array

  constructor() {
    bindEarly('poll'); // not at the first wait, which may come as the thread exits (libc.ts)
    this.region = allocRegion(this.capacity * POLLFD_SIZE);
    this.views = viewsOf(this.region);
  }

  register(fd: number, events: number): void {
    this.assertOpen('poll');
    if (this.slots.has(fd)) throw new OSError(E.EEXIST, 'poll', `fd ${fd} is already registered`);
    if (this.count === this.capacity) this.grow();
    const { words, halves } = this.views;
    const i = this.count;
    words[2 * i] = fd;
    halves[4 * i + 2] = events;
    halves[4 * i + 3] = 0;
    this.slots.set(fd, this.count++);
  }

  modify(fd: number, events: number): void {
    this.assertOpen('poll');
    const index = this.slots.get(fd);
    if (index === undefined) throw new OSError(E.ENOENT, 'poll', `fd ${fd} is not registered`);
    this.views.halves[4 * index + 2] = events;
  }

  unregister(fd: number): void {
    const index = this.slots.get(fd);
    if (index === undefined) return;
    this.slots.delete(fd);
    const last = --this.count;
    if (index !== last) {
      const words = this.views.words;
      words[2 * index] = words[2 * last]!;
      words[2 * index + 1] = words[2 * last + 1]!; // events and revents
      this.slots.set(words[2 * index]!, index);
    }
  }

  poll(timeoutMs: number): number {
    this.assertOpen('poll');
    const n = poll(this.region.addr, this.count, timeoutMs);
    let found = 0;
    const { words, halves } = this.views;
    for (let i = 0; i < this.count && found < n && found < MAX_EVENTS; i++) {
      const revents = halves[4 * i + 3]!;
      if (revents === 0) continue;
      this.readyFds[found] = words[2 * i]!;
      // A closed-but-registered fd reports POLLNVAL; surface it as an error.
      this.readyEvents[found++] = revents & POLLNVAL ? ERROR : revents;
    }
    return found;
  }

  /** Forgets every fd and frees the native array (the poller is done for). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.count = 0;
    this.slots.clear();
    freeRegion(this.region);
  }

  private assertOpen(syscall: string): void {
    // After close() the array is freed: never touch it (or poll nothing forever).
    if (this.closed) throw new OSError(E.EBADF, syscall);
  }

  private grow(): void {
    const bigger = allocRegion(this.capacity * 2 * POLLFD_SIZE);
    this.region.view.copy(bigger.view, 0, 0, this.count * POLLFD_SIZE);
    freeRegion(this.region);
    this.region = bigger;
    this.views = viewsOf(bigger);
    this.capacity *= 2;
  }
}
