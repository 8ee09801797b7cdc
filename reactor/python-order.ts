/**
 * Python's `<` over the values a `PriorityQueue` orders, and `heapq`'s
 * push and pop over it, so items come out in the order Tornado's
 * PriorityQueue gives them:
 * - numbers, booleans and bigints compare by value (Python's bool is an int);
 * - strings compare by code point (Python's order, not UTF-16 units);
 * - arrays compare element-wise like tuples: the first unequal pair
 *   decides, and a prefix comes first;
 * - anything else (or a mix such as a string and a number) is a
 *   `TypeError`, as Python 3 raises.
 *
 * The heap operations compare before they move anything, so an item that
 * cannot be compared leaves the heap exactly as it was.
 */

function isNumeric(x: unknown): x is number | boolean | bigint {
  const type = typeof x;
  return type === 'number' || type === 'boolean' || type === 'bigint';
}

function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'Array';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // A surrogate pair is one code point above every BMP character.
    const surrogateA = ca >= 0xd800 && ca <= 0xdfff;
    const surrogateB = cb >= 0xd800 && cb <= 0xdfff;
    if (surrogateA === surrogateB) return ca - cb;
    return surrogateA ? 1 : -1;
  }
  return a.length - b.length;
}

/** Python's `a == b` for the values `pythonLess` orders (identity for anything else). */
function pythonEqual(a: unknown, b: unknown): boolean {
  if (isNumeric(a) && isNumeric(b)) return a == b; // 1 == 1n == true, as in Python
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!pythonEqual(a[i], b[i])) return false;
    return true;
  }
  return a === b;
}

/** Python's `a < b`; `TypeError` for values Python cannot order. */
export function pythonLess(a: unknown, b: unknown): boolean {
  if (isNumeric(a) && isNumeric(b)) return (a as number) < (b as number);
  if (typeof a === 'string' && typeof b === 'string') return compareStrings(a, b) < 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (!pythonEqual(a[i], b[i])) return pythonLess(a[i], b[i]);
    }
    return a.length < b.length;
  }
  throw new TypeError(`'<' not supported between ${typeName(a)} and ${typeName(b)} (PriorityQueue orders numbers, strings and arrays of them, as Python does)`);
}

/** `heapq.heappush`: adds `item` to the min-heap `heap`. */
export function heapPush<T>(heap: T[], item: T): void {
  // Find the slot first (_siftdown), then move the parents down into place.
  let pos = heap.length;
  while (pos > 0) {
    const parent = (pos - 1) >> 1;
    if (!pythonLess(item, heap[parent])) break;
    pos = parent;
  }
  let hole = heap.length;
  heap.push(item);
  while (hole > pos) {
    const parent = (hole - 1) >> 1;
    heap[hole] = heap[parent]!;
    hole = parent;
  }
  heap[pos] = item;
}

/** `heapq.heappop`: removes and returns the smallest item of a non-empty `heap`. */
export function heapPop<T>(heap: T[]): T {
  const last = heap.pop()!;
  if (!heap.length) return last;
  const top = heap[0]!;
  try {
    // heapq's _siftup: the path of smaller children down to a leaf …
    const path = [0];
    let child = 1;
    while (child < heap.length) {
      const right = child + 1;
      if (right < heap.length && !pythonLess(heap[child], heap[right])) child = right;
      path.push(child);
      child = 2 * child + 1;
    }
    // … then _siftdown of `last` from that leaf back up: it stops below
    // the first (moved-up) parent it is not smaller than.
    let k = path.length - 1;
    while (k > 0 && pythonLess(last, heap[path[k]!])) k--;
    for (let j = 0; j < k; j++) heap[path[j]!] = heap[path[j + 1]!]!;
    heap[path[k]!] = last;
  } catch (error) {
    heap.push(last); // nothing moved yet: the heap is as it was
    throw error;
  }
  return top;
}
