// prom-client's runtime metrics, registered module by module so METRICS_GC_DURATION can leave the
// GC observer out: the same metrics as collectDefaultMetrics() (less the *_total gauges promtool
// rejects), and over a real service, nodejs_gc_duration_seconds only when switched on.
import { afterEach, describe, expect, it } from 'vitest';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { registerRuntimeMetrics } from '../../../src/metrics/runtime.js';
import { echoRoundTrip, patternedBytes } from '../../support/echo-client.js';
import { httpRequest, parseExposition } from '../../support/metrics.js';
import { spawnService, type ServiceProcess } from '../../support/process.js';
import { waitFor } from '../../support/wait.js';

const GC_DURATION = 'nodejs_gc_duration_seconds';
const PROMTOOL_REJECTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

async function metricNames(register: (registry: Registry) => void): Promise<string[]> {
  const registry = new Registry();
  register(registry);
  return (await registry.getMetricsAsJSON()).map((metric) => metric.name).sort();
}

describe('registerRuntimeMetrics', () => {
  it("registers what collectDefaultMetrics() does, less promtool's rejects, and the GC histogram only when asked", async () => {
    const defaults = await metricNames((registry) => collectDefaultMetrics({ register: registry }));
    expect(defaults).toContain(GC_DURATION);
    const expected = defaults.filter((name) => !PROMTOOL_REJECTS.includes(name));
    expect(await metricNames((registry) => registerRuntimeMetrics(registry, { gcDuration: true }))).toEqual(expected);
    expect(await metricNames((registry) => registerRuntimeMetrics(registry, { gcDuration: false }))).toEqual(expected.filter((name) => name !== GC_DURATION));
  });
});

describe('METRICS_GC_DURATION on a running service', () => {
  const started: ServiceProcess[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((service) => service.ensureStopped()));
  });

  /** Echoes enough bytes through the service for its young generation to be collected several times. */
  async function serviceAfterTraffic(env: Record<string, string>): Promise<ServiceProcess> {
    const service = await spawnService({ env });
    started.push(service);
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
