import type { Logger } from 'pino';
import type { Config } from './config.js';
import { createEchoListener, type EchoListener } from './echo/listener.js';
import { createEchoStats, type EchoStats } from './echo/stats.js';
import { createMetrics, type Metrics } from './metrics.js';

/** One process's echo listener with its counters and metrics: the whole service, or one worker. */
export interface EchoNode {
  readonly stats: EchoStats;
  readonly echo: EchoListener;
  readonly metrics: Metrics;
}

export function createEchoNode(
  echoConfig: Config['echo'],
  { logger, version, now }: { logger: Logger; version: string; now: () => number },
): EchoNode {
  const stats = createEchoStats();
  // The listener and the metrics need each other (durations in, totals out): break the cycle with a late binding.
  let recordDuration: (seconds: number) => void = () => {};
  const echo = createEchoListener({
    ...echoConfig,
    stats,
    logger: logger.child({ component: 'echo' }),
    now,
    recordDuration: (seconds) => recordDuration(seconds),
  });
  const metrics = createMetrics({
    source: { stats, activeConnections: () => echo.activeConnections, byteTotals: () => echo.byteTotals() },
    maxConnections: echoConfig.maxConnections,
    version,
  });
  recordDuration = metrics.recordConnectionDuration;
  return { stats, echo, metrics };
}
