// A scrape of the primary asks every live worker for its registry and adds what exited workers
// counted, so the totals never drop when a worker dies or is replaced.
import { retire, type MetricsSnapshot } from '../metrics/aggregate.js';
import type { PrimaryMessage } from './messages.js';
import type { WorkerRecord } from './workers.js';

/** A scrape waits at most this long for a worker; a stuck worker must not break the scrape. */
const SCRAPE_WORKER_TIMEOUT_MS = 2000;

interface PendingScrape {
  readonly waitingFor: Set<number>;
  readonly responses: MetricsSnapshot[];
  readonly finish: () => void;
}

export interface ScrapeFanOut {
  /** Each live worker's metrics plus one snapshot of what exited workers counted. */
  gather(): Promise<MetricsSnapshot[]>;
  /** A worker's answer to request `requestId`. */
  answered(record: WorkerRecord, requestId: number, metrics: MetricsSnapshot): void;
  /** A worker's process is gone: its latest counts are retired into the totals. */
  exited(record: WorkerRecord): void;
}

export function createScrapeFanOut({ workers, send }: { workers: () => Iterable<WorkerRecord>; send: (record: WorkerRecord, message: PrimaryMessage) => void }): ScrapeFanOut {
  const scrapes = new Map<number, PendingScrape>();
  let nextScrapeId = 0;
  // What exited workers counted, folded in exit order. A worker's counts are in exactly one place at
  // any moment (a live record, or this chain once its exit is handled), so a scrape that reads the
  // records and the chain at the same moment never counts a worker twice or loses one.
  let retired: Promise<MetricsSnapshot | undefined> = Promise.resolve(undefined);

  return {
    async gather() {
      const id = nextScrapeId++;
      const exited = retired;
      const live: WorkerRecord[] = [];
      const responses: MetricsSnapshot[] = [];
      for (const record of workers()) {
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
      const folded = await exited;
      return folded ? [...responses, folded] : responses;
    },
    answered(record, requestId, metrics) {
      const scrape = scrapes.get(requestId);
      if (!scrape?.waitingFor.delete(record.worker.id)) return;
      scrape.responses.push(metrics);
      if (scrape.waitingFor.size === 0) scrape.finish();
    },
    exited(record) {
      const { lastMetrics } = record;
      // A scrape still waiting for this worker takes its latest counts instead; later ones find them retired.
      for (const scrape of scrapes.values()) {
        if (!scrape.waitingFor.delete(record.worker.id)) continue;
        if (lastMetrics) scrape.responses.push(lastMetrics);
        if (scrape.waitingFor.size === 0) scrape.finish();
      }
      if (lastMetrics) retired = retired.then((folded) => retire(folded, lastMetrics));
    },
  };
}
