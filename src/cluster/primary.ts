import type { Cluster, Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { registerScrapedCounter } from '../metrics/scraped-counter.js';
import type { Config } from '../config/parse.js';
import { watchEventLoop } from '../process/event-loop.js';
import { createSidecar } from '../sidecar/server.js';
import { createLifecycle } from '../process/lifecycle.js';
import { registerRuntimeMetrics } from '../metrics/runtime.js';
import { sidecarTarget, StartError, type BoundAddresses, type Runnable } from '../process/service.js';
import { registerSignalMetrics, type SignalCounts } from '../process/signals.js';
import { renderAggregate, retire } from '../metrics/aggregate.js';
import { isWorkerMessage, type MetricsSnapshot, type PrimaryMessage, type WorkerMessage, type WorkerStatus } from './messages.js';

/** A scrape waits at most this long for a worker; a stuck worker must not break the scrape. */
const SCRAPE_WORKER_TIMEOUT_MS = 2000;
/** After the deadline, workers get this long to exit before SIGKILL. */
const EXIT_GRACE_MS = 2000;
const RESTART_DELAY_MAX_MS = 5000;
/** After the drain, how long in-flight sidecar requests (the last scrape) may take. */
const SIDECAR_CLOSE_GRACE_MS = 1000;
/** A worker that lived this long before dying is restarted at once. */
const HEALTHY_LIFETIME_MS = 5000;

interface WorkerRecord {
  readonly worker: Worker;
  readonly forkedAt: number;
  listening: boolean;
  drained: boolean;
  status: WorkerStatus | undefined;
  /** Its latest counts: the last scrape answer, or the final ones sent with 'drained'. */
  lastMetrics: MetricsSnapshot | undefined;
}

interface PendingScrape {
  readonly waitingFor: Set<number>;
  readonly responses: MetricsSnapshot[];
  readonly finish: () => void;
}

export interface ClusterPrimaryDeps {
  readonly logger: Logger;
  readonly version: string;
  readonly cluster: Cluster;
  readonly now?: () => number;
  /** Signals received (counted by the entry point), exported as echo_signals_received_total. */
  readonly signalCounts?: SignalCounts;
}

/**
 * The primary of a multi-process service: it forks `config.workers` echo workers that share
 * the echo port, replaces any that die, serves the sidecar with health and metrics aggregated
 * over all of them, and coordinates the drain on shutdown.
 */
export function createClusterPrimary(config: Config, deps: ClusterPrimaryDeps): Runnable {
  const { logger, cluster, version } = deps;
  const now = deps.now ?? (() => performance.now());
  const startedAt = now();
  const lifecycle = createLifecycle((from, to) => logger.info({ event: 'lifecycle', from, to }, `service ${to}`));
  const eventLoop = watchEventLoop();
  const records = new Map<number, WorkerRecord>();
  const scrapes = new Map<number, PendingScrape>();
  let nextScrapeId = 0;
  // What exited workers counted, folded in exit order. A worker's counts are in exactly one place at
  // any moment (a live record, or this chain once its exit is handled), so a scrape that reads the
  // records and the chain at the same moment never counts a worker twice or loses one.
  let retired: Promise<MetricsSnapshot | undefined> = Promise.resolve(undefined);
  let restarts = 0;
  let restartDelayMs = 0;
  let echoAddress: AddressInfo | undefined;
  let startWaiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  let allExited: (() => void) | undefined;

  const ownRegistry = new Registry();
  registerRuntimeMetrics(ownRegistry, config.metrics);
  new Gauge({
    name: 'echo_workers',
    help: 'Echo worker processes bound and accepting.',
    registers: [ownRegistry],
    collect() {
      this.set([...records.values()].filter((r) => r.listening && r.status?.accepting !== false).length);
    },
  });
  registerScrapedCounter(ownRegistry, { name: 'echo_worker_restarts_total', help: 'Echo workers that died and were replaced.' }, (add) => add({}, restarts));
  if (deps.signalCounts) registerSignalMetrics(ownRegistry, deps.signalCounts);

  // A worker can die between isConnected() and the write: the send then fails with EPIPE, which
  // without a callback is an 'error' event that would take the primary down. Its 'exit' handles it.
  const ignoreSendError = () => undefined;
  const send = (record: WorkerRecord, message: PrimaryMessage) => {
    if (record.worker.isConnected()) record.worker.send(message, ignoreSendError);
  };

  const listeningCount = () => [...records.values()].filter((r) => r.listening).length;

  const onMessage = (record: WorkerRecord, message: WorkerMessage) => {
    switch (message.type) {
      case 'tcp-echo:listening':
        record.listening = true;
        echoAddress ??= { address: message.address, port: message.port, family: message.address.includes(':') ? 'IPv6' : 'IPv4' };
        logger.info({ event: 'worker_listening', worker: record.worker.id, pid: record.worker.process.pid }, 'worker listening');
        if (startWaiter && listeningCount() === config.workers) startWaiter.resolve();
        break;
      case 'tcp-echo:start-failed':
        startWaiter?.reject(
          message.whole ? new Error(message.message) : new Error(`echo worker could not start: ${message.message}${message.code ? ` (${message.code})` : ''}`),
        );
        break;
      case 'tcp-echo:status':
        record.status = message.status;
        break;
      case 'tcp-echo:metrics': {
        if (!record.drained) record.lastMetrics = message.metrics; // a late answer must not replace the final counts
        const scrape = scrapes.get(message.requestId);
        if (scrape?.waitingFor.delete(record.worker.id)) {
          scrape.responses.push(message.metrics);
          if (scrape.waitingFor.size === 0) scrape.finish();
        }
        break;
      }
      case 'tcp-echo:drained':
        record.drained = true;
        record.listening = false;
        record.lastMetrics = message.metrics;
        break;
    }
  };

  const fork = () => {
    const worker = cluster.fork();
    const record: WorkerRecord = { worker, forkedAt: now(), listening: false, drained: false, status: undefined, lastMetrics: undefined };
    records.set(worker.id, record);
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) onMessage(record, message);
    });
    worker.on('exit', (code: number | null, signal: string | null) => onExit(record, code, signal));
  };

  const onExit = (record: WorkerRecord, code: number | null, signal: string | null) => {
    records.delete(record.worker.id);
    const { lastMetrics } = record;
    // A scrape still waiting for this worker takes its latest counts instead; later ones find them retired.
    for (const scrape of scrapes.values()) {
      if (!scrape.waitingFor.delete(record.worker.id)) continue;
      if (lastMetrics) scrape.responses.push(lastMetrics);
      if (scrape.waitingFor.size === 0) scrape.finish();
    }
    if (lastMetrics) retired = retired.then((folded) => retire(folded, lastMetrics));
    const detail = { event: 'worker_exited', worker: record.worker.id, pid: record.worker.process.pid, code, signal };

    if (lifecycle.state === 'starting') {
      startWaiter?.reject(new Error(`echo worker exited during start (code ${code}, signal ${signal})`));
    } else if (lifecycle.state === 'ready') {
      const livedMs = now() - record.forkedAt;
      restartDelayMs = livedMs >= HEALTHY_LIFETIME_MS ? 0 : Math.min(RESTART_DELAY_MAX_MS, Math.max(100, restartDelayMs * 2));
      restarts++;
      logger.error({ ...detail, restartInMs: restartDelayMs }, 'echo worker died; replacing it');
      setTimeout(() => {
        if (lifecycle.state === 'ready') fork();
      }, restartDelayMs).unref();
    } else {
      logger.info(detail, 'echo worker exited');
    }
    if (records.size === 0) allExited?.();
  };

  /** Each live worker's metrics, plus what dead workers counted, plus the primary's own. */
  const gather = async (): Promise<MetricsSnapshot[]> => {
    const id = nextScrapeId++;
    const exited = retired;
    const live: WorkerRecord[] = [];
    const responses: MetricsSnapshot[] = [];
    for (const record of records.values()) {
      // Drained or disconnected, it will not answer: its latest counts stand for it until its exit.
      if (!record.drained && record.worker.isConnected()) live.push(record);
      else if (record.lastMetrics) responses.push(record.lastMetrics);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => finish(), SCRAPE_WORKER_TIMEOUT_MS);
      const finish = () => {
        clearTimeout(timer);
        scrapes.delete(id);
        resolve();
      };
      scrapes.set(id, { waitingFor: new Set(live.map((r) => r.worker.id)), responses, finish });
      if (live.length === 0) finish();
      for (const record of live) send(record, { type: 'tcp-echo:metrics-request', requestId: id });
    });
    const own = (await ownRegistry.getMetricsAsJSON()) as unknown as MetricsSnapshot;
    const folded = await exited;
    return folded ? [...responses, folded, own] : [...responses, own];
  };

  // Ready while some worker accepts (a worker whose memory guard refuses reports accepting: false).
  const ready = () => lifecycle.state === 'ready' && [...records.values()].some((r) => r.listening && r.status?.accepting !== false);
  const status = () => {
    const workers = [...records.values()].map((r) => ({ id: r.worker.id, pid: r.worker.process.pid, listening: r.listening, ...r.status }));
    return {
      status: lifecycle.state,
      ready: ready(),
      version,
      uptimeSeconds: Math.round((now() - startedAt) / 10) / 100,
      eventLoopLagMs: Math.round(eventLoop.lagMs),
      listeners: { echo: { ...echoAddress, accepting: workers.some((w) => w.accepting) }, http: { ...sidecar.address } },
      workers: { configured: config.workers, listening: listeningCount(), restarts, processes: workers },
      connections: {
        active: workers.reduce((sum, w) => sum + (w.active ?? 0), 0),
        pendingWriteBytes: workers.reduce((sum, w) => sum + (w.pendingWriteBytes ?? 0), 0),
        maxConnections: config.echo.maxConnections,
      },
    };
  };
  const sidecar = createSidecar({
    ...config.http,
    logger: logger.child({ component: 'http' }),
    metrics: { render: async (accept) => renderAggregate(await gather(), accept) },
    registry: ownRegistry,
    health: { live: () => eventLoop.live, ready, detail: status },
  });

  let startPromise: Promise<BoundAddresses> | undefined;
  let shutdownPromise: Promise<void> | undefined;

  const start = async (): Promise<BoundAddresses> => {
    const http = await sidecar.listen().catch((error: unknown) => {
      throw new StartError(sidecarTarget(config.http), error);
    });
    try {
      // Each worker binds a fixed port itself with SO_REUSEPORT (listener.ts) and the kernel spreads
      // connections evenly by address hash. On port 0 (and for UDP) the workers share the primary's
      // socket and whichever is waiting accepts; round-robin in the primary would pass every
      // connection's handle over IPC.
      cluster.schedulingPolicy = cluster.SCHED_NONE;
      await new Promise<void>((resolve, reject) => {
        startWaiter = { resolve, reject };
        for (let i = 0; i < config.workers; i++) fork();
      });
    } catch (error) {
      lifecycle.to('stopped');
      for (const record of records.values()) record.worker.process.kill('SIGKILL');
      eventLoop.stop();
      await sidecar.close().catch(() => undefined);
      throw error;
    } finally {
      startWaiter = undefined;
    }
    lifecycle.to('ready');
    return { echo: echoAddress as AddressInfo, http };
  };

  const drainAndStop = async (reason: string) => {
    const { timeoutMs, delayMs } = config.shutdown;
    const deadline = now() + timeoutMs;
    logger.info({ event: 'shutdown_started', reason, delayMs, timeoutMs, workers: records.size }, 'shutdown started');
    lifecycle.to('draining');
    if (startPromise) await startPromise.catch(() => undefined);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));

    const exited = new Promise<void>((resolve) => {
      allExited = resolve;
      if (records.size === 0) resolve();
    });
    for (const record of records.values()) send(record, { type: 'tcp-echo:shutdown', remainingMs: Math.max(0, deadline - now()) });
    let killTimer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      killTimer = setTimeout(() => {
        for (const record of records.values()) {
          logger.warn({ event: 'worker_killed', worker: record.worker.id, pid: record.worker.process.pid }, 'worker did not exit after the deadline; killing it');
          record.worker.process.kill('SIGKILL');
        }
        resolve();
      }, Math.max(0, deadline - now()) + EXIT_GRACE_MS);
    });
    await Promise.race([exited, killed]);
    clearTimeout(killTimer);
    await exited;

    lifecycle.to('stopped');
    eventLoop.stop();
    await sidecar.close(SIDECAR_CLOSE_GRACE_MS).catch(() => false);
    logger.info({ event: 'shutdown_complete', restarts }, 'shutdown complete');
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
    async reload() {
      if (!config.tls) return 'nothing to reload (no tls listener)';
      for (const record of records.values()) send(record, { type: 'tcp-echo:reload' });
      return 'TLS certificates re-read by every worker';
    },
    status,
  };
}
