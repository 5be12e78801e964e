// Which message goes next, and when: a sequence number for each message of the run, handed out
// until the count is reached, the duration is over or the run is stopped, and (with a rate) not
// before its slot, start + sequence / rate, so the rate holds across all connections together.
import type { Clock } from './clock.js';

export interface SchedulePlan {
  /** Messages in all; undefined: as many as the duration allows. */
  readonly count: number | undefined;
  /** undefined: until the count is reached. */
  readonly durationMs: number | undefined;
  /** Messages per second across all connections; 0: each as soon as the one before on its connection is back. */
  readonly ratePerSecond: number;
}

export interface Schedule {
  /** The next message's sequence number once its time has come; undefined once the run is over. */
  next(): Promise<number | undefined>;
  /** Ends the run: no more messages (a waiting next() resolves undefined at once). */
  stop(): void;
  readonly stopped: boolean;
}

export function createSchedule({ count, durationMs, ratePerSecond }: SchedulePlan, clock: Clock): Schedule {
  const start = clock.now();
  const end = durationMs === undefined ? Infinity : start + durationMs;
  const stopping = new AbortController();
  let issued = 0;
  const over = (at: number) => stopping.signal.aborted || (count !== undefined && issued >= count) || at >= end;

  return {
    async next() {
      if (over(clock.now())) return undefined;
      const slot = ratePerSecond > 0 ? start + (issued * 1000) / ratePerSecond : clock.now();
      if (over(slot)) return undefined;
      const sequence = issued++;
      const wait = slot - clock.now();
      if (wait > 0) await clock.sleep(wait, stopping.signal);
      return stopping.signal.aborted ? undefined : sequence;
    },
    stop() {
      stopping.abort();
    },
    get stopped() {
      return stopping.signal.aborted;
    },
  };
}
