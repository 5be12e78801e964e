// Scrapes that arrive together share renders (src/sidecar/single-flight.ts): on a controlled
// renderer, and over real sockets on a service built in this process. With worker processes:
// test/service/metrics.test.ts.
import { describe, expect, it } from 'vitest';
import { Agent } from 'node:http';
import { Gauge } from 'prom-client';
import type { Exposition } from '../../../src/metrics/exposition.js';
import { singleFlight } from '../../../src/sidecar/single-flight.js';
import { httpRequest, OPENMETRICS_ACCEPT } from '../../support/metrics.js';
import { startServicesPerTest } from '../../support/service.js';
import { waitFor } from '../../support/wait.js';

const start = startServicesPerTest();

describe('scrapes that arrive together share renders (single flight with freshness)', () => {
  /** A renderer whose renders finish when the test says; it records when each started. */
  function controlledRenderer(clock: { now: number }) {
    const renders: Array<{ accept: string | undefined; startedAt: number; finish: () => void }> = [];
    const render = (accept: string | undefined) =>
      new Promise<Exposition>((resolve) => {
        const n = renders.length + 1;
        renders.push({ accept, startedAt: clock.now++, finish: () => resolve({ contentType: 'text/plain', body: `render ${n}` }) });
      });
    return { render, renders };
  }

  it('one render running and one waiting per format; no caller gets a render that started before it asked', async () => {
    const clock = { now: 0 };
    const { render, renders } = controlledRenderer(clock);
    const shared = singleFlight(render);
    const ask = (accept?: string) => {
      const askedAt = clock.now++;
      return shared(accept).then((exposition) => ({ askedAt, body: exposition.body }));
    };
    const started = (count: number) => waitFor(() => renders.length === count, { what: `${count} renders to start` });
    // Asked in the same turn: one render per format, started at the end of the turn.
    const first = [ask(), ask()];
    const openMetrics = ask(OPENMETRICS_ACCEPT);
    await started(2);
    expect(renders.map((r) => r.accept)).toEqual([undefined, OPENMETRICS_ACCEPT]);
    // Asked while a render runs: they wait for the next one.
    const during = [ask(), ask(), ask()];
    renders[0]!.finish();
    expect((await Promise.all(first)).map((r) => r.body)).toEqual(['render 1', 'render 1']);
    const inTheGap = ask(); // after render 1 ended, before the next one started: it joins the next
    await started(3);
    expect(renders[2]!.accept).toBeUndefined();
    renders[2]!.finish();
    const third = await Promise.all([...during, inTheGap]);
    expect(third.map((r) => r.body)).toEqual(['render 3', 'render 3', 'render 3', 'render 3']);
    for (const r of [...(await Promise.all(first)), ...third]) {
      const renderOf = renders[Number(r.body.split(' ')[1]) - 1]!;
      expect(renderOf.startedAt, 'the render started after the caller asked').toBeGreaterThan(r.askedAt);
    }
    renders[1]!.finish();
    expect((await openMetrics).body).toBe('render 2');
    expect(renders).toHaveLength(3);
    // Idle again: the next caller gets a render of its own.
    const later = ask();
    await started(4);
    renders[3]!.finish();
    expect((await later).body).toBe('render 4');
  });

  it('spaces renders out: the next render of a format starts a gap after the last one started', async () => {
    const starts: number[] = [];
    const shared = singleFlight(
      async () => {
        starts.push(performance.now());
        return { contentType: 'text/plain', body: 'x' };
      },
      { minGapMs: 40 },
    );
    await shared(undefined);
    await shared(undefined); // asked right after the first ended: waits out the gap
    await shared(undefined);
    // Timers run on the event loop's clock, cached at the start of a turn: up to a millisecond early.
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(38);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(38);
  });

  it('a render that fails fails its callers only, and the next caller gets a fresh render', async () => {
    let calls = 0;
    const shared = singleFlight(async () => {
      if (++calls === 1) throw new Error('boom');
      return { contentType: 'text/plain', body: `render ${calls}` };
    });
    await expect(shared(undefined)).rejects.toThrow('boom');
    expect((await shared(undefined)).body).toBe('render 2');
  });

  it('over real sockets: 40 keep-alive scrapers take far fewer renders than scrapes, each scrape complete', async () => {
    const running = await start();
    let renders = 0;
    new Gauge({
      name: 'test_renders',
      help: 'Counts renders of this registry.',
      registers: [running.registry],
      collect() {
        this.set(++renders);
      },
    });
    // Fresh connections are accepted one per event-loop turn, so their scrapes never meet; connections
    // kept alive (as Prometheus keeps its own) send theirs in the same turn.
    const clients = 40;
    const perClient = 10;
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const get = () => httpRequest(running.httpPort, '/metrics', { agent });
    try {
      await Promise.all(Array.from({ length: clients }, () => get())); // every connection open
      const before = renders;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          for (let i = 0; i < perClient; i++) {
            const response = await get();
            expect(response.status).toBe(200);
            expect(response.body).toMatch(/^echo_build_info\{/m);
          }
        }),
      );
      const taken = renders - before;
      console.log(`${clients * perClient} scrapes on ${clients} kept-alive connections took ${taken} renders`);
      expect(taken).toBeLessThan((clients * perClient) / 4);
    } finally {
      agent.destroy();
    }
  });
});
