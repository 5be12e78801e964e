// The plain-number histogram must render exactly what prom-client's own Histogram renders for the
// same observations: Prometheus text, OpenMetrics, and summed across workers by AggregatorRegistry.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AggregatorRegistry, Histogram, Registry, type OpenMetricsContentType } from 'prom-client';
import { createBucketCounts, observe, registerLabelledHistogram } from '../../../src/metrics/bucket-histogram.js';

const BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];
const LISTENERS = ['tcp://0.0.0.0:7000', 'tls://0.0.0.0:7443'];

function twins(contentType?: OpenMetricsContentType) {
  const make = () => {
    const registry = new Registry<OpenMetricsContentType>();
    if (contentType) registry.setContentType(contentType);
    return registry;
  };
  const reference = make();
  const histogram = new Histogram({ name: 'echo_connection_duration_seconds', help: 'Lifetime of client connections.', labelNames: ['listener'], buckets: BUCKETS, registers: [reference] });
  for (const listener of LISTENERS) histogram.zero({ listener });
  const ours = make();
  const counts = LISTENERS.map(() => createBucketCounts(BUCKETS));
  registerLabelledHistogram({ name: 'echo_connection_duration_seconds', help: 'Lifetime of client connections.', labelName: 'listener', series: () => LISTENERS.map((listener, i) => [listener, counts[i]!] as const), registry: ours });
  return {
    reference,
    ours,
    observe(listenerIndex: number, value: number) {
      histogram.observe({ listener: LISTENERS[listenerIndex] as string }, value);
      observe(counts[listenerIndex]!, value);
    },
  };
}

// Durations as they occur, plus every bound exactly (le is inclusive) and values just above one.
const duration = fc.oneof(
  fc.double({ min: 0, max: 10_000, noNaN: true }),
  fc.constantFrom(0, ...BUCKETS),
  fc.constantFrom(...BUCKETS).map((bound) => bound * (1 + Number.EPSILON)),
);
const observations = fc.array(fc.tuple(fc.integer({ min: 0, max: LISTENERS.length - 1 }), duration), { maxLength: 200 });

describe('registerLabelledHistogram renders BucketCounts like prom-client Histogram', () => {
  it('with no observations: every series at zero from the first scrape', async () => {
    const { reference, ours } = twins();
    expect(await ours.metrics()).toBe(await reference.metrics());
  });

  it('Prometheus text, for any observations', async () => {
    await fc.assert(
      fc.asyncProperty(observations, async (list) => {
        const { reference, ours, observe } = twins();
        for (const [listener, value] of list) observe(listener, value);
        expect(await ours.metrics()).toBe(await reference.metrics());
      }),
    );
  });

  it('OpenMetrics, for any observations', async () => {
    await fc.assert(
      fc.asyncProperty(observations, async (list) => {
        const { reference, ours, observe } = twins(Registry.OPENMETRICS_CONTENT_TYPE);
        for (const [listener, value] of list) observe(listener, value);
        expect(await ours.metrics()).toBe(await reference.metrics());
      }),
    );
  });

  it('summed across workers by AggregatorRegistry', async () => {
    await fc.assert(
      fc.asyncProperty(observations, observations, async (first, second) => {
        const workers = [twins(), twins()];
        first.forEach(([listener, value]) => workers[0]?.observe(listener, value));
        second.forEach(([listener, value]) => workers[1]?.observe(listener, value));
        const aggregate = async (pick: 'reference' | 'ours') =>
          AggregatorRegistry.aggregate(await Promise.all(workers.map((worker) => worker[pick].getMetricsAsJSON()))).metrics();
        expect(await aggregate('ours')).toBe(await aggregate('reference'));
      }),
    );
  });
});
