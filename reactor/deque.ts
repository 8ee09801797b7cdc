/**
 * `Deque`: the part of Python's `collections.deque` that Tornado's locks and
 * queues use — append at the back, pop from the front, look at the front,
 * drop what no longer matters — each in constant amortized time, where
 * `Array.prototype.shift` copies the array once it is large.
 */

/** A first-in first-out sequence with O(1) `push` and `shift`. */
export class Deque<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  /** How many items it holds (Python's `len(deque)`). */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Appends at the back (`append`). */
  push(item: T): void {
    this.items.push(item);
  }

  /** Removes and returns the front item (`popleft`); undefined when empty. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined; // let it be collected
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // Reclaim the consumed front once it is most of the array.
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** The front item without removing it (`deque[0]`); undefined when empty. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** Keeps only the items `keep` accepts, in order. */
  retain(keep: (item: T) => boolean): void {
    const kept: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as T;
      if (keep(item)) kept.push(item);
    }
    this.items = kept;
    this.head = 0;
  }

  /** The items front to back. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}
