import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { createEchoListener, type EchoListener } from './echo/listener.js';
import { createEchoStats } from './echo/stats.js';
import { watchEventLoop } from './http/liveness.js';
import { createSidecar, type Sidecar } from './http/sidecar.js';
import { createLifecycle, type Lifecycle, type LifecycleState } from './lifecycle.js';
import { createMetrics, type Metrics } from './metrics.js';

export interface ServiceDeps {
  readonly logger: Logger;
  readonly version: string;
  readonly now?: () => number;
}

export interface BoundAddresses {
  readonly echo: AddressInfo;
  readonly http: AddressInfo;
}

export interface Service {
  readonly state: LifecycleState;
  readonly metrics: Metrics;
  readonly echo: EchoListener;
  /** Starts the sidecar (readiness 503), then the echo listener (readiness 200). */
  start(): Promise<BoundAddresses>;
  /** The two halves of start(), for callers that need the moment between them. */
  startSidecar(): Promise<AddressInfo>;
  startEcho(): Promise<AddressInfo>;
  /** Graceful shutdown; calling it again returns the same promise. */
  shutdown(reason?: string): Promise<void>;
}

export function createService(config: Config, deps: ServiceDeps): Service {
  const { logger, version } = deps;
  const now = deps.now ?? (() => performance.now());
  const startedAt = now();
  const lifecycle: Lifecycle = createLifecycle((from, to) => logger.info({ event: 'lifecycle', from, to }, `service ${to}`));
  const stats = createEchoStats();
  const eventLoop = watchEventLoop();

  // The listener and the metrics need each other (durations in, totals out): break the cycle with a late binding.
  let recordDuration: (seconds: number) => void = () => {};
  const echo = createEchoListener({
    ...config.echo,
    stats,
    logger: logger.child({ component: 'echo' }),
    now: () => now(),
    recordDuration: (seconds) => recordDuration(seconds),
  });
  const metrics = createMetrics({
    source: { stats, activeConnections: () => echo.activeConnections, byteTotals: () => echo.byteTotals() },
    maxConnections: config.echo.maxConnections,
    version,
  });
  recordDuration = metrics.recordConnectionDuration;

  const ready = () => lifecycle.state === 'ready' && echo.accepting;
  const sidecar: Sidecar = createSidecar({
    ...config.http,
    logger: logger.child({ component: 'http' }),
    metrics,
    health: {
      live: () => eventLoop.live,
      ready,
      detail: () => ({
        status: lifecycle.state,
        ready: ready(),
        version,
        uptimeSeconds: Math.round((now() - startedAt) / 10) / 100,
        eventLoopLagMs: Math.round(eventLoop.lagMs),
        listeners: {
          echo: { ...echo.address, accepting: echo.accepting },
          http: { ...sidecar.address },
        },
        connections: {
          active: echo.activeConnections,
          accepted: stats.accepted,
          rejected: { ...stats.rejected },
          closed: { ...stats.closed },
          pendingWriteBytes: echo.pendingWriteBytes(),
          maxConnections: config.echo.maxConnections,
        },
      }),
    },
  });

  let shutdownPromise: Promise<void> | undefined;

  const drainAndStop = async (reason: string) => {
    const { timeoutMs, delayMs, quietMs } = config.shutdown;
    const deadline = now() + timeoutMs;
    logger.info({ event: 'shutdown_started', reason, delayMs, timeoutMs, activeConnections: echo.activeConnections }, 'shutdown started');
    lifecycle.to('draining');

    // Let load balancers see readiness fail and deregister while we still accept.
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    echo.stopAccepting();
    echo.drain(quietMs);

    const remainingMs = Math.max(0, deadline - now());
    let deadlineTimer: NodeJS.Timeout | undefined;
    const deadlinePassed = new Promise<'deadline'>((resolve) => {
      deadlineTimer = setTimeout(() => resolve('deadline'), remainingMs);
    });
    const outcome = await Promise.race([echo.idle().then(() => 'drained' as const), deadlinePassed]);
    clearTimeout(deadlineTimer);
    if (outcome === 'deadline') {
      logger.warn({ event: 'shutdown_deadline', openConnections: echo.activeConnections }, 'shutdown deadline reached; closing remaining connections');
      echo.closeAll();
      await echo.idle();
    }

    lifecycle.to('stopped');
    eventLoop.stop();
    await sidecar.close();
    logger.info({ event: 'shutdown_complete', outcome }, 'shutdown complete');
  };

  const service: Service = {
    get state() {
      return lifecycle.state;
    },
    metrics,
    echo,
    startSidecar: () => sidecar.listen(),
    async startEcho() {
      const address = await echo.listen();
      lifecycle.to('ready');
      return address;
    },
    async start() {
      try {
        const http = await service.startSidecar();
        const echoAddress = await service.startEcho();
        return { echo: echoAddress, http };
      } catch (error) {
        // Never leave a half-started service behind.
        lifecycle.to('stopped');
        eventLoop.stop();
        echo.stopAccepting();
        await sidecar.close().catch(() => undefined);
        throw error;
      }
    },
    shutdown(reason = 'requested') {
      shutdownPromise ??= drainAndStop(reason);
      return shutdownPromise;
    },
  };
  return service;
}
