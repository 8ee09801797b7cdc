/**
 * The loop's timeouts: a binary min-heap ordered by (deadline, sequence), so
 * timeouts with equal deadlines run in the order they were added. It is
 * Tornado's `PollIOLoop._timeouts` heap and `_Timeout` (`tornado.ioloop`).
 *
 * Removal is lazy (Tornado's scheme): `removeTimeout` only marks the entry,
 * and marked entries are dropped when they reach the top. When cancelled
 * entries outnumber live ones (and there are more than 512), the heap is
 * rebuilt without them so memory stays bounded under heavy cancellation.
 */

/** A scheduled timeout; returned by `addTimeout` and accepted by `removeTimeout`. */
export class TimeoutHandle {
  /** @internal */ callback: ((...args: any[]) => unknown) | null;
  /** @internal */ readonly args: any[];
  /** The deadline, on the loop's `time()` clock. */
  readonly deadline: number;
  /** @internal tie-breaker: insertion order */ readonly sequence: number;
  /** @internal */ inHeap = true;

  constructor(deadline: number, sequence: number, callback: (...args: any[]) => unknown, args: any[]) {
    this.deadline = deadline;
    this.sequence = sequence;
    this.callback = callback;
    this.args = args;
  }
}

function before(a: TimeoutHandle, b: TimeoutHandle): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.sequence < b.sequence);
}

const COMPACT_THRESHOLD = 512;

/** A min-heap of timeouts with lazy deletion. */
export class TimerHeap {
  private heap: TimeoutHandle[] = [];
  private sequence = 0;
  private cancellations = 0;

  /** Live plus not-yet-dropped cancelled entries. */
  get size(): number {
    return this.heap.length;
  }

  /** Schedules `callback(...args)` at `deadline`. */
  add(deadline: number, callback: (...args: any[]) => unknown, args: any[]): TimeoutHandle {
    if (!Number.isFinite(deadline)) throw new TypeError(`Unsupported deadline ${deadline}`);
    const handle = new TimeoutHandle(deadline, this.sequence++, callback, args);
    this.heap.push(handle);
    this.siftUp(this.heap.length - 1);
    return handle;
  }

  /** Cancels a timeout. Removing one that already ran (or was removed) is a no-op. */
  remove(handle: TimeoutHandle): void {
    if (handle.callback === null) return;
    handle.callback = null;
    if (handle.inHeap) this.cancellations++;
  }

  /**
   * Pops every live timeout due at `now` into `out`, in order, dropping
   * cancelled entries on the way. Compacts when cancellations dominate.
   */
  popDue(now: number, out: TimeoutHandle[]): void {
    const heap = this.heap;
    while (heap.length) {
      const top = heap[0]!;
      if (top.callback === null) {
        this.pop();
        this.cancellations--;
      } else if (top.deadline <= now) {
        out.push(this.pop());
      } else {
        break;
      }
    }
    if (this.cancellations > COMPACT_THRESHOLD && this.cancellations > heap.length >> 1) this.compact();
  }

  /** The earliest live deadline, or null when none is scheduled. */
  nextDeadline(): number | null {
    const heap = this.heap;
    while (heap.length && heap[0]!.callback === null) {
      this.pop();
      this.cancellations--;
    }
    return heap.length ? heap[0]!.deadline : null;
  }

  /** Drops everything. */
  clear(): void {
    for (const handle of this.heap) handle.inHeap = false;
    this.heap = [];
    this.cancellations = 0;
  }

  private compact(): void {
    const live = this.heap.filter((h) => {
      if (h.callback === null) h.inHeap = false;
      return h.callback !== null;
    });
    this.heap = live;
    this.cancellations = 0;
    for (let i = (live.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private pop(): TimeoutHandle {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      this.siftDown(0);
    }
    top.inHeap = false;
    return top;
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap[child + 1]!, heap[child]!)) child++;
      if (!before(heap[child]!, item)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = item;
  }
}
