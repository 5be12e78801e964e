// A scrape of the primary asks every live worker for its registry and adds what exited workers
// counted, so the totals never drop when a worker dies or is replaced.
import { retire, type MetricsSnapshot } from '../metrics/aggregate.js';
import { answering, createFanOut } from './fan-out.js';
import type { PrimaryMessage } from './messages.js';
import type { WorkerRecord } from './workers.js';

/** A scrape waits at most this long for a worker; a stuck worker must not break the scrape. */
const SCRAPE_WORKER_TIMEOUT_MS = 2000;

export interface ScrapeFanOut {
  /** Each live worker's metrics plus one snapshot of what exited workers counted. */
  gather(): Promise<MetricsSnapshot[]>;
  /** A worker's answer to request `requestId`. */
  answered(record: WorkerRecord, requestId: number, metrics: MetricsSnapshot): void;
  /** A worker's process is gone: its latest counts are retired into the totals. */
  exited(record: WorkerRecord): void;
}

export function createScrapeFanOut({ workers, send }: { workers: () => Iterable<WorkerRecord>; send: (record: WorkerRecord, message: PrimaryMessage) => void }): ScrapeFanOut {
  const fanOut = createFanOut<MetricsSnapshot>(SCRAPE_WORKER_TIMEOUT_MS);
  // What exited workers counted, folded in exit order. A worker's counts are in exactly one place at
  // any moment (a live record, or this chain once its exit is handled), so a scrape that reads the
  // records and the chain at the same moment never counts a worker twice or loses one.
  let retired: Promise<MetricsSnapshot | undefined> = Promise.resolve(undefined);

  return {
    async gather() {
      const exited = retired;
      const live: WorkerRecord[] = [];
      const standIns: MetricsSnapshot[] = [];
      for (const record of workers()) {
        // Drained or disconnected, it will not answer: its latest counts stand for it until its exit.
        if (answering(record)) live.push(record);
        else if (record.lastMetrics) standIns.push(record.lastMetrics);
      }
      const answers = await fanOut.ask(live, (record, requestId) => send(record, { type: 'tcp-echo:metrics-request', requestId }));
      const folded = await exited;
      return [...standIns, ...answers, ...(folded ? [folded] : [])];
    },
    answered: fanOut.answered,
    exited(record) {
      const { lastMetrics } = record;
      // A scrape still waiting for this worker takes its latest counts instead; later ones find them retired.
      fanOut.gone(record, lastMetrics);
      if (lastMetrics) retired = retired.then((folded) => retire(folded, lastMetrics));
    },
  };
}
