// The service in one process: its listeners, their metrics and the memory guard, run by the shell.
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import { createProcessListeners } from '../listeners/build.js';
import { drainListeners } from '../listeners/drain.js';
import { registerBuildInfo } from '../metrics/build-info.js';
import { createRenderer } from '../metrics/exposition.js';
import { registerRuntimeMetrics } from '../metrics/runtime.js';
import { resolveMemoryBudget } from '../overload/memory.js';
import type { TlsMaterial } from '../tls/index.js';
import { createProcessShell, type Runnable, type Workload } from './shell.js';
import { registerSignalMetrics, type SignalCounts } from './signals.js';

export interface ServiceDeps {
  readonly logger: Logger;
  readonly version: string;
  readonly now?: () => number;
  /** Where banner templates read {env:NAME} (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Certificate material already loaded and checked (else the tls listeners read the files). */
  readonly tlsMaterial?: TlsMaterial | undefined;
  /** Signals received (counted by the entry point), exported as echo_signals_received_total. */
  readonly signalCounts?: SignalCounts;
  /** Where every metric is registered (default: a registry of its own). */
  readonly registry?: Registry;
}

export function createService(config: Config, deps: ServiceDeps): Runnable {
  const { logger, version } = deps;
  const now = deps.now ?? (() => performance.now());
  const registry = deps.registry ?? new Registry();
  const listeners = createProcessListeners(config, {
    logger,
    now,
    registry,
    env: deps.env ?? process.env,
    tlsMaterial: deps.tlsMaterial,
    memoryBudgetBytes: resolveMemoryBudget(config.memoryBudget),
  });
  const { group } = listeners;
  registerBuildInfo(registry, version);
  registerRuntimeMetrics(registry, config.metrics);
  if (deps.signalCounts) registerSignalMetrics(registry, deps.signalCounts);

  const workload: Workload = {
    start: () => listeners.listen(),
    abort: async () => group.stopAccepting(),
    // While the memory guard refuses connections a load balancer should send them elsewhere.
    ready: () => group.accepting && !listeners.overloaded(),
    async drain(deadline) {
      const outcome = await drainListeners(group, { quietMs: config.shutdown.quietMs, deadline, now, logger });
      listeners.stopBackgroundTasks();
      return { outcome };
    },
    async reload() {
      if (!config.tls) return 'nothing to reload (no tls listener)';
      await listeners.reloadTls();
      return 'TLS certificates re-read';
    },
    status: () => ({
      listeners: { echo: { ...group.address, accepting: group.accepting }, all: group.detail() },
      connections: {
        active: group.activeConnections,
        ...listeners.connectionCounts(),
        pendingWriteBytes: group.pendingWriteBytes(),
        maxConnections: config.echo.maxConnections,
      },
      memory: listeners.memoryDetail(),
    }),
    describe: () => ({ activeConnections: group.activeConnections }),
    connections: (query) => listeners.listConnections(query),
  };
  return createProcessShell({ config, logger, version, now, workload, metrics: { render: createRenderer(registry) }, registry });
}
