// A Prometheus histogram with one series per value of one label, observed as plain numbers.
import type { Metric, Registry, RegistryContentType } from 'prom-client';

export interface LabelledHistogramOptions {
  readonly name: string;
  readonly help: string;
  /** Upper bounds, ascending; +Inf is added. */
  readonly buckets: readonly number[];
  readonly labelName: string;
  /** Every series exists from the first scrape, at zero. */
  readonly labelValues: readonly string[];
  readonly registry: Registry<RegistryContentType>;
}

export interface LabelledHistogram {
  /** The observer for one label value, bound once: observing costs a bucket search and three additions. */
  observer(labelValue: string): (value: number) => void;
}

interface Series {
  readonly labelValue: string;
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * prom-client's Histogram validates and hashes its labels on every observe(), a cost each connection
 * close would pay under churn (README "Performance"). This one keeps plain counts per series and
 * hands the registry prom-client's own histogram shape (`_bucket` by `le`, `_sum`, `_count`) at
 * scrape time, so the text and OpenMetrics renderers and the cluster's AggregatorRegistry (summing,
 * like any histogram) treat it as one of theirs.
 */
export function createLabelledHistogram({ name, help, buckets, labelName, labelValues, registry }: LabelledHistogramOptions): LabelledHistogram {
  const bounds = [...buckets];
  const series = new Map<string, Series>(labelValues.map((labelValue) => [labelValue, { labelValue, counts: new Float64Array(bounds.length + 1), sum: 0, count: 0 }]));

  const render = (s: Series) => {
    const labels = (le: number | string) => ({ le, [labelName]: s.labelValue });
    let cumulative = 0;
    return [
      ...bounds.map((bound, i) => ({ metricName: `${name}_bucket`, labels: labels(bound), value: (cumulative += s.counts[i] as number) })),
      { metricName: `${name}_bucket`, labels: labels('+Inf'), value: s.count },
      { metricName: `${name}_sum`, labels: { [labelName]: s.labelValue }, value: s.sum },
      { metricName: `${name}_count`, labels: { [labelName]: s.labelValue }, value: s.count },
    ];
  };
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({ name: metric.name, help, type: 'histogram', aggregator: 'sum', values: [...series.values()].flatMap(render) }),
    reset() {
      for (const s of series.values()) {
        s.counts.fill(0);
        s.sum = 0;
        s.count = 0;
      }
    },
  };
  // The registry needs only a name and get(); its typings list prom-client's own classes.
  registry.registerMetric(metric as unknown as Metric);

  return {
    observer(labelValue) {
      const s = series.get(labelValue);
      if (!s) throw new Error(`${name}: no series for ${labelName}="${labelValue}"`);
      const { counts } = s;
      const last = bounds.length;
      return (value) => {
        let i = 0;
        while (i < last && value > (bounds[i] as number)) i++;
        counts[i] = (counts[i] as number) + 1;
        s.sum += value;
        s.count++;
      };
    },
  };
}
