// /connections on the primary: each worker lists its own open connections (its first `limit` in the
// asked order) and the primary merges them, marking each row with the worker that holds it.
import { mergeConnectionPages, type ConnectionsPage, type ConnectionsQuery } from '../tcp/connection-table.js';
import { answering, createFanOut } from './fan-out.js';
import type { PrimaryMessage } from './messages.js';
import type { WorkerRecord } from './workers.js';

/** How long a listing waits for a worker; one that does not answer is left out of it. */
const LIST_WORKER_TIMEOUT_MS = 2000;

export interface ConnectionsFanOut {
  list(query: ConnectionsQuery): Promise<ConnectionsPage>;
  answered(record: WorkerRecord, requestId: number, page: ConnectionsPage): void;
  exited(record: WorkerRecord): void;
}

export function createConnectionsFanOut({ workers, send }: { workers: () => Iterable<WorkerRecord>; send: (record: WorkerRecord, message: PrimaryMessage) => void }): ConnectionsFanOut {
  const fanOut = createFanOut<ConnectionsPage>(LIST_WORKER_TIMEOUT_MS);
  return {
    async list(query) {
      const pages = await fanOut.ask([...workers()].filter(answering), (record, requestId) => send(record, { type: 'tcp-echo:connections-request', requestId, ...query }));
      return mergeConnectionPages(pages, query);
    },
    answered(record, requestId, page) {
      const worker = record.worker.id;
      fanOut.answered(record, requestId, { total: page.total, connections: page.connections.map(({ listener, ...rest }) => ({ listener, worker, ...rest })) });
    },
    exited: (record) => fanOut.gone(record),
  };
}
