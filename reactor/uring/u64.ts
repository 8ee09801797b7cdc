/**
 * Stores a native address (or any u64 below 2^53) as two u32 words, low
 * word first (little-endian), the way the ring's SQEs and the provided
 * buffers' entries hold them. No Tornado counterpart. The split is
 * `lo32`/`hi32` (../sys/constants.ts), which say why it is not a modulo.
 */
import { hi32, lo32 } from '../sys/constants.js';

/** Writes `value` (0 ≤ value < 2^53, an integer) into `words[at]` (low) and `words[at + 1]` (high). */
export function storeU64(words: Uint32Array, at: number, value: number): void {
  words[at] = lo32(value);
  words[at + 1] = hi32(value);
}
