// Metrics of the built service (`node dist/main.js`): scrapes that share renders while bytes flow, in
// one process and with workers, and the GC histogram that METRICS_GC_DURATION switches on. In
// process: test/unit/metrics/, test/unit/sidecar/single-flight.test.ts.
import { describe, expect, it } from 'vitest';
import { echoRoundTrip, patternedBytes } from '../support/echo-client.js';
import { httpRequest, OPENMETRICS_ACCEPT, parseExposition, sample, scrape } from '../support/metrics.js';
import { spawnService as spawnOne, spawnServicesPerTest, type ServiceProcess } from '../support/process.js';
import { waitFor } from '../support/wait.js';

const GC_DURATION = 'nodejs_gc_duration_seconds';

describe('scrapes that arrive together share renders (single flight with freshness)', () => {
  it.each([
    ['in one process', 1],
    ['with 2 workers (a render waits on each worker: renders overlap scrapes)', 2],
  ])('a scrape taken after bytes were echoed shows them, while other scrapers keep renders running: %s', { timeout: 30_000 }, async (_name, workers) => {
    const spawned = await spawnOne({ env: { ECHO_WORKERS: String(workers) } });
    const { httpPort, echoPort } = spawned;
    let scraping = true;
    const background = Array.from({ length: 8 }, async (_, i) => {
      while (scraping) await httpRequest(httpPort, '/metrics', { headers: i % 2 ? { accept: OPENMETRICS_ACCEPT } : {} });
    });
    let total = 0;
    try {
      for (let i = 0; i < 30; i++) {
        const payload = patternedBytes(1 + ((i * 7919) % 5000), i);
        expect((await echoRoundTrip(echoPort, payload)).equals(payload)).toBe(true);
        total += payload.length;
        const samples = await scrape(httpPort);
        expect(sample(samples, 'echo_received_bytes_total'), `after round trip ${i}`).toBe(total);
        expect(sample(samples, 'echo_sent_bytes_total'), `after round trip ${i}`).toBe(total);
      }
    } finally {
      scraping = false;
      await Promise.all(background);
      await spawned.ensureStopped();
    }
  });
});

describe('METRICS_GC_DURATION on a running service', () => {
  const spawnService = spawnServicesPerTest();

  /** Echoes enough bytes through the service for its young generation to be collected several times. */
  async function serviceAfterTraffic(env: Record<string, string>): Promise<ServiceProcess> {
    const service = await spawnService({ env });
    const payload = patternedBytes(4 * 1024 * 1024);
    for (let round = 0; round < 4; round++) expect((await echoRoundTrip(service.echoPort, payload)).equals(payload)).toBe(true);
    return service;
  }

  it('is off by default: no GC histogram, the other runtime metrics as usual', async () => {
    const service = await serviceAfterTraffic({});
    const { body } = await httpRequest(service.httpPort, '/metrics');
    expect(body).not.toContain(GC_DURATION);
    const samples = parseExposition(body);
    expect(samples.has('process_cpu_seconds_total')).toBe(true);
    expect(samples.has('nodejs_heap_space_size_used_bytes{space="new"}')).toBe(true);
    expect(samples.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
  });

  it('on: the service times its own garbage collections', async () => {
    const service = await serviceAfterTraffic({ METRICS_GC_DURATION: 'on' });
    // Node reports each GC after it, from the event loop: wait for the scrape to see them.
    const minorGcs = await waitFor(
      async () => parseExposition((await httpRequest(service.httpPort, '/metrics')).body).get(`${GC_DURATION}_count{kind="minor"}`),
      { what: 'minor GCs counted' },
    );
    expect(minorGcs).toBeGreaterThan(0);
  });
});
