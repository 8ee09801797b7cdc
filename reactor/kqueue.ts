/**
 * kqueue (macOS and the BSDs): Tornado's `_KQueue` (tornado/platform/kqueue.py
 * over Python's `select.kqueue`).
 *
 * UNVERIFIED ON A REAL HOST: gale is developed on Linux, where kqueue does
 * not exist. The struct encoding and decoding below are unit-tested on Linux
 * against the layouts written down here; the syscalls themselves have not
 * run on macOS or BSD.
 *
 * `struct kevent` layouts (64-bit):
 *   macOS x86_64 and arm64, 32 B: ident u64 @0, filter i16 @8, flags u16 @10,
 *     fflags u32 @12, data i64 @16, udata u64 @24
 *   FreeBSD >= 12, 64 B: the same first 32 bytes, then ext[4] u64 @32
 * kqueue watches read and write as two separate filters, so a mask change is
 * up to two changes (add one filter, delete the other).
 */
import { allocRegion, freeRegion, type Region } from './sys/arena.js';
import { close, keventChange, keventWait, kqueue } from './sys/libc.js';
import { OSError, errno as E } from './sys/errors.js';
import { ERROR, MAX_EVENTS, READ, WRITE, type Poller } from './poller.js';

export const EVFILT_READ = -1;
export const EVFILT_WRITE = -2;
export const EV_ADD = 0x0001;
export const EV_DELETE = 0x0002;
export const EV_ERROR = 0x4000;
export const EV_EOF = 0x8000;

/** One kevent record, decoded. */
export interface KEvent {
  ident: number;
  filter: number;
  flags: number;
  fflags: number;
  data: number;
}

/** The size of `struct kevent` on a platform. */
export function keventSize(platform: NodeJS.Platform = process.platform): number {
  return platform === 'freebsd' ? 64 : 32;
}

/** Writes one kevent at `offset` (zeroing the platform's whole record). */
export function encodeKevent(view: Buffer, offset: number, ev: KEvent, size = keventSize()): void {
  view.fill(0, offset, offset + size);
  view.writeBigUInt64LE(BigInt(ev.ident), offset);
  view.writeInt16LE(ev.filter, offset + 8);
  view.writeUInt16LE(ev.flags, offset + 10);
  view.writeUInt32LE(ev.fflags, offset + 12);
  view.writeBigInt64LE(BigInt(ev.data), offset + 16);
}

/** Reads the kevent at `offset`. */
export function decodeKevent(view: Buffer, offset: number): KEvent {
  return {
    ident: Number(view.readBigUInt64LE(offset)),
    filter: view.readInt16LE(offset + 8),
    flags: view.readUInt16LE(offset + 10),
    fflags: view.readUInt32LE(offset + 12),
    data: Number(view.readBigInt64LE(offset + 16)),
  };
}

/** The changes that move an fd from watching `from` to watching `to`. */
export function keventChanges(fd: number, from: number, to: number): KEvent[] {
  const changes: KEvent[] = [];
  const edit = (bit: number, filter: number) => {
    if ((from & bit) === (to & bit)) return;
    changes.push({ ident: fd, filter, flags: to & bit ? EV_ADD : EV_DELETE, fflags: 0, data: 0 });
  };
  edit(READ, EVFILT_READ);
  edit(WRITE, EVFILT_WRITE);
  return changes;
}

/**
 * Folds one returned kevent into IOLoop event bits (Tornado's `_KQueue.poll`).
 * A write record with EOF is how kqueue reports a refused asynchronous
 * connect: it becomes ERROR, as epoll and poll would report it. EOF on a
 * read record may arrive before the buffered data is read, so it stays READ.
 */
export function keventToEvents(ev: KEvent): number {
  let events = 0;
  if (ev.filter === EVFILT_READ) events |= READ;
  if (ev.filter === EVFILT_WRITE) events |= ev.flags & EV_EOF ? ERROR : WRITE;
  if (ev.flags & EV_ERROR) events |= ERROR;
  return events;
}

/** The kqueue backend. */
export class KQueuePoller implements Poller {
  readonly name = 'kqueue' as const;
  readonly readyFds = new Int32Array(MAX_EVENTS);
  readonly readyEvents = new Int32Array(MAX_EVENTS);
  private kq: number;
  private readonly size = keventSize();
  private readonly changes: Region;
  private readonly results: Region;
  private readonly timeout: Region;
  private readonly watched = new Map<number, number>();

  constructor() {
    this.kq = kqueue();
    this.changes = allocRegion(2 * this.size);
    this.results = allocRegion(MAX_EVENTS * this.size);
    this.timeout = allocRegion(16);
  }

  register(fd: number, events: number): void {
    if (this.watched.has(fd)) throw new OSError(E.EEXIST, 'kevent', `fd ${fd} is already registered`);
    this.apply(fd, 0, events);
    this.watched.set(fd, events);
  }

  modify(fd: number, events: number): void {
    this.apply(fd, this.watched.get(fd) ?? 0, events);
    this.watched.set(fd, events);
  }

  unregister(fd: number): void {
    const from = this.watched.get(fd);
    if (from === undefined) return;
    this.watched.delete(fd);
    try { this.apply(fd, from, 0); } catch { /* closed before removal: already gone */ }
  }

  poll(timeoutMs: number): number {
    if (this.kq < 0) throw new OSError(E.EBADF, 'kevent');
    let timeoutAddr = 0;
    if (timeoutMs >= 0) {
      this.timeout.view.writeBigInt64LE(BigInt(Math.floor(timeoutMs / 1000)), 0);
      this.timeout.view.writeBigInt64LE(BigInt((timeoutMs % 1000) * 1_000_000), 8);
      timeoutAddr = this.timeout.addr;
    }
    const n = keventWait(this.kq, this.results.addr, MAX_EVENTS, timeoutAddr);
    // Read and write arrive as separate records: merge them per fd.
    let found = 0;
    const index = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const ev = decodeKevent(this.results.view, i * this.size);
      const at = index.get(ev.ident);
      if (at === undefined) {
        index.set(ev.ident, found);
        this.readyFds[found] = ev.ident;
        this.readyEvents[found++] = keventToEvents(ev);
      } else {
        this.readyEvents[at]! |= keventToEvents(ev);
      }
    }
    return found;
  }

  /** Closes the kqueue and frees the native arrays (the poller is done for). */
  close(): void {
    if (this.kq < 0) return;
    close(this.kq);
    this.kq = -1;
    this.watched.clear();
    freeRegion(this.changes);
    freeRegion(this.results);
    freeRegion(this.timeout);
  }

  private apply(fd: number, from: number, to: number): void {
    const changes = keventChanges(fd, from, to);
    if (!changes.length) return;
    // After close() the change array is freed: never write to it.
    if (this.kq < 0) throw new OSError(E.EBADF, 'kevent');
    changes.forEach((ev, i) => encodeKevent(this.changes.view, i * this.size, ev, this.size));
    keventChange(this.kq, this.changes.addr, changes.length);
  }
}
