// Every metric the service exposes, defined in one place on a Registry of its own.
// Echo counters are plain numbers owned by the echo path; they are read here at scrape time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric, type OpenMetricsContentType } from 'prom-client';
import { CLOSE_REASONS, REJECT_REASONS, type ByteTotals, type EchoStats } from './echo/stats.js';

export interface EchoSource {
  readonly stats: EchoStats;
  activeConnections(): number;
  byteTotals(): ByteTotals;
}

export interface MetricsOptions {
  readonly source: EchoSource;
  readonly maxConnections: number;
  readonly version: string;
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
  recordConnectionDuration(seconds: number): void;
}

// prom-client's defaults include gauges named *_total, which `promtool check metrics` rejects;
// each has a twin without the suffix that stays.
const DEFAULT_METRICS_LEFT_OUT = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

const DURATION_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

export function createMetrics({ source, maxConnections, version }: MetricsOptions): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const { stats } = source;

  new Gauge({
    name: 'echo_connections_active',
    help: 'Open client connections.',
    registers,
    collect() {
      this.set(source.activeConnections());
    },
  });
  const setCounter = (counter: Counter, value: number) => {
    counter.reset();
    counter.inc(value);
  };
  new Counter({
    name: 'echo_connections_accepted_total',
    help: 'Accepted client connections.',
    registers,
    collect() {
      setCounter(this, stats.accepted);
    },
  });
  new Counter({
    name: 'echo_connections_rejected_total',
    help: 'Connections refused at accept, by reason.',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const reason of REJECT_REASONS) this.inc({ reason }, stats.rejected[reason]);
    },
  });
  new Counter({
    name: 'echo_accept_errors_total',
    help: 'Accepts the echo listener reported failed (EMFILE, ENFILE, other); the listener keeps listening.',
    labelNames: ['code'],
    registers,
    collect() {
      this.reset();
      for (const [code, count] of Object.entries(stats.acceptErrors)) this.inc({ code }, count);
    },
  });
  new Counter({
    name: 'echo_connections_closed_total',
    help: 'Closed client connections, by reason.',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const reason of CLOSE_REASONS) this.inc({ reason }, stats.closed[reason]);
    },
  });
  new Counter({
    name: 'echo_received_bytes_total',
    help: 'Bytes read from clients.',
    registers,
    collect() {
      setCounter(this, source.byteTotals().received);
    },
  });
  new Counter({
    name: 'echo_sent_bytes_total',
    help: 'Bytes written back to clients (accepted by the kernel).',
    registers,
    collect() {
      setCounter(this, source.byteTotals().sent);
    },
  });
  const duration = new Histogram({
    name: 'echo_connection_duration_seconds',
    help: 'Lifetime of client connections.',
    buckets: DURATION_BUCKETS,
    registers,
  });
  new Counter({
    name: 'echo_backpressure_pauses_total',
    help: 'Times reading from a client paused because it was not reading its echo.',
    registers,
    collect() {
      setCounter(this, stats.backpressurePauses);
    },
  });
  new Gauge({ name: 'echo_max_connections', help: 'Configured connection limit (0 = no limit).', registers }).set(maxConnections);
  new Gauge({
    name: 'echo_build_info',
    help: 'Build identity; the value is always 1.',
    labelNames: ['version', 'nodejs'],
    registers,
    aggregator: 'first', // identical in every worker: aggregate to 1, not to the worker count
  }).set({ version, nodejs: process.version }, 1);

  registerRuntimeMetrics(registry);

  return {
    registry,
    recordConnectionDuration: (seconds) => duration.observe(seconds),
    render: createRenderer(registry),
  };
}

/** prom-client's process and Node runtime metrics, minus the ones promtool rejects. */
export function registerRuntimeMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of DEFAULT_METRICS_LEFT_OUT) registry.removeSingleMetric(name);
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
