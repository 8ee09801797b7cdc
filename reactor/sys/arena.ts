/**
 * Native memory the syscall layer owns, addressed by number. No Tornado or
 * Python counterpart: CPython passes its own objects to C; an FFI call from
 * JS cannot, so gale keeps its C-side memory here.
 *
 * Passing an address as a number is the cheapest FFI argument (no buffer
 * to pin, nothing to check), so out-params, poll results, read chunks and sockaddrs live in malloc'd
 * regions that we address by number (`addr + offset`) and read or write
 * through a Buffer view. Two kinds of region:
 * - the thread's shared regions below (`chunk`, `outbox`, `scratch`) are
 *   carved once (`chunk` at its first use, the others at import) and never
 *   freed: they live as long as the thread;
 * - an owner's region (a poller's event array, the resolver's strings) comes
 *   from `allocRegion` and is released with `freeRegion` when its owner is
 *   done with it (a poller's `close()`).
 */
import { bind, nativeView, openLibrary } from './ffi.js';

openLibrary('libc', '');

const malloc = bind('libc', 'malloc', 'ptr', ['u64']);
const free = bind('libc', 'free', 'void', ['ptr']);

/** A region of native memory: its address and a Buffer aliasing it. */
export interface Region {
  /** The region's native address, to pass to C. */
  readonly addr: number;
  /** A view of the region, to read and write from JS. */
  readonly view: Buffer;
}

/** Maps `length` bytes at `addr` (memory we do not own, e.g. errno) into a Buffer view. */
export function viewAt(addr: number, length: number): Buffer {
  return Buffer.from(nativeView(addr, length));
}

/** Allocates a zeroed native region; its owner releases it with `freeRegion`. */
export function allocRegion(size: number): Region {
  const addr = malloc(size) as number;
  if (!addr) throw new Error(`malloc(${size}) failed`);
  const view = viewAt(addr, size);
  view.fill(0);
  live++;
  liveBytes += size;
  return { addr, view };
}

let live = 0;
let liveBytes = 0;

/** How many regions are allocated and not yet freed: what a leak check counts. */
export function liveRegions(): number {
  return live;
}

/**
 * How many bytes those regions hold, the thread's shared ones included:
 * what a check that something is sized lazily counts (docs/benchmarks-history.md).
 */
export function liveRegionBytes(): number {
  return liveBytes;
}

/**
 * Releases a region from `allocRegion`. The view must not be touched
 * afterwards (it aliases freed memory): owners forget it or guard on a
 * closed flag. Never call it on the shared regions below.
 */
export function freeRegion(region: Region): void {
  free(region.addr);
  live--;
  liveBytes -= region.view.byteLength;
}

/** Size of the chunk region reads land in (the stream's default readChunkSize). */
export const CHUNK_SIZE = 64 * 1024;

/**
 * The slots of `scratch`, every one of them, in one table: `[offset, size]`
 * in bytes. A wrapper fills its slot and hands C the slot's address; the
 * slots never overlap (spec/sys.spec.ts checks), so a value one wrapper
 * leaves staged (the peer address after `accept`) survives another wrapper's
 * call (`getsockoptBytes`) until it is read.
 */
export const SCRATCH = {
  /** Option values (int or up to 512 raw bytes) and fd pairs (two i32). */
  VALUE: [0, 512],
  /** A sockaddr: sockaddr_un (110 B) is the largest gale stages. */
  SOCKADDR: [512, 128],
  /** The socklen_t in/out-param of accept/getsockname/getpeername. */
  SOCKLEN: [640, 4],
  /** The socklen_t in/out-param of getsockopt. */
  OPTLEN: [644, 4],
  /** The waker's 8-byte counter (eventfd) or byte (pipe). */
  WAKE: [648, 8],
  /** The siginfo_t waitid(2) fills, or waitpid(2)'s int status (./siginfo.ts). */
  SIGINFO: [656, 128],
} as const satisfies Record<string, readonly [offset: number, size: number]>;

/** The size of `scratch`: the end of its last slot, rounded up. */
export const SCRATCH_SIZE = 1024;

/**
 * A shared region made at its first use: 64 KiB zeroed (so touched) at
 * import would sit in every idle process, and streams read into Buffers
 * (through koffi a Buffer costs what an address does), so a TCP server may
 * never land a read here. Reading `addr` or `view` makes it; it then lives
 * as long as the thread, like the others.
 */
function regionOnFirstUse(size: number): Region {
  let region: Region | null = null;
  return {
    get addr() { return (region ??= allocRegion(size)).addr; },
    get view() { return (region ??= allocRegion(size)).view; },
  };
}

/** Where `read`/`recv` land before the bytes are copied out (made at first use). */
export const chunk = regionOnFirstUse(CHUNK_SIZE);
/** Where small writes are staged (and coalesced) before `write`. */
export const outbox = allocRegion(CHUNK_SIZE);
/** Small out-params, in the slots of `SCRATCH`. */
export const scratch = allocRegion(SCRATCH_SIZE);
