// The per-source token buckets as a unit: what counts as one source, the bucket arithmetic, the
// bounded table. (Over real sockets: source-guard.test.ts and source-guard-service.test.ts.)
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSourceRateLimiter, DEFAULT_SOURCE_BUCKETS } from '../../../src/udp/source-rate.js';

const limiter = (seed = 7, buckets = DEFAULT_SOURCE_BUCKETS) => createSourceRateLimiter({ ratePerSecond: 1, burst: 1, seed, buckets, now: () => 0 });

/** The eight groups of an IPv6 address, written out in full. */
const fullForm = (groups: readonly number[]) => groups.map((group) => group.toString(16)).join(':');

/** RFC 5952 text (what the kernel hands dgram): the longest run of two or more zero groups becomes `::`. */
function canonical(groups: readonly number[]): string {
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at === -1) return fullForm(groups);
  return `${fullForm(groups.slice(0, best.at))}::${fullForm(groups.slice(best.at + best.length))}`;
}

describe('what one source is', () => {
  it('an IPv4 address, the same whether it arrives as IPv4 or IPv4-mapped IPv6', () => {
    const rate = limiter();
    expect(rate.bucketOf('::ffff:192.0.2.1')).toBe(rate.bucketOf('192.0.2.1'));
    expect(rate.bucketOf('192.0.2.1')).not.toBe(rate.bucketOf('192.0.2.2'));
  });

  it('an IPv6 /64: every address in it, in canonical or full form, shares one bucket', () => {
    const rate = limiter();
    const group = fc.integer({ min: 0, max: 0xffff });
    const sparse = fc.oneof(fc.constant(0), group); // zero runs, so that `::` lands anywhere
    fc.assert(
      fc.property(fc.array(sparse, { minLength: 4, maxLength: 4 }), fc.array(sparse, { minLength: 4, maxLength: 4 }), fc.array(sparse, { minLength: 4, maxLength: 4 }), (prefix, a, b) => {
        const one = [...prefix, ...a];
        const other = [...prefix, ...b];
        const bucket = rate.bucketOf(canonical(one));
        expect(rate.bucketOf(canonical(other))).toBe(bucket);
        expect(rate.bucketOf(fullForm(one))).toBe(bucket);
        expect(rate.bucketOf(`${canonical(one)}%eth0`)).toBe(bucket);
      }),
      { numRuns: 2000 },
    );
    expect(rate.bucketOf('2001:db8::1')).toBe(rate.bucketOf('2001:db8:0:0:ffff::'));
    expect(rate.bucketOf('::1')).toBe(rate.bucketOf('::'));
  });

  it('different /64s and different IPv4 addresses spread over the table (collisions only by chance)', () => {
    const rate = limiter(12345, 1024);
    const used = new Set<number>();
    for (let i = 0; i < 512; i++) used.add(rate.bucketOf(`2001:db8:${i.toString(16)}::1`));
    // 512 sources in 1024 buckets: about 400 distinct buckets expected by chance; a broken hash gives a few.
    expect(used.size).toBeGreaterThan(330);
    const v4 = new Set<number>();
    for (let i = 0; i < 512; i++) v4.add(rate.bucketOf(`10.0.${i >> 8}.${i & 255}`));
    expect(v4.size).toBeGreaterThan(330);
  });

  it('any text at all gives a bucket in the table, never a throw', () => {
    const rate = limiter(9, 64);
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (text) => {
        const bucket = rate.bucketOf(text);
        expect(Number.isInteger(bucket) && bucket >= 0 && bucket < 64).toBe(true);
      }),
      { numRuns: 5000 },
    );
    for (const odd of ['', ':', '::::', '1.2.3.4.5.6', '999.999.999.999', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'x']) expect(rate.bucketOf(odd)).toBeLessThan(64);
  });

  it('which sources share a bucket depends on a per-process seed', () => {
    const a = limiter(1);
    const b = limiter(2);
    const sources = Array.from({ length: 64 }, (_, i) => `198.51.100.${i}`);
    expect(sources.map((s) => a.bucketOf(s))).not.toEqual(sources.map((s) => b.bucketOf(s)));
  });
});

describe('token bucket', () => {
  it('grants the burst, then the rate; never more than the burst after a quiet spell; the clock going back grants nothing', () => {
    let clock = 1000;
    const rate = createSourceRateLimiter({ ratePerSecond: 100, burst: 3, now: () => clock, seed: 3 });
    const take = (n: number) => Array.from({ length: n }, () => rate.admit('203.0.113.7')).filter(Boolean).length;
    expect(take(10)).toBe(3);
    clock += 25; // 2.5 tokens
    expect(take(10)).toBe(2);
    clock += 5; // 0.5 + 0.5 = 1 token
    expect(take(10)).toBe(1);
    clock -= 500;
    expect(take(10)).toBe(0);
    clock += 10_000;
    expect(take(10)).toBe(3);
  });

  it('holds a sustained rate over a long run within one token of rate × time + burst', () => {
    let clock = 0;
    const rate = createSourceRateLimiter({ ratePerSecond: 1000, burst: 50, now: () => clock });
    let granted = 0;
    for (let step = 0; step < 100_000; step++) {
      clock += 0.1; // offered at 10,000/s for 10 s
      if (rate.admit('2001:db8::42')) granted++;
    }
    expect(granted).toBeGreaterThanOrEqual(1000 * 10 + 50 - 1);
    expect(granted).toBeLessThanOrEqual(1000 * 10 + 50);
  });

  it('rejects nonsense at construction', () => {
    expect(() => createSourceRateLimiter({ ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
    expect(() => createSourceRateLimiter({ ratePerSecond: 1, burst: 0.5 })).toThrow(RangeError);
    expect(() => createSourceRateLimiter({ ratePerSecond: 1, burst: 1, buckets: 1000 })).toThrow(RangeError);
    expect(() => createSourceRateLimiter({ ratePerSecond: Number.NaN, burst: 1 })).toThrow(RangeError);
  });
});
