/**
 * epoll (Linux), level-triggered, like Tornado's `_EPoll`.
 *
 * `struct epoll_event` is packed on x86_64 (12 bytes: events u32 @0, data
 * u64 @4) and naturally aligned elsewhere (16 bytes, data @8). We keep the fd
 * in `data`, so a ready event maps straight back to its fd.
 */
import { allocRegion, type Region } from './sys/arena.js';
import { c, close, lastErrno } from './sys/libc.js';
import { OSError, errno as E } from './sys/errors.js';
import { MAX_EVENTS, type Poller } from './poller.js';

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_OFFSET = process.arch === 'x64' ? 4 : 8;

/** Encodes one epoll_event at `offset`. Exported for the layout tests. */
export function encodeEpollEvent(view: Buffer, offset: number, fd: number, events: number): void {
  view.writeUInt32LE(events >>> 0, offset);
  view.writeUInt32LE(fd, offset + DATA_OFFSET);
  view.writeUInt32LE(0, offset + DATA_OFFSET + 4);
}

/** The epoll backend. */
export class EPollPoller implements Poller {
  readonly name = 'epoll' as const;
  readonly readyFds = new Int32Array(MAX_EVENTS);
  readonly readyEvents = new Int32Array(MAX_EVENTS);
  private epfd: number;
  private readonly events: Region;
  private readonly ctlEvent: Region;

  constructor() {
    const fd = c.epollCreate1(EPOLL_CLOEXEC) as number;
    if (fd < 0) throw new OSError(lastErrno(), 'epoll_create1');
    this.epfd = fd;
    this.events = allocRegion(MAX_EVENTS * EVENT_SIZE);
    this.ctlEvent = allocRegion(16);
  }

  /** The epoll fd itself (it can be nested in another poller). */
  fileno(): number {
    return this.epfd;
  }

  register(fd: number, events: number): void {
    this.ctl(EPOLL_CTL_ADD, fd, events);
  }

  modify(fd: number, events: number): void {
    this.ctl(EPOLL_CTL_MOD, fd, events);
  }

  unregister(fd: number): void {
    if (this.epfd < 0) return; // closed: the kernel dropped everything
    if ((c.epollCtl(this.epfd, EPOLL_CTL_DEL, fd, this.ctlEvent.addr) as number) < 0) {
      const err = lastErrno();
      // The fd may have been closed before its handler was removed; the
      // kernel already dropped it from the set.
      if (err !== E.EBADF && err !== E.ENOENT) throw new OSError(err, 'epoll_ctl');
    }
  }

  poll(timeoutMs: number): number {
    if (this.epfd < 0) throw new OSError(E.EBADF, 'epoll_wait');
    const n = c.epollWait(this.epfd, this.events.addr, MAX_EVENTS, timeoutMs) as number;
    if (n < 0) {
      const err = lastErrno();
      if (err === E.EINTR) return 0;
      throw new OSError(err, 'epoll_wait');
    }
    const view = this.events.view;
    for (let i = 0, at = 0; i < n; i++, at += EVENT_SIZE) {
      this.readyEvents[i] = view.readUInt32LE(at);
      this.readyFds[i] = view.readInt32LE(at + DATA_OFFSET);
    }
    return n;
  }

  /** Closes the epoll fd and frees the native event arrays (the poller is done for). */
  close(): void {
    if (this.epfd < 0) return;
    close(this.epfd);
    this.epfd = -1;
    c.free(this.events.addr);
    c.free(this.ctlEvent.addr);
  }

  private ctl(op: number, fd: number, events: number): void {
    // After close() the event memory is freed: never write to it.
    if (this.epfd < 0) throw new OSError(E.EBADF, 'epoll_ctl');
    encodeEpollEvent(this.ctlEvent.view, 0, fd, events);
    if ((c.epollCtl(this.epfd, op, fd, this.ctlEvent.addr) as number) < 0) {
      throw new OSError(lastErrno(), 'epoll_ctl');
    }
  }
}
