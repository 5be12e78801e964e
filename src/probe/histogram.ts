// Round-trip times for percentiles: a log-linear bucket histogram in the manner of HdrHistogram.
// Fixed memory whatever the run's length (a duration run at a high rate records millions of
// samples), O(1) per record, and a bounded relative error: every value from 2^SUB_BUCKET_BITS µs up
// lands in a bucket no wider than 1/2^SUB_BUCKET_BITS of its lower bound (0.8%); below that each
// microsecond is a bucket of its own. Count, sum, min and max are kept exactly.

/** Sub-buckets per power of two: 2^7 = 128, so a bucket spans at most 0.78% of its values. */
const SUB_BUCKET_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
/** Values are tracked up to 2^37 µs (38 hours); anything longer is recorded as that. */
const HIGHEST_EXPONENT = 36;
const BUCKET_COUNT = (HIGHEST_EXPONENT - SUB_BUCKET_BITS + 2) * SUB_BUCKETS;
const HIGHEST_TRACKED = 2 ** (HIGHEST_EXPONENT + 1) - 1;

export interface LatencySummary {
  readonly count: number;
  /** Milliseconds; all undefined when nothing was recorded. */
  readonly min: number | undefined;
  readonly mean: number | undefined;
  readonly p50: number | undefined;
  readonly p90: number | undefined;
  readonly p99: number | undefined;
  readonly max: number | undefined;
}

export interface LatencyHistogram {
  /** One round trip, in milliseconds (fractions allowed; resolution 1 µs). */
  record(milliseconds: number): void;
  readonly count: number;
  /**
   * The value at quantile `q` (0..1], nearest rank, in milliseconds: the upper end of the bucket
   * holding that rank, never above the largest value recorded, never below the smallest.
   */
  quantile(q: number): number | undefined;
  summary(): LatencySummary;
}

/** floor(log2(n)) of a whole number n >= 1 (beyond 32 bits too). */
function highestBit(n: number): number {
  return n < 0x100000000 ? 31 - Math.clz32(n) : 63 - Math.clz32(Math.floor(n / 0x100000000));
}

/** The bucket of a whole number of microseconds (0..HIGHEST_TRACKED). */
export function bucketIndex(micros: number): number {
  if (micros < SUB_BUCKETS) return micros;
  const shift = highestBit(micros) - SUB_BUCKET_BITS;
  const subBucket = Math.floor(micros / 2 ** shift); // in [SUB_BUCKETS, 2 * SUB_BUCKETS)
  return shift * SUB_BUCKETS + subBucket;
}

/** The largest whole number of microseconds that falls in bucket `index`. */
export function bucketUpperMicros(index: number): number {
  if (index < 2 * SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const subBucket = (index % SUB_BUCKETS) + SUB_BUCKETS;
  return (subBucket + 1) * 2 ** shift - 1;
}

export function createLatencyHistogram(): LatencyHistogram {
  const counts = new Float64Array(BUCKET_COUNT);
  let count = 0;
  let sumMicros = 0;
  let minMicros = Infinity;
  let maxMicros = -Infinity;

  const toMs = (micros: number) => micros / 1000;

  function quantile(q: number): number | undefined {
    if (count === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * count));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += counts[i] as number;
      if (seen >= rank) return toMs(Math.min(maxMicros, Math.max(minMicros, bucketUpperMicros(i))));
    }
    return toMs(maxMicros);
  }

  return {
    record(milliseconds) {
      const micros = Math.min(HIGHEST_TRACKED, Math.max(0, Math.round(milliseconds * 1000)));
      const index = bucketIndex(micros);
      counts[index] = (counts[index] as number) + 1;
      count++;
      sumMicros += micros;
      if (micros < minMicros) minMicros = micros;
      if (micros > maxMicros) maxMicros = micros;
    },
    get count() {
      return count;
    },
    quantile,
    summary() {
      const empty = count === 0;
      return {
        count,
        min: empty ? undefined : toMs(minMicros),
        mean: empty ? undefined : toMs(sumMicros / count),
        p50: quantile(0.5),
        p90: quantile(0.9),
        p99: quantile(0.99),
        max: empty ? undefined : toMs(maxMicros),
      };
    },
  };
}
