/**
 * `Deque`: a first-in first-out sequence — the part of Python's
 * `collections.deque` that Tornado's locks and queues use (append at the
 * back, pop from the front, look at the front, drop what no longer
 * matters), and the ring's hot lists (dirty and active endpoints, received
 * chunks, queued SENDs, accepted fds), which fill and empty every loop
 * iteration. Each operation takes constant amortized time, where
 * `Array.prototype.shift` copies the array once it is large.
 *
 * Its array is never truncated: emptying an array with `length = 0` is a
 * runtime call in V8 (the length setter, ~500 instructions) that also
 * drops the backing store, so the next push regrows it. Here emptying is a
 * few stores: the slots used are set to `undefined` (so nothing is kept
 * alive) and the indices go back to 0; the array keeps its capacity. A
 * deque that never drains completely is compacted once its consumed front
 * is over COMPACT_AFTER entries and half of what it holds, so its array
 * stays bounded by about twice its peak content.
 */

/** Consumed front entries tolerated before `shift` moves the rest down. */
const COMPACT_AFTER = 64;

/** A first-in first-out sequence with O(1) `push` and `shift` (see the file comment). */
export class Deque<T> {
  private readonly items: Array<T | undefined> = [];
  private head = 0;
  private tail = 0;

  /** How many items it holds (Python's `len(deque)`). */
  get length(): number {
    return this.tail - this.head;
  }

  /** Appends at the back (`append`). */
  push(item: T): void {
    if (this.tail < this.items.length) this.items[this.tail] = item;
    else this.items.push(item);
    this.tail++;
  }

  /** Removes and returns the front item (`popleft`); undefined when empty. */
  shift(): T | undefined {
    if (this.head === this.tail) return undefined;
    const items = this.items;
    const item = items[this.head];
    items[this.head++] = undefined; // let it be collected
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
    } else if (this.head > COMPACT_AFTER && this.head * 2 > this.tail) {
      items.copyWithin(0, this.head, this.tail);
      items.fill(undefined, this.tail - this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    return item;
  }

  /** The front item without removing it (`deque[0]`); undefined when empty. */
  peek(): T | undefined {
    return this.head < this.tail ? this.items[this.head] : undefined;
  }

  /** The `i`-th item from the front (0: the front); call only with `i < length`. */
  at(i: number): T {
    return this.items[this.head + i] as T;
  }

  /** Replaces the `i`-th item from the front; call only with `i < length`. */
  set(i: number, item: T): void {
    this.items[this.head + i] = item;
  }

  /** Empties it (the array keeps its capacity, and no reference to what it held). */
  clear(): void {
    const items = this.items;
    for (let i = this.head; i < this.tail; i++) items[i] = undefined; // a loop: cheaper than fill() for the few entries the ring's hold
    this.head = 0;
    this.tail = 0;
  }

  /** Keeps only the items `keep` accepts, in order. */
  retain(keep: (item: T) => boolean): void {
    const items = this.items;
    let kept = 0;
    for (let i = this.head; i < this.tail; i++) {
      const item = items[i] as T;
      if (keep(item)) items[kept++] = item;
    }
    items.fill(undefined, kept, this.tail);
    this.head = 0;
    this.tail = kept;
  }

  /** The items front to back. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.tail; i++) yield this.items[i] as T;
  }
}
