// The TCP echo metrics (echo_connections_*, echo_*_bytes_total, ...). They read the plain numbers
// the echo path keeps (stats.ts) at scrape time, so a connection's life costs a few additions.
import { Gauge, type Registry } from 'prom-client';
import { registerLabelledHistogram } from '../metrics/bucket-histogram.js';
import { registerScrapedCounter } from '../metrics/scraped-counter.js';
import { ACCEPT_ERROR_CODES, CLOSE_REASONS, REJECT_REASONS, type ByteTotals, type EchoStats } from './stats.js';

/** One TCP echo listener as the metrics see it; `name` is the value of its `listener` label. */
export interface TcpMetricsSource {
  readonly name: string;
  readonly stats: EchoStats;
  /** The configured limit for this listener (0 = none). */
  readonly maxConnections: number;
  activeConnections(): number;
  byteTotals(): ByteTotals;
}

export function registerTcpMetrics(registry: Registry, sources: readonly TcpMetricsSource[]): void {
  const registers = [registry];
  const listener = ['listener'] as const;

  /** A counter read per listener from the echo path's plain numbers at scrape time. */
  const counterOf = (name: string, help: string, read: (source: TcpMetricsSource) => number) =>
    registerScrapedCounter(registry, { name, help, labelNames: listener }, (add) => {
      for (const source of sources) add({ listener: source.name }, read(source));
    });
  /** The same, one series per `key` value. */
  const counterBy = <K extends string>(name: string, help: string, key: string, keys: readonly K[], read: (source: TcpMetricsSource) => Record<K, number>) =>
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
}
