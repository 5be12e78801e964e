// Summing several processes' registries into one exposition (the cluster primary's /metrics).
import { AggregatorRegistry, Registry } from 'prom-client';
import { wantsOpenMetrics, type Exposition } from './exposition.js';

/** One metric as prom-client's getMetricsAsJSON() gives it (its typings do not export the type). */
export interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  readonly values: ReadonlyArray<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

/** A worker's whole registry. */
export type MetricsSnapshot = readonly MetricSnapshot[];

/**
 * Sums the workers' snapshots (each metric by its own aggregator) and renders the format the
 * Accept header prefers. prom-client's aggregate() renders OpenMetrics counters as `x_total_total`
 * because its wrapper renames only itself, so counters lose `_total` before aggregation there.
 */
export async function renderAggregate(snapshots: readonly MetricsSnapshot[], accept: string | undefined): Promise<Exposition> {
  const openMetrics = wantsOpenMetrics(accept);
  const input = openMetrics
    ? snapshots.map((snapshot) => snapshot.map((metric) => (metric.type === 'counter' ? { ...metric, name: metric.name.replace(/_total$/, '') } : metric)))
    : snapshots;
  const registry = AggregatorRegistry.aggregate(input as object[]) as Registry;
  if (openMetrics) (registry as unknown as Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/**
 * What a dead worker counted must not vanish from the totals (Prometheus would read the drop as a
 * counter reset): keep its last counters and histograms and fold them into one snapshot.
 */
export async function retire(retired: MetricsSnapshot | undefined, lastSeen: MetricsSnapshot): Promise<MetricsSnapshot> {
  const monotonic = lastSeen.filter((metric) => metric.type === 'counter' || metric.type === 'histogram');
  const parts = retired ? [retired, monotonic] : [monotonic];
  return (await AggregatorRegistry.aggregate(parts as object[]).getMetricsAsJSON()) as unknown as MetricsSnapshot;
}
