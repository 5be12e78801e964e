// The primary's echo workers: forked, watched, replaced when they die, told to drain.
import type { Cluster, Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { MetricsSnapshot } from '../metrics/aggregate.js';
import type { ConnectionsPage } from '../tcp/connection-table.js';
import { isWorkerMessage, type PrimaryMessage, type WorkerMessage, type WorkerStatus } from './messages.js';

/** After the deadline, workers get this long to exit before SIGKILL. */
const EXIT_GRACE_MS = 2000;
const RESTART_DELAY_MAX_MS = 5000;
/** A worker that lived this long before dying is restarted at once. */
const HEALTHY_LIFETIME_MS = 5000;

export interface WorkerRecord {
  readonly worker: Worker;
  readonly forkedAt: number;
  listening: boolean;
  drained: boolean;
  status: WorkerStatus | undefined;
  /** Its latest counts: the last scrape answer, or the final ones sent with 'drained'. */
  lastMetrics: MetricsSnapshot | undefined;
}

export interface WorkerPool {
  readonly records: ReadonlyMap<number, WorkerRecord>;
  /** Workers that died while serving and were replaced. */
  readonly restarts: number;
  /** Forks `count` workers and resolves once all listen; rejects if one cannot start. */
  start(count: number): Promise<AddressInfo>;
  /** A start that failed: kill whatever was forked. */
  killAll(): void;
  /** Tells every worker to drain by `deadline`; resolves once all have exited (killed if they outlive it). */
  drain(deadline: number): Promise<void>;
  send(record: WorkerRecord, message: PrimaryMessage): void;
  listeningCount(): number;
}

export interface WorkerPoolDeps {
  readonly cluster: Cluster;
  readonly logger: Logger;
  readonly now: () => number;
  /** A worker answered a scrape. */
  readonly onMetrics: (record: WorkerRecord, requestId: number, metrics: MetricsSnapshot) => void;
  /** A worker answered a connections listing. */
  readonly onConnections: (record: WorkerRecord, requestId: number, page: ConnectionsPage) => void;
  /** A worker's process is gone (its record is already removed). */
  readonly onExit: (record: WorkerRecord) => void;
}

export function createWorkerPool({ cluster, logger, now, onMetrics, onConnections, onExit }: WorkerPoolDeps): WorkerPool {
  const records = new Map<number, WorkerRecord>();
  let phase: 'starting' | 'serving' | 'stopping' = 'starting';
  let restarts = 0;
  let restartDelayMs = 0;
  let echoAddress: AddressInfo | undefined;
  let startWaiter: { readonly count: number; resolve: () => void; reject: (error: Error) => void } | undefined;
  let allExited: (() => void) | undefined;

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
        if (startWaiter && listeningCount() === startWaiter.count) startWaiter.resolve();
        break;
      case 'tcp-echo:start-failed':
        startWaiter?.reject(
          message.whole ? new Error(message.message) : new Error(`echo worker could not start: ${message.message}${message.code ? ` (${message.code})` : ''}`),
        );
        break;
      case 'tcp-echo:status':
        record.status = message.status;
        break;
      case 'tcp-echo:metrics':
        if (!record.drained) record.lastMetrics = message.metrics; // a late answer must not replace the final counts
        onMetrics(record, message.requestId, message.metrics);
        break;
      case 'tcp-echo:connections':
        onConnections(record, message.requestId, message.page);
        break;
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
    worker.on('exit', (code: number | null, signal: string | null) => exited(record, code, signal));
  };

  const exited = (record: WorkerRecord, code: number | null, signal: string | null) => {
    records.delete(record.worker.id);
    onExit(record);
    const detail = { event: 'worker_exited', worker: record.worker.id, pid: record.worker.process.pid, code, signal };
    if (phase === 'starting') {
      startWaiter?.reject(new Error(`echo worker exited during start (code ${code}, signal ${signal})`));
    } else if (phase === 'serving') {
      const livedMs = now() - record.forkedAt;
      restartDelayMs = livedMs >= HEALTHY_LIFETIME_MS ? 0 : Math.min(RESTART_DELAY_MAX_MS, Math.max(100, restartDelayMs * 2));
      restarts++;
      logger.error({ ...detail, restartInMs: restartDelayMs }, 'echo worker died; replacing it');
      setTimeout(() => {
        if (phase === 'serving') fork();
      }, restartDelayMs).unref();
    } else {
      logger.info(detail, 'echo worker exited');
    }
    if (records.size === 0) allExited?.();
  };

  return {
    records,
    get restarts() {
      return restarts;
    },
    async start(count) {
      // Each worker binds a fixed port itself with SO_REUSEPORT (tcp/listener.ts) and the kernel
      // spreads connections evenly by address hash. On port 0 (and for UDP) the workers share the
      // primary's socket and whichever is waiting accepts; round-robin in the primary would pass
      // every connection's handle over IPC.
      cluster.schedulingPolicy = cluster.SCHED_NONE;
      try {
        await new Promise<void>((resolve, reject) => {
          startWaiter = { count, resolve, reject };
          for (let i = 0; i < count; i++) fork();
        });
      } finally {
        startWaiter = undefined;
      }
      phase = 'serving';
      return echoAddress as AddressInfo;
    },
    killAll() {
      phase = 'stopping';
      for (const record of records.values()) record.worker.process.kill('SIGKILL');
    },
    async drain(deadline) {
      phase = 'stopping';
      const exitedAll = new Promise<void>((resolve) => {
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
      await Promise.race([exitedAll, killed]);
      clearTimeout(killTimer);
      await exitedAll;
    },
    send,
    listeningCount,
  };
}
