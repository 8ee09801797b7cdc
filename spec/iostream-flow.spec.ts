/**
 * Flow control with a large payload: 64 MiB written in one call through a
 * slow reader, over TCP, a socketpair and a pipe. Checked by the streams'
 * own buffer sizes, never by time or process memory:
 * - the writer keeps the caller's buffer by reference (no 64 MiB copy) and
 *   hands it to the kernel as the kernel drains;
 * - the reader only pulls from the fd what its reads ask for, so its buffer
 *   stays within a couple of chunks however far behind it falls;
 * - every byte arrives, in order.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BaseIOStream } from '../streams/base-iostream.js';
import { buffered, pipes, streamTest, tcp, turns, unixPair, type Transport } from './stream-helpers.js';

const MiB = 1024 * 1024;

/** The write buffer's size and the buffers it holds (a lone one is kept apart from the array of parts). */
function writeBufferOf(stream: BaseIOStream): { size: number; parts: Uint8Array[] } {
  const buffer = (stream as unknown as { writeBuffer: { size: number; single: Uint8Array | null; parts: Uint8Array[] } }).writeBuffer;
  return { size: buffer.size, parts: buffer.single !== null ? [buffer.single] : buffer.parts };
}

function defineFlow(transport: Transport): void {
  const s = suite(`64 MiB through a slow reader over ${transport.name}`);
  s('the reader buffers little, the writer copies nothing, every byte arrives', streamTest(transport, async ({ pair }) => {
    const [w, r] = pair();
    const size = 64 * MiB;
    const pattern = Buffer.alloc(251);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 97 + 13) & 0xff;
    const payload = Buffer.alloc(size, pattern);
    const baseline = process.memoryUsage();

    const written = w.write(payload)!;
    const pending = writeBufferOf(w);
    assert.ok(pending.size > 0 && pending.size < size, 'the kernel took some, the rest waits');
    assert.ok(pending.parts.includes(payload), 'the caller\'s buffer is queued by reference, not copied');

    let offset = 0;
    let maxBuffered = 0;
    let maxExternal = 0;
    let reads = 0;
    while (offset < size) {
      const chunk = await r.readBytes(r.readChunkSize, { partial: true })!;
      assert.ok(chunk.equals(payload.subarray(offset, offset + chunk.length)), `bytes differ at ${offset}`);
      offset += chunk.length;
      maxBuffered = Math.max(maxBuffered, buffered(r));
      if (++reads % 16 === 0) {
        // The slow part: let the loop spin while the reader "works".
        await turns(3);
        maxBuffered = Math.max(maxBuffered, buffered(r));
        maxExternal = Math.max(maxExternal, process.memoryUsage().arrayBuffers - baseline.arrayBuffers);
      }
      // The writer never holds more than what is left of the one payload.
      assert.ok(writeBufferOf(w).size <= size - offset);
    }
    await written;
    if (process.env.GALE_FLOW_REPORT) process.stdout.write(`${transport.name}: ${reads} reads, reader buffered at most ${maxBuffered} B, external +${(maxExternal / MiB).toFixed(1)} MiB\n`);
    assert.is(offset, size);
    assert.not.ok(w.writing());
    assert.ok(maxBuffered <= 2 * r.readChunkSize, `the reader buffered up to ${maxBuffered} bytes`);
    // No ceiling on process memory (it moves with the GC): the by-reference
    // and buffered-bytes checks above are the precise ones; GALE_FLOW_REPORT
    // prints the external memory seen, as evidence.
  }, 60));
  s.run();
}

defineFlow(tcp);
defineFlow(unixPair);
defineFlow(pipes);
