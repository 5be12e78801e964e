// The primary's question to its workers (src/cluster/fan-out.ts), with stand-in worker records: who
// is waited for, what a worker that goes away or never answers does to the answer.
import { describe, expect, it } from 'vitest';
import { createFanOut } from '../../../src/cluster/fan-out.js';
import type { WorkerRecord } from '../../../src/cluster/workers.js';

const record = (id: number) => ({ worker: { id } }) as unknown as WorkerRecord;

describe('createFanOut', () => {
  it('resolves once every worker asked has answered, with their answers', async () => {
    const fanOut = createFanOut<string>(60_000);
    const sent: Array<[number, number]> = [];
    const answers = fanOut.ask([record(1), record(2)], (r, requestId) => sent.push([r.worker.id, requestId]));
    const [[, requestId]] = sent as [[number, number]];
    expect(sent).toEqual([
      [1, requestId],
      [2, requestId],
    ]);
    fanOut.answered(record(2), requestId, 'two');
    fanOut.answered(record(2), requestId, 'two again'); // one answer per worker
    fanOut.answered(record(1), requestId + 1, 'wrong request');
    fanOut.answered(record(1), requestId, 'one');
    expect(await answers).toEqual(['two', 'one']);
  });

  it('asks nobody and answers at once when there is no worker', async () => {
    expect(await createFanOut<string>(60_000).ask([], () => undefined)).toEqual([]);
  });

  it('a worker that goes away stops being waited for; it answers with `instead` where given', async () => {
    const fanOut = createFanOut<string>(60_000);
    let requestId = -1;
    const answers = fanOut.ask([record(1), record(2), record(3)], (_r, id) => (requestId = id));
    fanOut.answered(record(1), requestId, 'one');
    fanOut.gone(record(2), 'two, last known');
    fanOut.gone(record(3));
    expect(await answers).toEqual(['one', 'two, last known']);
  });

  it('a worker that never answers is given up on after the timeout; its late answer is dropped', async () => {
    const fanOut = createFanOut<string>(50);
    let requestId = -1;
    const answers = fanOut.ask([record(1), record(2)], (_r, id) => (requestId = id));
    fanOut.answered(record(1), requestId, 'one');
    expect(await answers).toEqual(['one']);
    fanOut.answered(record(2), requestId, 'too late'); // no request waits for it: nothing happens
  });
});
