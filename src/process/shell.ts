// The one start and shutdown sequence of a process that serves echo clients: the single process
// and the cluster primary each hand it only what they start and drain (a Workload).
//
//   start:    sidecar listening (readiness 503) -> workload started -> ready (readiness 200)
//   shutdown: draining (readiness 503) -> SHUTDOWN_DELAY_MS, still accepting -> workload drained
//             by the deadline -> stopped -> sidecar closed (answering to the end)
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import { StartError } from '../listeners/start-error.js';
import type { MetricsRenderer } from '../metrics/exposition.js';
import type { ConnectionsSource } from '../sidecar/connections-route.js';
import { createSidecar, type Sidecar } from '../sidecar/server.js';
import { watchEventLoop } from './event-loop.js';
import { createLifecycle, type LifecycleState } from './lifecycle.js';

/**
 * After the drain, how long the sidecar may take to close: in-flight scrapes finish in
 * milliseconds; only a client holding a connection open without a request needs more, and
 * waiting for it would only delay the exit. Never past the deadline, but at least the minimum.
 */
const SIDECAR_CLOSE_MAX_GRACE_MS = 1000;
const SIDECAR_CLOSE_MIN_GRACE_MS = 100;

/** What a process shell runs: one process's listeners, or a cluster's workers. */
export interface Workload {
  /** Starts serving; resolves with the echo address. Rejects with a StartError naming what could not start. */
  start(): Promise<AddressInfo>;
  /** Undoes a start that failed part-way. */
  abort(): Promise<void>;
  /** Serving and able to take new clients (a memory guard that refuses says no). */
  ready(): boolean;
  /** Stops taking clients, lets open ones finish and closes what is left at `deadline` (a now() time); resolves with what to log. */
  drain(deadline: number): Promise<Record<string, unknown>>;
  /** Re-reads what can be re-read (SIGHUP); says what it did. */
  reload(): Promise<string>;
  /** Its part of /healthz: `listeners` (merged with the sidecar's address) and anything else. */
  status(): { readonly listeners: Record<string, unknown> } & Record<string, unknown>;
  /** Context for the shutdown_started log line. */
  describe(): Record<string, unknown>;
  /** Its open echo connections, for /connections. */
  readonly connections: ConnectionsSource;
}

export interface BoundAddresses {
  readonly echo: AddressInfo;
  readonly http: AddressInfo;
}

/** What main runs: the one-process service or the primary of a multi-process one. */
export interface Runnable {
  readonly state: LifecycleState;
  /** Starts the sidecar (readiness 503), then the workload (readiness 200); calling it again returns the same promise. */
  start(): Promise<BoundAddresses>;
  /** Graceful shutdown; calling it again returns the same promise. */
  shutdown(reason?: string): Promise<void>;
  /** Re-reads what can be re-read (SIGHUP): TLS certificates and keys; open connections keep theirs. Says what it reloaded. */
  reload(): Promise<string>;
  /** The state /healthz shows. */
  status(): Record<string, unknown>;
}

export interface ProcessShellDeps {
  readonly config: Pick<Config, 'http' | 'shutdown'>;
  readonly logger: Logger;
  readonly version: string;
  readonly now: () => number;
  readonly workload: Workload;
  /** What /metrics serves. */
  readonly metrics: MetricsRenderer;
  /** Where the sidecar registers its own metrics. */
  readonly registry: Registry;
}

export function createProcessShell({ config, logger, version, now, workload, metrics, registry }: ProcessShellDeps): Runnable {
  const startedAt = now();
  const lifecycle = createLifecycle((from, to) => logger.info({ event: 'lifecycle', from, to }, `service ${to}`));
  const eventLoop = watchEventLoop();

  const ready = () => lifecycle.state === 'ready' && workload.ready();
  const status = () => {
    const { listeners, ...rest } = workload.status();
    return {
      status: lifecycle.state,
      ready: ready(),
      version,
      uptimeSeconds: Math.round((now() - startedAt) / 10) / 100,
      eventLoopLagMs: Math.round(eventLoop.lagMs),
      listeners: { ...listeners, http: { ...sidecar.address } },
      ...rest,
    };
  };
  const sidecar: Sidecar = createSidecar({
    ...config.http,
    logger: logger.child({ component: 'http' }),
    metrics,
    registry,
    connections: workload.connections,
    health: { live: () => eventLoop.live, ready, detail: status },
  });

  let startPromise: Promise<BoundAddresses> | undefined;
  let shutdownPromise: Promise<void> | undefined;

  const start = async (): Promise<BoundAddresses> => {
    try {
      const http = await sidecar.listen().catch((error: unknown) => {
        throw new StartError({ what: 'sidecar (health, metrics)', host: config.http.host, port: config.http.port, origin: config.http.origin }, error);
      });
      const echo = await workload.start();
      lifecycle.to('ready');
      return { echo, http };
    } catch (error) {
      // Never leave a half-started process behind.
      lifecycle.to('stopped');
      eventLoop.stop();
      await workload.abort();
      await sidecar.close().catch(() => undefined);
      throw error;
    }
  };

  const drainAndStop = async (reason: string) => {
    const { timeoutMs, delayMs } = config.shutdown;
    const deadline = now() + timeoutMs;
    logger.info({ event: 'shutdown_started', reason, delayMs, timeoutMs, ...workload.describe() }, 'shutdown started');
    lifecycle.to('draining');
    // A signal during start-up: let the listeners finish binding (readiness stays 503, the
    // lifecycle is already past 'ready'), so that the drain below also stops what start bound.
    if (startPromise) await startPromise.catch(() => undefined);
    // Let load balancers see readiness fail and deregister while we still accept.
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const outcome = await workload.drain(deadline);

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
    logger.info({ event: 'shutdown_complete', ...outcome, sidecarClosed }, 'shutdown complete');
  };

  return {
    get state() {
      return lifecycle.state;
    },
    start() {
      startPromise ??= start();
      return startPromise;
    },
    shutdown(reason = 'requested') {
      shutdownPromise ??= drainAndStop(reason);
      return shutdownPromise;
    },
    reload: () => workload.reload(),
    status,
  };
}
