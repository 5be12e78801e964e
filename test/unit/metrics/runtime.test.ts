// prom-client's runtime metrics, registered module by module so METRICS_GC_DURATION can leave the
// GC observer out: the same metrics as collectDefaultMetrics() (less the *_total gauges promtool
// rejects). Over the built service: test/service/metrics.test.ts.
import { describe, expect, it } from 'vitest';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { registerRuntimeMetrics } from '../../../src/metrics/runtime.js';

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
