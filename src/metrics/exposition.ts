// Every metric the service exposes, defined in one place on a Registry of its own.
// Echo counters are plain numbers owned by the echo path; they are read here at scrape time.
import { Gauge, Registry, type Metric, type OpenMetricsContentType } from 'prom-client';
import { registerLabelledHistogram } from './bucket-histogram.js';
import { registerRuntimeMetrics, type RuntimeMetricsOptions } from './runtime.js';
import { registerScrapedCounter } from './scraped-counter.js';
import { ACCEPT_ERROR_CODES, CLOSE_REASONS, REJECT_REASONS, type ByteTotals, type EchoStats } from '../tcp/stats.js';

/** One echo listener as the metrics see it; `name` is the value of its `listener` label. */
export interface EchoSource {
  readonly name: string;
  readonly stats: EchoStats;
  /** The configured limit for this listener (0 = none). */
  readonly maxConnections: number;
  activeConnections(): number;
  byteTotals(): ByteTotals;
}

export interface MetricsOptions {
  readonly sources: readonly EchoSource[];
  /** Registers metrics of other listener kinds (UDP, TLS) on the same registry. */
  readonly extra?: ReadonlyArray<(registry: Registry) => void>;
  readonly version: string;
  readonly runtime: RuntimeMetricsOptions;
}

export interface Exposition {
  readonly contentType: string;
  readonly body: string;
}

export interface MetricsRenderer {
  /** Renders the exposition format the Accept header prefers (Prometheus text unless it asks for OpenMetrics). */
  render(accept: string | undefined): Promise<Exposition>;
}

export interface Metrics extends MetricsRenderer {
  readonly registry: Registry;
}

export function createMetrics({ sources, extra = [], version, runtime }: MetricsOptions): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const listener = ['listener'] as const;

  /** A counter read per listener (and per `key` value) from the echo path's plain numbers at scrape time. */
  const counterOf = (name: string, help: string, read: (source: EchoSource) => number) =>
    registerScrapedCounter(registry, { name, help, labelNames: listener }, (add) => {
      for (const source of sources) add({ listener: source.name }, read(source));
    });
  const counterBy = <K extends string>(name: string, help: string, key: string, keys: readonly K[], read: (source: EchoSource) => Record<K, number>) =>
    registerScrapedCounter(registry, { name, help, labelNames: ['listener', key] }, (add) => {
      for (const source of sources) {
        const values = read(source);
        for (const k of keys) add({ listener: source.name, [key]: k }, values[k]);
      }
    });

  new Gauge({
    name: 'echo_connections_active',
    help: 'Open client connections.',
    labelNames: listener,
    registers,
    collect() {
      for (const source of sources) this.set({ listener: source.name }, source.activeConnections());
    },
  });
  counterOf('echo_connections_accepted_total', 'Accepted client connections.', (source) => source.stats.accepted);
  counterBy('echo_connections_rejected_total', 'Connections refused at accept, by reason.', 'reason', REJECT_REASONS, (source) => source.stats.rejected);
  counterBy('echo_accept_errors_total', 'Accepts the echo listener reported failed (EMFILE, ENFILE, other); the listener keeps listening.', 'code', ACCEPT_ERROR_CODES, (source) => source.stats.acceptErrors);
  counterBy('echo_connections_closed_total', 'Closed client connections, by reason.', 'reason', CLOSE_REASONS, (source) => source.stats.closed);
  counterOf('echo_received_bytes_total', 'Bytes read from clients.', (source) => source.byteTotals().received);
  counterOf('echo_sent_bytes_total', 'Bytes written back to clients (accepted by the kernel).', (source) => source.byteTotals().sent);
  registerLabelledHistogram({
    name: 'echo_connection_duration_seconds',
    help: 'Lifetime of client connections.',
    labelName: 'listener',
    series: () => sources.map((source) => [source.name, source.stats.durations] as const),
    registry,
  });
  counterOf('echo_backpressure_pauses_total', 'Times reading from a client paused because it was not reading its echo.', (source) => source.stats.backpressurePauses);
  const maxConnections = new Gauge({ name: 'echo_max_connections', help: 'Configured connection limit (0 = no limit).', labelNames: listener, registers });
  for (const source of sources) maxConnections.set({ listener: source.name }, source.maxConnections);
  new Gauge({
    name: 'echo_build_info',
    help: 'Build identity; the value is always 1.',
    labelNames: ['version', 'nodejs'],
    registers,
    aggregator: 'first', // identical in every worker: aggregate to 1, not to the worker count
  }).set({ version, nodejs: process.version }, 1);

  for (const register of extra) register(registry);
  registerRuntimeMetrics(registry, runtime);

  return {
    registry,
    render: createRenderer(registry),
  };
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
function createRenderer(registry: Registry): Metrics['render'] {
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
