// A millisecond clock for the per-datagram path. Reading performance.now() or Date.now() costs about
// 50 ns and allocates (the double comes back boxed), once per datagram. This clock reads the real one
// at most once per `resolutionMs` while it is being read, and not at all while nobody reads it: one
// timer, re-armed with refresh() (no new timer), which lapses after a quiet tick. The value lags the
// real time by at most about one resolution (plus how late the event loop runs timers), never leads it.

export const DEFAULT_CLOCK_RESOLUTION_MS = 10;

export interface CoarseClock {
  /** Milliseconds, monotonic, from the last tick (or read now if the clock was idle). */
  now(): number;
}

export interface CoarseClockOptions {
  readonly resolutionMs?: number;
  /** The real clock (default performance.now). */
  readonly read?: () => number;
}

export function createCoarseClock({ resolutionMs = DEFAULT_CLOCK_RESOLUTION_MS, read = () => performance.now() }: CoarseClockOptions = {}): CoarseClock {
  if (!(Number.isFinite(resolutionMs) && resolutionMs >= 1)) throw new RangeError(`coarse clock: resolutionMs must be at least 1, got ${resolutionMs}`);
  let current = read();
  let ticking = false;
  let readSinceTick = false;
  // One timer for the clock's life, made at the first read; refresh() re-arms it, also after it has
  // fired (a cleared timer cannot be re-armed, so it is never cleared). unref: never keeps the process alive.
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (readSinceTick) {
      readSinceTick = false;
      current = read();
      timer?.refresh();
    } else {
      ticking = false; // quiet: let the timer lapse; the next now() reads the real clock
    }
  };
  return {
    now() {
      if (!ticking) {
        ticking = true;
        current = read();
        if (timer) timer.refresh();
        else timer = setTimeout(tick, resolutionMs).unref();
      }
      readSinceTick = true;
      return current;
    },
  };
}
