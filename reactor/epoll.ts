/**
 * epoll (Linux), level-triggered: Tornado's `_EPoll` (tornado/platform/epoll.py
 * over Python's `select.epoll`).
 *
 * `struct epoll_event` is packed on x86_64 (12 bytes: events u32 @0, data
 * u64 @4) and naturally aligned elsewhere (16 bytes, data @8). We keep the fd
 * in `data`, so a ready event maps straight back to its fd.
 */
import { allocRegion, freeRegion, type Region } from './sys/arena.js';
import { bindEarly, close, epollCreate1, epollCtl, epollCtlDel, epollWait } from './sys/libc.js';
import { OSError, errno as E } from './sys/errors.js';
import { MAX_EVENTS, type Poller } from './poller.js';

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_MOD = 3;
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_OFFSET = process.arch === 'x64' ? 4 : 8;
// The same layout in 32-bit words, for reading the ready events through an
// Int32Array: every field sits at a multiple of 4 bytes. Element reads are
// compiled inline, where each Buffer `readUInt32LE` was a call through a
// generic property load (Buffer.prototype's methods are not inlined).
const EVENT_WORDS = EVENT_SIZE / 4;
const DATA_WORD = DATA_OFFSET / 4;

/**
 * Encodes one epoll_event at the start of `words` (its memory as 32-bit
 * words; the event bits as a signed word are the same 32 bits). Exported
 * for the layout tests.
 */
export function encodeEpollEvent(words: Int32Array, fd: number, events: number): void {
  words[0] = events;
  words[DATA_WORD] = fd;
  words[DATA_WORD + 1] = 0;
}

/** The epoll backend. */
export class EPollPoller implements Poller {
  readonly name = 'epoll' as const;
  readonly readyFds = new Int32Array(MAX_EVENTS);
  readonly readyEvents = new Int32Array(MAX_EVENTS);
  private epfd: number;
  private readonly events: Region;
  // `events` as 32-bit words (the fd is the low word of `data`; an fd is never negative).
  private readonly eventWords: Int32Array;
  private readonly ctlEvent: Region;
  // `ctlEvent` as 32-bit words: typed-array stores are compiled inline,
  // where Buffer's writeUInt32LE was a generic load and a call each (three
  // per epoll_ctl, one or two epoll_ctl per connection).
  private readonly ctlWords: Int32Array;

  constructor() {
    bindEarly('epollWait'); // not at the first wait, which may come as the thread exits (libc.ts)
    this.epfd = epollCreate1(EPOLL_CLOEXEC);
    this.events = allocRegion(MAX_EVENTS * EVENT_SIZE);
    const view = this.events.view;
    this.eventWords = new Int32Array(view.buffer, view.byteOffset, (MAX_EVENTS * EVENT_SIZE) / 4);
    this.ctlEvent = allocRegion(16);
    this.ctlWords = new Int32Array(this.ctlEvent.view.buffer, this.ctlEvent.view.byteOffset, 4);
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
    // Tolerates an fd closed before its handler was removed.
    epollCtlDel(this.epfd, fd, this.ctlEvent.addr);
  }

  poll(timeoutMs: number): number {
    if (this.epfd < 0) throw new OSError(E.EBADF, 'epoll_wait');
    const n = epollWait(this.epfd, this.events.addr, MAX_EVENTS, timeoutMs);
    const words = this.eventWords;
    for (let i = 0, at = 0; i < n; i++, at += EVENT_WORDS) {
      // The event bits as a signed word: the loop's masks (READ, WRITE, ERROR) are all below bit 31.
      this.readyEvents[i] = words[at]!;
      this.readyFds[i] = words[at + DATA_WORD]!;
    }
    return n;
  }

  /** Closes the epoll fd and frees the native event arrays (the poller is done for). */
  close(): void {
    if (this.epfd < 0) return;
    close(this.epfd);
    this.epfd = -1;
    freeRegion(this.events);
    freeRegion(this.ctlEvent);
  }

  private ctl(op: number, fd: number, events: number): void {
    // After close() the event memory is freed: never write to it.
    if (this.epfd < 0) throw new OSError(E.EBADF, 'epoll_ctl');
    encodeEpollEvent(this.ctlWords, fd, events);
    epollCtl(this.epfd, op, fd, this.ctlEvent.addr);
  }
}
