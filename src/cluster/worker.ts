import type { Logger } from 'pino';
import type { Config } from '../config/parse.js';
import { drainEcho } from '../listeners/drain.js';
import { createEchoNode } from '../listeners/build.js';
import { resolveMemoryBudget } from '../overload/memory.js';
import { StartError } from '../listeners/start-error.js';
import type { TlsMaterial } from '../tls/index.js';
import { isPrimaryMessage, type MetricsSnapshot, type WorkerMessage } from './messages.js';

const STATUS_INTERVAL_MS = 1000;

export interface WorkerDeps {
  readonly logger: Logger;
  readonly version: string;
  readonly tlsMaterial?: TlsMaterial;
  /** The IPC channel to the primary (process.send in a cluster worker); resolves once handed over. */
  readonly send: (message: WorkerMessage) => Promise<void>;
  /** Subscribes to messages from the primary. */
  readonly onMessage: (handler: (message: unknown) => void) => void;
  readonly exit: (code: number) => void;
  readonly now?: () => number;
}

/**
 * An echo worker: its own echo listener on the shared port and its own metrics registry,
 * which the primary asks for at scrape time. It drains when the primary says so; signals
 * sent to the whole process group (a terminal's Ctrl-C) are the primary's to handle.
 */
export async function runWorker(config: Config, deps: WorkerDeps): Promise<void> {
  const { logger, send } = deps;
  const now = deps.now ?? (() => performance.now());
  // The limit is shared out so that all workers together never exceed it.
  const maxConnections = config.echo.maxConnections > 0 ? Math.max(1, Math.floor(config.echo.maxConnections / config.workers)) : 0;
  // So is the memory budget: each worker guards its share.
  const budget = resolveMemoryBudget(config.memoryBudget);
  const memoryBudgetBytes = budget === undefined ? undefined : Math.floor(budget / config.workers);
  const node = createEchoNode({ ...config, echo: { ...config.echo, maxConnections } }, { logger, version: deps.version, now, tlsMaterial: deps.tlsMaterial, reusePort: true, memoryBudgetBytes });

  const reportStatus = () =>
    void send({ type: 'tcp-echo:status', status: { accepting: echo.accepting && !node.overloaded(), active: echo.activeConnections, pendingWriteBytes: echo.pendingWriteBytes() } });

  const { echo, metrics } = node;
  let draining = false;
  deps.onMessage((message) => {
    if (!isPrimaryMessage(message)) return;
    if (message.type === 'tcp-echo:metrics-request') {
      void metrics.registry.getMetricsAsJSON().then((snapshot) => {
        void send({ type: 'tcp-echo:metrics', requestId: message.requestId, metrics: snapshot as unknown as MetricsSnapshot });
      });
    } else if (message.type === 'tcp-echo:reload') {
      void node.reloadTls();
    } else if (message.type === 'tcp-echo:shutdown' && !draining) {
      draining = true;
      void drainEcho(echo, { quietMs: config.shutdown.quietMs, deadline: now() + message.remainingMs, now, logger })
        .then(async (outcome) => {
          node.guard?.stop();
          // The final counters go with the goodbye, so the primary's totals include the whole drain.
          const snapshot = (await metrics.registry.getMetricsAsJSON()) as unknown as MetricsSnapshot;
          await send({ type: 'tcp-echo:drained', outcome, metrics: snapshot });
        })
        .finally(() => deps.exit(0));
    }
  });

  let address;
  try {
    address = await echo.listen();
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
