// Liveness = the event loop keeps turning. A timer measures how late it fires;
// a loop that was blocked longer than the limit is reported not live until it catches up.

export interface EventLoopWatch {
  readonly lagMs: number;
  readonly live: boolean;
  stop(): void;
}

export function watchEventLoop({ intervalMs = 500, maxLagMs = 5000, now = () => performance.now() } = {}): EventLoopWatch {
  let lagMs = 0;
  let expected = now() + intervalMs;
  const timer = setInterval(() => {
    const t = now();
    lagMs = Math.max(0, t - expected);
    expected = t + intervalMs;
  }, intervalMs);
  timer.unref();
  return {
    get lagMs() {
      return lagMs;
    },
    get live() {
      return lagMs <= maxLagMs;
    },
    stop: () => clearInterval(timer),
  };
}
