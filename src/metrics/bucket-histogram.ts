// Histogram buckets kept as plain numbers by the echo path, and their rendering as a Prometheus
// histogram at scrape time, like the plain counters in echo/stats.ts.
import type { Metric, Registry, RegistryContentType } from 'prom-client';

export interface BucketCounts {
  /** Upper bounds, ascending; +Inf is implied. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export function createBucketCounts(bounds: readonly number[]): BucketCounts {
  return { bounds, counts: new Float64Array(bounds.length + 1), sum: 0, count: 0 };
}

/** A bucket search and three additions: no labels to validate or hash. */
export function observe(histogram: BucketCounts, value: number): void {
  const { bounds, counts } = histogram;
  let i = 0;
  while (i < bounds.length && value > (bounds[i] as number)) i++;
  counts[i] = (counts[i] as number) + 1;
  histogram.sum += value;
  histogram.count++;
}

export interface LabelledHistogramOptions {
  readonly name: string;
  readonly help: string;
  readonly labelName: string;
  /** Each series' label value and counts, read at every scrape. */
  readonly series: () => Iterable<readonly [labelValue: string, counts: BucketCounts]>;
  readonly registry: Registry<RegistryContentType>;
}

/**
 * prom-client's Histogram validates and hashes its labels on every observe(), a cost each connection
 * close would pay under connection churn. This hands the registry prom-client's own
 * histogram shape (`_bucket` by `le`, `_sum`, `_count`) built from BucketCounts at scrape time, so
 * the text and OpenMetrics renderers and the cluster's AggregatorRegistry (summing, like any
 * histogram) treat it as one of theirs.
 */
export function registerLabelledHistogram({ name, help, labelName, series, registry }: LabelledHistogramOptions): void {
  const render = ([labelValue, { bounds, counts, sum, count }]: readonly [string, BucketCounts]) => {
    const labels = (le: number | string) => ({ le, [labelName]: labelValue });
    let cumulative = 0;
    return [
      ...bounds.map((bound, i) => ({ metricName: `${name}_bucket`, labels: labels(bound), value: (cumulative += counts[i] as number) })),
      { metricName: `${name}_bucket`, labels: labels('+Inf'), value: count },
      { metricName: `${name}_sum`, labels: { [labelName]: labelValue }, value: sum },
      { metricName: `${name}_count`, labels: { [labelName]: labelValue }, value: count },
    ];
  };
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({ name: metric.name, help, type: 'histogram', aggregator: 'sum', values: [...series()].flatMap(render) }),
    // The counts belong to the echo path; like the scraped counters, a registry reset leaves them be.
    reset() {},
  };
  // The registry needs only a name and get(); its typings list prom-client's own classes.
  registry.registerMetric(metric as unknown as Metric);
}
