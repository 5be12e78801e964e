// Rendering a registry in the exposition format a scraper asks for.
import { Registry, type Metric, type OpenMetricsContentType } from 'prom-client';

export interface Exposition {
  readonly contentType: string;
  readonly body: string;
}

export interface MetricsRenderer {
  /** Renders the exposition format the Accept header prefers (Prometheus text unless it asks for OpenMetrics). */
  render(accept: string | undefined): Promise<Exposition>;
}

export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept || !accept.includes('application/openmetrics-text')) return false;
  let openMetricsQ = 0;
  let textQ = 0;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) || 0 : 1;
    if (type === 'application/openmetrics-text') openMetricsQ = Math.max(openMetricsQ, q);
    else if (type === 'text/plain' || type === '*/*' || type === 'text/*') textQ = Math.max(textQ, q);
  }
  return openMetricsQ > 0 && openMetricsQ >= textQ;
}

/**
 * prom-client renders OpenMetrics by renaming counters in place (dropping `_total`), which would
 * leak into the next text scrape. Renders run one at a time and OpenMetrics renders restore the names.
 */
export function createRenderer(registry: Registry): MetricsRenderer['render'] {
  const openMetricsRegistry = new Registry<OpenMetricsContentType>();
  openMetricsRegistry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  let queue: Promise<unknown> = Promise.resolve();

  const renderText = async (): Promise<Exposition> => ({ contentType: registry.contentType, body: await registry.metrics() });
  const renderOpenMetrics = async (): Promise<Exposition> => {
    // At run time these are the metric objects themselves (the typings call them MetricObject).
    const metrics = registry.getMetricsAsArray() as unknown as Array<Metric & { name: string }>;
    const names = metrics.map((metric) => metric.name);
    for (const metric of metrics) openMetricsRegistry.registerMetric(metric);
    try {
      return { contentType: openMetricsRegistry.contentType, body: await openMetricsRegistry.metrics() };
    } finally {
      metrics.forEach((metric, i) => (metric.name = names[i] as string));
      openMetricsRegistry.clear();
    }
  };

  return (accept) => {
    const next = queue.then(wantsOpenMetrics(accept) ? renderOpenMetrics : renderText);
    queue = next.catch(() => undefined);
    return next;
  };
}
