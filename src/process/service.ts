import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/parse.js';
import { drainEcho } from '../listeners/drain.js';
import { createEchoNode, type EchoGroup } from '../listeners/build.js';
import { resolveMemoryBudget } from '../overload/memory.js';
import { watchEventLoop } from './event-loop.js';
import { createSidecar, type Sidecar } from '../sidecar/server.js';
import { createLifecycle, type Lifecycle, type LifecycleState } from './lifecycle.js';
import type { Metrics } from '../metrics/exposition.js';
import { StartError, type ListenTarget } from '../listeners/start-error.js';
import { registerSignalMetrics, type SignalCounts } from './signals.js';
import type { TlsMaterial } from '../tls/index.js';

/**
 * After the drain, how long the sidecar may take to close: in-flight scrapes finish in
 * milliseconds; only a client holding a connection open without a request needs more, and
 * waiting for it would only delay the exit. Never past the deadline, but at least the minimum.
 */
const SIDECAR_CLOSE_MAX_GRACE_MS = 1000;
const SIDECAR_CLOSE_MIN_GRACE_MS = 100;

export interface ServiceDeps {
  readonly logger: Logger;
  readonly version: string;
  readonly now?: () => number;
  /** Certificate material already loaded and checked (else the tls listeners read the files). */
  readonly tlsMaterial?: TlsMaterial;
  /** Signals received (counted by the entry point), exported as echo_signals_received_total. */
  readonly signalCounts?: SignalCounts;
}

export interface BoundAddresses {
  readonly echo: AddressInfo;
  readonly http: AddressInfo;
}

export { StartError } from '../listeners/start-error.js';

export const sidecarTarget = (http: Config['http']): ListenTarget => ({ what: 'sidecar (health, metrics)', host: http.host, port: http.port, origin: http.origin });

/** What main runs: the one-process service or the primary of a multi-process one. */
export interface Runnable {
  readonly state: LifecycleState;
  start(): Promise<BoundAddresses>;
  /** Graceful shutdown; calling it again returns the same promise. */
  shutdown(reason?: string): Promise<void>;
  /** Re-reads what can be re-read (SIGHUP): TLS certificates and keys; open connections keep theirs. Says what it reloaded. */
  reload(): Promise<string>;
  /** The state /healthz shows. */
  status(): Record<string, unknown>;
}

export interface Service extends Runnable {
  readonly metrics: Metrics;
  readonly echo: EchoGroup;
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
  const eventLoop = watchEventLoop();
  const node = createEchoNode(config, { logger, version, now: () => now(), tlsMaterial: deps.tlsMaterial, memoryBudgetBytes: resolveMemoryBudget(config.memoryBudget) });
  const { echo, metrics } = node;
  if (deps.signalCounts) registerSignalMetrics(metrics.registry, deps.signalCounts);

  // While the memory guard refuses connections a load balancer should send them elsewhere.
  const ready = () => lifecycle.state === 'ready' && echo.accepting && !node.overloaded();
  const status = () => ({
    status: lifecycle.state,
    ready: ready(),
    version,
    uptimeSeconds: Math.round((now() - startedAt) / 10) / 100,
    eventLoopLagMs: Math.round(eventLoop.lagMs),
    listeners: {
      echo: { ...echo.address, accepting: echo.accepting },
      http: { ...sidecar.address },
      all: node.listenerDetail(),
    },
    connections: {
      active: echo.activeConnections,
      ...node.connectionCounts(),
      pendingWriteBytes: echo.pendingWriteBytes(),
      maxConnections: config.echo.maxConnections,
    },
    memory: node.memoryDetail(),
  });
  const sidecar: Sidecar = createSidecar({
    ...config.http,
    logger: logger.child({ component: 'http' }),
    metrics,
    registry: metrics.registry,
    health: { live: () => eventLoop.live, ready, detail: status },
  });

  let shutdownPromise: Promise<void> | undefined;
  let startPromise: Promise<BoundAddresses> | undefined;

  const drainAndStop = async (reason: string) => {
    const { timeoutMs, delayMs, quietMs } = config.shutdown;
    const deadline = now() + timeoutMs;
    logger.info({ event: 'shutdown_started', reason, delayMs, timeoutMs, activeConnections: echo.activeConnections }, 'shutdown started');
    lifecycle.to('draining');
    // A signal during start-up: let the listeners finish binding (readiness stays 503, the
    // lifecycle is already past 'ready'), so that stopping below also stops what start bound.
    if (startPromise) await startPromise.catch(() => undefined);

    // Let load balancers see readiness fail and deregister while we still accept.
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const outcome = await drainEcho(echo, { quietMs, deadline, now, logger });
    node.guard?.stop();

    lifecycle.to('stopped');
    eventLoop.stop();
    // The sidecar answers to the end, but a client holding an HTTP connection open without a
    // complete request would hold close() for the sidecar's request timeout: give it a short
    // grace, never past the deadline, then cut what is left.
    const closeGraceMs = Math.max(SIDECAR_CLOSE_MIN_GRACE_MS, Math.min(SIDECAR_CLOSE_MAX_GRACE_MS, deadline - now()));
    const sidecarClosed = await sidecar.close(closeGraceMs).catch((error: unknown) => {
      logger.warn({ err: error, event: 'sidecar_close_failed' }, 'sidecar close failed');
      return false;
    });
    logger.info({ event: 'shutdown_complete', outcome, sidecarClosed }, 'shutdown complete');
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
    start() {
      startPromise ??= (async () => {
        try {
          const http = await service.startSidecar().catch((error: unknown) => {
            throw new StartError(sidecarTarget(config.http), error);
          });
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
      })();
      return startPromise;
    },
    shutdown(reason = 'requested') {
      shutdownPromise ??= drainAndStop(reason);
      return shutdownPromise;
    },
    async reload() {
      if (!config.tls) return 'nothing to reload (no tls listener)';
      await node.reloadTls();
      return 'TLS certificates re-read';
    },
    status,
  };
  return service;
}
