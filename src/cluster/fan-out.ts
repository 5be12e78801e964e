// A question the primary puts to every live worker (a scrape, a connections listing): the answer is
// what came back once each has answered, gone away or run out of time. A stuck worker must not hold
// up the sidecar.
import type { WorkerRecord } from './workers.js';

export interface FanOut<T> {
  /** Sends request `requestId` to each of `workers` and resolves with their answers (in arrival order). */
  ask(workers: readonly WorkerRecord[], send: (record: WorkerRecord, requestId: number) => void): Promise<T[]>;
  /** A worker's answer to request `requestId`; a late or unknown one is dropped. */
  answered(record: WorkerRecord, requestId: number, answer: T): void;
  /** A worker's process is gone: requests waiting for it stop waiting, taking `instead` as its answer where given. */
  gone(record: WorkerRecord, instead?: T): void;
}

interface Pending<T> {
  readonly waitingFor: Set<number>;
  readonly answers: T[];
  readonly finish: () => void;
}

export function createFanOut<T>(timeoutMs: number): FanOut<T> {
  const pending = new Map<number, Pending<T>>();
  let nextRequestId = 0;
  const take = (request: Pending<T>, workerId: number, answer: T | undefined) => {
    if (!request.waitingFor.delete(workerId)) return;
    if (answer !== undefined) request.answers.push(answer);
    if (request.waitingFor.size === 0) request.finish();
  };
  return {
    ask(workers, send) {
      const requestId = nextRequestId++;
      const answers: T[] = [];
      return new Promise((resolve) => {
        const timer = setTimeout(() => finish(), timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          pending.delete(requestId);
          resolve(answers);
        };
        pending.set(requestId, { waitingFor: new Set(workers.map((record) => record.worker.id)), answers, finish });
        if (workers.length === 0) finish();
        for (const record of workers) send(record, requestId);
      });
    },
    answered(record, requestId, answer) {
      const request = pending.get(requestId);
      if (request) take(request, record.worker.id, answer);
    },
    gone(record, instead) {
      for (const request of pending.values()) take(request, record.worker.id, instead);
    },
  };
}

/** The workers that can still answer: neither drained nor disconnected. */
export const answering = (record: WorkerRecord) => !record.drained && record.worker.isConnected();
