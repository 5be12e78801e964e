import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import { createProcessListeners } from '../listeners/build.js';
import { drainListeners } from '../listeners/drain.js';
import { StartError } from '../listeners/start-error.js';
import type { MetricsSnapshot } from '../metrics/aggregate.js';
import { registerBuildInfo } from '../metrics/build-info.js';
import { registerRuntimeMetrics } from '../metrics/runtime.js';
import { resolveMemoryBudget } from '../overload/memory.js';
import type { TlsMaterial } from '../tls/index.js';
import { isPrimaryMessage, type WorkerMessage } from './messages.js';

const STATUS_INTERVAL_MS = 1000;

export interface WorkerDeps {
  readonly logger: Logger;
  readonly version: string;
  readonly tlsMaterial?: TlsMaterial | undefined;
  /** The IPC channel to the primary (process.send in a cluster worker); resolves once handed over. */
  readonly send: (message: WorkerMessage) => Promise<void>;
  /** Subscribes to messages from the primary. */
  readonly onMessage: (handler: (message: unknown) => void) => void;
  readonly exit: (code: number) => void;
  readonly now?: () => number;
}

/**
 * An echo worker: its own listeners on the shared ports and its own metrics registry, which the
 * primary asks for at scrape time. It drains when the primary says so; signals sent to the whole
 * process group (a terminal's Ctrl-C) are the primary's to handle.
 */
export async function runWorker(config: Config, deps: WorkerDeps): Promise<void> {
  const { logger, send } = deps;
  const now = deps.now ?? (() => performance.now());
  // The limit is shared out so that all workers together never exceed it.
  const maxConnections = config.echo.maxConnections > 0 ? Math.max(1, Math.floor(config.echo.maxConnections / config.workers)) : 0;
  // So is the memory budget: each worker guards its share.
  const budget = resolveMemoryBudget(config.memoryBudget);
  const registry = new Registry();
  const listeners = createProcessListeners(
    { ...config, echo: { ...config.echo, maxConnections } },
    { logger, now, registry, env: process.env, tlsMaterial: deps.tlsMaterial, reusePort: true, memoryBudgetBytes: budget === undefined ? undefined : Math.floor(budget / config.workers) },
  );
  registerBuildInfo(registry, deps.version);
  registerRuntimeMetrics(registry, config.metrics);
  const { group } = listeners;
  const snapshot = async () => (await registry.getMetricsAsJSON()) as unknown as MetricsSnapshot;

  const reportStatus = () =>
    void send({ type: 'tcp-echo:status', status: { accepting: group.accepting && !listeners.overloaded(), active: group.activeConnections, pendingWriteBytes: group.pendingWriteBytes() } });

  let draining = false;
  deps.onMessage((message) => {
    if (!isPrimaryMessage(message)) return;
    if (message.type === 'tcp-echo:metrics-request') {
      void snapshot().then((metrics) => send({ type: 'tcp-echo:metrics', requestId: message.requestId, metrics }));
    } else if (message.type === 'tcp-echo:connections-request') {
      void send({ type: 'tcp-echo:connections', requestId: message.requestId, page: listeners.listConnections({ sort: message.sort, limit: message.limit }) });
    } else if (message.type === 'tcp-echo:reload') {
      void listeners.reloadTls();
    } else if (message.type === 'tcp-echo:shutdown' && !draining) {
      draining = true;
      void drainListeners(group, { quietMs: config.shutdown.quietMs, deadline: now() + message.remainingMs, now, logger })
        .then(async (outcome) => {
          listeners.stopBackgroundTasks();
          // The final counters go with the goodbye, so the primary's totals include the whole drain.
          await send({ type: 'tcp-echo:drained', outcome, metrics: await snapshot() });
        })
        .finally(() => deps.exit(0));
    }
  });

  let address;
  try {
    address = await listeners.listen();
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    await send({ type: 'tcp-echo:start-failed', code: err.code, message: err.message, whole: error instanceof StartError });
    deps.exit(1);
    return;
  }
  await send({ type: 'tcp-echo:listening', port: address.port, address: address.address });
  reportStatus();
  setInterval(reportStatus, STATUS_INTERVAL_MS).unref();
}
