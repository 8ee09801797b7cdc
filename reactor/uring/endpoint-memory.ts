/**
 * The native memory a ring's endpoints share, owned in one place: the
 * provided-buffer ring multishot RECVs fill (made on first use: a loop
 * without completion sockets never maps it), and the send slots and the
 * ring-wide send budget of ring sends. The poller holds one per ring and
 * frees it when the ring closes. No Tornado counterpart.
 */
import { genLog } from '../log.js';
import { ProvidedBuffers } from './provided-buffers.js';
import { SendBudget, SendSlots } from './send-memory.js';
import type { Ring } from './ring.js';

/** Provided buffers per ring: 64 × 64 KiB (4 MiB of address space, faulted in as used; a 64 KiB read fills one). */
const PBUF_ENTRIES = 64;
const PBUF_SIZE = 64 * 1024;
const PBUF_GROUP = 0;

/** Sizes of a ring's endpoint memory. */
export interface EndpointMemoryOptions {
  /** Provided buffers (a power of two; default 64). */
  bufferCount?: number;
  /** Bytes per provided buffer (default 64 KiB). */
  bufferSize?: number;
  /** Bytes all the ring's send buffers may hold together. */
  sendBudget: number;
}

/** One ring's endpoint memory (see the file comment). */
export class EndpointMemory {
  /** Native memory SENDs are made from. */
  readonly slots = new SendSlots();
  /** The cap on bytes all send buffers of the ring hold together. */
  readonly sendBudget: SendBudget;
  private buffers: ProvidedBuffers | null = null;
  private buffersFailed = false;
  private readonly bufferCount: number;
  private readonly bufferSize: number;

  constructor(private readonly ring: Ring, options: EndpointMemoryOptions) {
    this.bufferCount = options.bufferCount ?? PBUF_ENTRIES;
    this.bufferSize = options.bufferSize ?? PBUF_SIZE;
    this.sendBudget = new SendBudget(options.sendBudget);
  }

  /** The provided buffers (made on first use), or null where the kernel has none (streams then use readiness). */
  providedBuffers(): ProvidedBuffers | null {
    if (this.buffers !== null || this.buffersFailed || this.ring.fd < 0) return this.buffers;
    try {
      this.buffers = new ProvidedBuffers(this.ring, PBUF_GROUP, this.bufferCount, this.bufferSize);
    } catch (error) {
      this.buffersFailed = true;
      genLog.warn(`io_uring: no provided-buffer ring (${(error as Error).message}); streams use readiness`);
    }
    return this.buffers;
  }

  /** The ring's requests are all cancelled: the kernel must fill no provided buffer from now on. */
  release(): void {
    this.buffers?.release(this.ring);
  }

  /** Unmaps the buffers and frees every slot (the ring is closed: the kernel is done with them). */
  free(): void {
    this.buffers?.unmap();
    this.buffers = null;
    this.slots.freeAll();
  }
}
