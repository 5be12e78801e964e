// The bytes the probe sends: every message a different window of one pseudo-random pattern, so an
// echo that repeats, drops, reorders or mixes up messages (or connections) does not match.
import type { Mismatch } from './errors.js';

/** The pattern's period: a prime, so consecutive messages start at distinct offsets for a long time. */
const PERIOD = 65_521;
/** How far apart consecutive messages start (also a prime, smaller than PERIOD). */
const STRIDE = 4_099;
const PREVIEW_CHARS = 32;

export interface MessagePattern {
  readonly size: number;
  /** Message `sequence`'s bytes: a view into the pattern, not a copy (never written to). */
  message(sequence: number): Buffer;
}

/** Xorshift bytes: deterministic, so a failure can be reproduced. */
function patternBytes(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let x = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** Messages of `size` bytes (memory: size + 64 KiB, whatever the count). */
export function createMessagePattern(size: number): MessagePattern {
  const period = patternBytes(PERIOD);
  const repeated = Buffer.allocUnsafe(size + PERIOD);
  for (let offset = 0; offset < repeated.length; offset += PERIOD) period.copy(repeated, offset, 0, Math.min(PERIOD, repeated.length - offset));
  return {
    size,
    message(sequence) {
      const start = (sequence % PERIOD) * STRIDE % PERIOD;
      return repeated.subarray(start, start + size);
    },
  };
}

/** Index of the first byte where `actual` differs from `expected` over the length they share; -1 when equal there. */
export function firstDifference(expected: Uint8Array, actual: Uint8Array): number {
  const length = Math.min(expected.length, actual.length);
  for (let i = 0; i < length; i++) if (expected[i] !== actual[i]) return i;
  return -1;
}

/** Bytes as a reader can see them in a report: printable ASCII kept, the rest '.'. */
export function printable(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length && i < PREVIEW_CHARS; i++) {
    const byte = bytes[i] as number;
    text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
  }
  return text;
}

/** The Mismatch of `actual` arriving at `offset` of a message whose bytes from there are `expected`. */
export function describeMismatch(connection: number, message: number, offset: number, expected: Uint8Array, actual: Uint8Array): Mismatch {
  const at = firstDifference(expected, actual);
  const index = at === -1 ? Math.min(expected.length, actual.length) : at;
  return { connection, message, offset: offset + index, expected: expected[index], actual: actual[index], received: printable(actual.subarray(index)) };
}
