// The primary of a multi-process service: its workers are the workload the process shell runs;
// the sidecar serves health and metrics over all of them.
import type { Cluster } from 'node:cluster';
import type { Logger } from 'pino';
import { Gauge, Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import { renderAggregate, type MetricsSnapshot } from '../metrics/aggregate.js';
import { registerRuntimeMetrics } from '../metrics/runtime.js';
import { registerScrapedCounter } from '../metrics/scraped-counter.js';
import { createProcessShell, type Runnable, type Workload } from '../process/shell.js';
import { registerSignalMetrics, type SignalCounts } from '../process/signals.js';
import { createConnectionsFanOut } from './connections.js';
import { createScrapeFanOut } from './scrape.js';
import { createWorkerPool } from './workers.js';

export interface ClusterPrimaryDeps {
  readonly logger: Logger;
  readonly version: string;
  readonly cluster: Cluster;
  readonly now?: () => number;
  /** Signals received (counted by the entry point), exported as echo_signals_received_total. */
  readonly signalCounts?: SignalCounts;
}

export function createClusterPrimary(config: Config, deps: ClusterPrimaryDeps): Runnable {
  const { logger, cluster } = deps;
  const now = deps.now ?? (() => performance.now());
  const pool = createWorkerPool({
    cluster,
    logger,
    now,
    onMetrics: (record, requestId, metrics) => scrape.answered(record, requestId, metrics),
    onConnections: (record, requestId, page) => connections.answered(record, requestId, page),
    onExit: (record) => {
      scrape.exited(record);
      connections.exited(record);
    },
  });
  const scrape = createScrapeFanOut({ workers: () => pool.records.values(), send: pool.send });
  const connections = createConnectionsFanOut({ workers: () => pool.records.values(), send: pool.send });
  const workers = () => [...pool.records.values()];

  const ownRegistry = new Registry();
  registerRuntimeMetrics(ownRegistry, config.metrics);
  new Gauge({
    name: 'echo_workers',
    help: 'Echo worker processes bound and accepting.',
    registers: [ownRegistry],
    collect() {
      this.set(workers().filter((r) => r.listening && r.status?.accepting !== false).length);
    },
  });
  registerScrapedCounter(ownRegistry, { name: 'echo_worker_restarts_total', help: 'Echo workers that died and were replaced.' }, (add) => add({}, pool.restarts));
  if (deps.signalCounts) registerSignalMetrics(ownRegistry, deps.signalCounts);

  let echoAddress: Awaited<ReturnType<Workload['start']>> | undefined;
  const workload: Workload = {
    async start() {
      echoAddress = await pool.start(config.workers);
      return echoAddress;
    },
    abort: async () => pool.killAll(),
    // Ready while some worker accepts (a worker whose memory guard refuses reports accepting: false).
    ready: () => workers().some((r) => r.listening && r.status?.accepting !== false),
    async drain(deadline) {
      await pool.drain(deadline);
      return { restarts: pool.restarts };
    },
    async reload() {
      if (!config.tls) return 'nothing to reload (no tls listener)';
      for (const record of pool.records.values()) pool.send(record, { type: 'tcp-echo:reload' });
      return 'TLS certificates re-read by every worker';
    },
    status() {
      const processes = workers().map((r) => ({ id: r.worker.id, pid: r.worker.process.pid, listening: r.listening, ...r.status }));
      return {
        listeners: { echo: { ...echoAddress, accepting: processes.some((w) => w.accepting) } },
        workers: { configured: config.workers, listening: pool.listeningCount(), restarts: pool.restarts, processes },
        connections: {
          active: processes.reduce((sum, w) => sum + (w.active ?? 0), 0),
          pendingWriteBytes: processes.reduce((sum, w) => sum + (w.pendingWriteBytes ?? 0), 0),
          maxConnections: config.echo.maxConnections,
        },
      };
    },
    describe: () => ({ workers: pool.records.size }),
    connections: (query) => connections.list(query),
  };
  const render = async (accept: string | undefined) => {
    const snapshots = await scrape.gather();
    const own = (await ownRegistry.getMetricsAsJSON()) as unknown as MetricsSnapshot;
    return renderAggregate([...snapshots, own], accept);
  };
  return createProcessShell({ config, logger, version: deps.version, now, workload, metrics: { render }, registry: ownRegistry });
}
