/**
 * A FIFO over an array that is never truncated: the hot lists of the ring
 * (dirty and active endpoints, received chunks, queued SENDs) fill and
 * empty every loop iteration, and emptying an array with `length = 0` is a
 * runtime call in V8 (the length setter, ~500 instructions) that also
 * drops the backing store, so the next push regrows it. Here emptying is a
 * few stores: the slots used are set to `undefined` (so nothing is kept
 * alive) and the indices go back to 0; the array keeps its capacity. No
 * Tornado counterpart (Python's deque does this for it).
 *
 * A queue that never drains completely is compacted once its consumed
 * front is over COMPACT_AFTER entries and half of what it holds, so its
 * array stays bounded by about twice its peak content.
 */

/** Consumed front entries tolerated before `shift` moves the rest down. */
const COMPACT_AFTER = 64;

/** A FIFO whose backing array is reused (see the file comment). */
export class ReusedQueue<T> {
  private readonly items: Array<T | undefined> = [];
  private head = 0;
  private tail = 0;

  /** Entries queued. */
  get length(): number {
    return this.tail - this.head;
  }

  /** Appends `item` at the back. */
  push(item: T): void {
    if (this.tail < this.items.length) this.items[this.tail] = item;
    else this.items.push(item);
    this.tail++;
  }

  /** The `i`-th entry from the front (0: the front); call only with `i < length`. */
  at(i: number): T {
    return this.items[this.head + i] as T;
  }

  /** Replaces the `i`-th entry from the front. */
  set(i: number, item: T): void {
    this.items[this.head + i] = item;
  }

  /** Removes and returns the front entry; call only while `length > 0`. */
  shift(): T {
    const items = this.items;
    const item = items[this.head] as T;
    items[this.head++] = undefined;
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

  /** Empties the queue (its array keeps its capacity, and no reference to what it held). */
  clear(): void {
    const items = this.items;
    for (let i = this.head; i < this.tail; i++) items[i] = undefined; // a loop: cheaper than fill() for the few entries these hold

    this.head = 0;
    this.tail = 0;
  }
}
