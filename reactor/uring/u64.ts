/**
 * Stores a native address (or any u64 below 2^53) as two u32 words, low
 * word first (little-endian), the way the ring's SQEs and the provided
 * buffers' entries hold them. No Tornado counterpart.
 *
 * Why not `lo32`/`hi32` (../sys/constants.ts): `value % 2^32` on a number
 * that is not an int32 is a floating-point modulo, which TurboFan compiles
 * to a call into C (fmod); a SEND pays it for every SQE. One division,
 * one floor and one multiply-subtract are inlined.
 */
const TWO_32 = 0x100000000;

/** Writes `value` (0 ≤ value < 2^53, an integer) into `words[at]` (low) and `words[at + 1]` (high). */
export function storeU64(words: Uint32Array, at: number, value: number): void {
  const high = Math.floor(value / TWO_32);
  words[at] = value - high * TWO_32;
  words[at + 1] = high;
}
