// prom-client's process and Node runtime metrics, registered module by module so that the one with a
// cost on the echo path, nodejs_gc_duration_seconds, is the operator's choice (METRICS_GC_DURATION).
import { createRequire } from 'node:module';
import { collectDefaultMetrics, type Registry } from 'prom-client';

export interface RuntimeMetricsOptions {
  /**
   * Watch every garbage collection for nodejs_gc_duration_seconds. Node builds a performance entry
   * for each one and runs observers after it: under full ping-pong load that stretches every
   * scavenge and shows in the p99 latency (bench row tcp-echo-gc measures it).
   */
  readonly gcDuration: boolean;
}

// prom-client's defaults include gauges named *_total, which `promtool check metrics` rejects;
// each has a twin without the suffix that stays.
const LEFT_OUT = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
const GC_MODULE = 'gc';
// What collectDefaultMetrics() passes every module when given no settings.
const MODULE_SETTINGS = { eventLoopMonitoringPrecision: 10 };

type MetricModule = (registry: Registry, settings: typeof MODULE_SETTINGS) => void;
const requireFromHere = createRequire(import.meta.url);

/**
 * collectDefaultMetrics() has no way to leave a module out, so this walks its module list
 * (collectDefaultMetrics.metricsList, one file each under prom-client/lib/metrics/) the way it does;
 * a test holds the result to collectDefaultMetrics()'s.
 */
export function registerRuntimeMetrics(registry: Registry, { gcDuration }: RuntimeMetricsOptions): void {
  for (const name of collectDefaultMetrics.metricsList) {
    if (name === GC_MODULE && !gcDuration) continue;
    (requireFromHere(`prom-client/lib/metrics/${name}`) as MetricModule)(registry, MODULE_SETTINGS);
  }
  for (const name of LEFT_OUT) registry.removeSingleMetric(name);
}
