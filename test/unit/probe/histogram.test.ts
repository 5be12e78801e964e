// The probe's round-trip histogram: bucket layout, bounded relative error, nearest-rank
// percentiles that are ordered and never outside the recorded range, fixed memory.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bucketIndex, bucketUpperMicros, createLatencyHistogram } from '../../../src/probe/histogram.js';

/** Exact nearest-rank quantile of sorted values. */
const exactQuantile = (sorted: number[], q: number) => sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1] as number;

describe('bucket layout', () => {
  it('every microsecond below 256 is a bucket of its own', () => {
    for (let micros = 0; micros < 256; micros++) {
      expect(bucketIndex(micros)).toBe(micros);
      expect(bucketUpperMicros(micros)).toBe(micros);
    }
  });

  it('buckets are contiguous and ordered, each holding the values up to its upper bound, within 1/128 of its lower bound', () => {
    let previousUpper = 255;
    for (let index = 256; index < 31 * 128; index++) {
      const lower = previousUpper + 1;
      const upper = bucketUpperMicros(index);
      expect(bucketIndex(lower)).toBe(index);
      expect(bucketIndex(upper)).toBe(index);
      expect((upper - lower + 1) / lower).toBeLessThanOrEqual(1 / 128);
      previousUpper = upper;
    }
    expect(previousUpper).toBe(2 ** 37 - 1); // 38 hours in microseconds: the last bucket's end
  });

  it('property: a value lies in its bucket, and the bucket is at most 0.79% wider than the value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 37 - 1 }), (micros) => {
        const index = bucketIndex(micros);
        const upper = bucketUpperMicros(index);
        const lower = index === 0 ? 0 : bucketUpperMicros(index - 1) + 1;
        expect(micros).toBeGreaterThanOrEqual(lower);
        expect(micros).toBeLessThanOrEqual(upper);
        expect(upper - micros).toBeLessThanOrEqual(Math.max(0, micros / 128));
      }),
    );
  });
});

describe('createLatencyHistogram', () => {
  it('nothing recorded: a count of 0 and no values', () => {
    expect(createLatencyHistogram().summary()).toEqual({ count: 0, min: undefined, mean: undefined, p50: undefined, p90: undefined, p99: undefined, max: undefined });
  });

  it('one value: every percentile is that value, exactly', () => {
    const histogram = createLatencyHistogram();
    histogram.record(1.234);
    expect(histogram.summary()).toEqual({ count: 1, min: 1.234, mean: 1.234, p50: 1.234, p90: 1.234, p99: 1.234, max: 1.234 });
  });

  it('1..1000 ms: percentiles within 0.8% of the exact ones; min, max and mean exact', () => {
    const histogram = createLatencyHistogram();
    for (let ms = 1000; ms >= 1; ms--) histogram.record(ms);
    const summary = histogram.summary();
    expect(summary).toMatchObject({ count: 1000, min: 1, max: 1000, mean: 500.5 });
    for (const [q, key] of [[0.5, 'p50'], [0.9, 'p90'], [0.99, 'p99']] as const) {
      const exact = q * 1000;
      expect(summary[key]).toBeGreaterThanOrEqual(exact);
      expect(summary[key]).toBeLessThanOrEqual(exact * 1.008);
    }
  });

  it('property: p50 <= p90 <= p99 <= max, each >= min and within 0.8% (or 1 µs) above the exact nearest-rank value', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 300 }), (values) => {
        const histogram = createLatencyHistogram();
        for (const value of values) histogram.record(value);
        const micros = values.map((value) => Math.round(value * 1000)).sort((a, b) => a - b);
        const { min, p50, p90, p99, max } = histogram.summary() as Required<{ [K in 'min' | 'p50' | 'p90' | 'p99' | 'max']: number }>;
        expect(min).toBe((micros[0] as number) / 1000);
        expect(max).toBe((micros[micros.length - 1] as number) / 1000);
        expect(min).toBeLessThanOrEqual(p50);
        expect(p50).toBeLessThanOrEqual(p90);
        expect(p90).toBeLessThanOrEqual(p99);
        expect(p99).toBeLessThanOrEqual(max);
        for (const [q, value] of [[0.5, p50], [0.9, p90], [0.99, p99]] as const) {
          const exact = exactQuantile(micros, q);
          const reported = Math.round(value * 1000); // back to the whole microseconds it was made of
          expect(reported).toBeGreaterThanOrEqual(exact);
          expect(reported - exact).toBeLessThanOrEqual(Math.max(1, exact / 128));
        }
      }),
    );
  });

  it('values beyond the tracked range (38 hours) are recorded as its end; negative ones as 0', () => {
    const histogram = createLatencyHistogram();
    histogram.record(-5);
    histogram.record(10 ** 12);
    expect(histogram.summary()).toMatchObject({ count: 2, min: 0, max: (2 ** 37 - 1) / 1000 });
  });

  it('a million values: all counted, the median where it belongs (counts in a fixed array, no samples kept)', () => {
    const histogram = createLatencyHistogram();
    for (let i = 0; i < 1_000_000; i++) histogram.record((i % 5000) / 100);
    expect(histogram.count).toBe(1_000_000);
    expect(histogram.quantile(0.5)).toBeCloseTo(25, 0);
  });
});
