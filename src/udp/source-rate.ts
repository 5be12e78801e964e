// Per-source rate limit for the UDP echo: a token bucket per source, so that one source (or one
// forged source: the victim of a reflection, or another echo service answering us) gets at most
// `ratePerSecond` echoes a second after a burst of `burst`. The buckets live in a fixed table indexed by
// a seeded hash of the source, so memory is bounded whatever the number of sources and a datagram
// allocates nothing; two sources that hash alike share a bucket (and each other's limit).
//
// A source is an IPv4 address (an IPv4-mapped IPv6 one counts as that IPv4 address) or an IPv6 /64:
// one host owns a whole /64, so keying on the full IPv6 address would give it 2^64 buckets.
import { randomInt } from 'node:crypto';
import { createCoarseClock } from './coarse-clock.js';

/** 2^14 buckets: 256 KiB (two Float64Arrays); with 100 active sources, a given one shares its bucket with probability 0.6%. */
export const DEFAULT_SOURCE_BUCKETS = 16_384;

export interface SourceRateLimiterOptions {
  /** Echoes a second each source may have, sustained. */
  readonly ratePerSecond: number;
  /** Echoes a source may have at once after being quiet (the bucket's size). */
  readonly burst: number;
  /** Size of the bucket table, a power of two. Default 16384. */
  readonly buckets?: number;
  /**
   * Monotonic milliseconds, read for every datagram. Default: a coarse clock (coarse-clock.ts) that
   * reads performance.now() at most every 10 ms, since a real clock read per datagram costs ~50 ns
   * and allocates; it lags by up to one tick, so refills come late, never early.
   */
  readonly now?: () => number;
  /** Hash seed; default random per process, so which sources share a bucket cannot be planned. */
  readonly seed?: number;
}

export interface SourceRateLimiter {
  /** Takes a token from `address`'s bucket: true = echo it, false = over its rate. */
  admit(address: string): boolean;
  /** The bucket `address` uses (for tests and diagnostics). */
  bucketOf(address: string): number;
  readonly buckets: number;
}

const COLON = 58;
const DOT = 46;

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function createSourceRateLimiter(options: SourceRateLimiterOptions): SourceRateLimiter {
  const { ratePerSecond, burst } = options;
  const size = options.buckets ?? DEFAULT_SOURCE_BUCKETS;
  if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) throw new RangeError(`source rate limiter: ratePerSecond must be positive, got ${ratePerSecond}`);
  if (!(Number.isFinite(burst) && burst >= 1)) throw new RangeError(`source rate limiter: burst must be at least 1, got ${burst}`);
  if (!Number.isSafeInteger(size) || size < 1 || (size & (size - 1)) !== 0 || size > 1 << 24) {
    throw new RangeError(`source rate limiter: buckets must be a power of two up to 2^24, got ${size}`);
  }
  const now = options.now ?? createCoarseClock().now;
  const seed = (options.seed ?? randomInt(0, 2 ** 32 - 1)) >>> 0;
  const mask = size - 1;
  const perMs = ratePerSecond / 1000;
  const tokens = new Float64Array(size).fill(burst);
  const refilledAt = new Float64Array(size).fill(now());
  const groups = new Uint16Array(8); // scratch for one IPv6 address, reused

  /** Group `index` of the address just parsed into `groups`: `count` groups, the `::` (if any) before group `gapAt`. */
  const groupAt = (index: number, count: number, gapAt: number, after: number) => {
    if (gapAt === -1) return index < count ? (groups[index] as number) : 0;
    if (index < gapAt) return groups[index] as number;
    if (index >= 8 - after) return groups[gapAt + index - (8 - after)] as number;
    return 0;
  };

  /**
   * One pass over the address as the kernel wrote it: IPv4 (or an IPv4-mapped IPv6 address) is keyed
   * by its 32 bits, read from the dotted quad after the last colon; IPv6 by its first four groups
   * (the /64), with `::` expanded. No indexOf or split: each would be a call into the runtime or an allocation.
   */
  const bucketOf = (address: string) => {
    let count = 0; // IPv6 groups read so far
    let gapAt = -1; // where the `::` was
    let group = 0;
    let digits = 0;
    let value = 0; // IPv4 bits after the last colon
    let octet = 0;
    let dotted = false;
    let previous = 0;
    for (let i = 0; i < address.length; i++) {
      const c = address.charCodeAt(i);
      let digit: number;
      if (c >= 48 && c <= 57) {
        digit = c - 48;
        octet = (octet * 10 + digit) & 0xffff;
      } else if (c >= 97 && c <= 102) {
        digit = c - 87;
      } else if (c >= 65 && c <= 70) {
        digit = c - 55;
      } else {
        if (c === DOT) {
          value = (value << 8) | (octet & 0xff);
          octet = 0;
          dotted = true;
        } else if (c === COLON) {
          if (digits > 0) {
            if (count < 8) groups[count++] = group;
            group = 0;
            digits = 0;
          } else if (previous === COLON && gapAt === -1) {
            gapAt = count;
          }
          value = 0;
          octet = 0;
        } else {
          break; // % (a zone index, fe80::1%eth0) or anything else ends the address
        }
        previous = c;
        continue;
      }
      group = ((group << 4) | digit) & 0xffff;
      digits++;
      previous = c;
    }
    if (dotted) return mix(((value << 8) | (octet & 0xff)) ^ seed) & mask;
    if (digits > 0 && count < 8) groups[count++] = group;
    const after = gapAt === -1 ? 0 : count - gapAt; // groups written after the ::
    const high = ((groupAt(0, count, gapAt, after) << 16) | groupAt(1, count, gapAt, after)) >>> 0;
    const low = ((groupAt(2, count, gapAt, after) << 16) | groupAt(3, count, gapAt, after)) >>> 0;
    return mix(((mix(high ^ seed) + low) >>> 0) ^ 0x9e3779b9) & mask;
  };

  return {
    admit(address) {
      const bucket = bucketOf(address);
      const at = now();
      let available = tokens[bucket] as number;
      const elapsed = at - (refilledAt[bucket] as number);
      if (elapsed > 0) {
        available += elapsed * perMs;
        if (available > burst) available = burst;
        refilledAt[bucket] = at;
      }
      if (available < 1) {
        tokens[bucket] = available;
        return false;
      }
      tokens[bucket] = available - 1;
      return true;
    },
    bucketOf,
    buckets: size,
  };
}
