// Time for the run loop, injected so that tests can drive it: milliseconds (fractions allowed) and
// a sleep that an AbortSignal cuts short.
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Milliseconds from an arbitrary origin, monotonic, with sub-millisecond resolution. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
};
