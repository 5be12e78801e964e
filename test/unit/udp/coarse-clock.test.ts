// The rate limiter's clock: reads the real clock at most once per tick while in use, lags it by at
// most a tick, never leads it, and goes quiet (no timer firing) when nobody reads it. Fake timers
// stand in for the passing of time; the real clock is a counter the test moves.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCoarseClock } from '../../../src/udp/coarse-clock.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function realClock() {
  const state = { ms: 1000, reads: 0 };
  return { state, read: () => (state.reads++, state.ms) };
}

describe('coarse clock', () => {
  it('reads the real clock once for any number of reads within a tick', () => {
    const { state, read } = realClock();
    const clock = createCoarseClock({ resolutionMs: 10, read });
    const readsAtCreation = state.reads;
    for (let i = 0; i < 10_000; i++) expect(clock.now()).toBe(1000);
    expect(state.reads - readsAtCreation).toBe(1);
  });

  it('follows the real clock tick by tick while read, lagging by less than a tick and never ahead', () => {
    const { state, read } = realClock();
    const clock = createCoarseClock({ resolutionMs: 10, read });
    clock.now();
    for (let step = 0; step < 200; step++) {
      state.ms += 1;
      vi.advanceTimersByTime(1);
      const seen = clock.now();
      expect(seen).toBeLessThanOrEqual(state.ms);
      expect(state.ms - seen).toBeLessThan(10);
    }
    expect(clock.now()).toBeGreaterThan(1000 + 180);
  });

  it('stops its timer after a quiet tick, and reads the real clock afresh on the next read', () => {
    const { state, read } = realClock();
    const clock = createCoarseClock({ resolutionMs: 10, read });
    clock.now();
    vi.advanceTimersByTime(10); // read since the last tick: one more real read
    vi.advanceTimersByTime(10); // quiet tick: the timer lapses
    const readsWhenQuiet = state.reads;
    expect(vi.getTimerCount()).toBe(0);
    state.ms += 60_000;
    vi.advanceTimersByTime(60_000);
    expect(state.reads).toBe(readsWhenQuiet); // nothing ticked while idle
    expect(clock.now()).toBe(state.ms); // a fresh read, not a minute stale
    expect(vi.getTimerCount()).toBe(1);
  });

  it('rejects a resolution below 1 ms', () => {
    expect(() => createCoarseClock({ resolutionMs: 0 })).toThrow(RangeError);
  });
});
