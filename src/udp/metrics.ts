// The UDP echo metrics. Like the TCP ones (tcp/metrics.ts) they read plain counters at scrape time
// (collect()), so the datagram path never touches prom-client.
import type { Registry, RegistryContentType } from 'prom-client';
import { registerScrapedCounter } from '../metrics/scraped-counter.js';
import { UDP_ERROR_REASONS, type UdpStats } from './stats.js';

/** Constant labels for one listener's series, e.g. `{ listener: 'udp://0.0.0.0:7000' }` (values from configuration only). */
export type UdpMetricLabels = Readonly<Record<string, string>>;

export interface UdpMetricsSource {
  readonly stats: UdpStats;
  readonly labels?: UdpMetricLabels;
}

const RESERVED_LABELS = new Set(['direction', 'reason']);

/**
 * Defines on `registry`:
 * - `echo_udp_datagrams_total{direction="received"|"sent"}`
 * - `echo_udp_received_bytes_total`, `echo_udp_sent_bytes_total`
 * - `echo_udp_errors_total{reason="oversize"|"send_queue_full"|"send_failed"|"receive_failed"|"loop"|"reserved_source_port"|"rate_limited"}`
 * every series present from the first scrape (0 until something happens).
 *
 * Several UDP listeners share the metric names, so they are registered at once, each with its own
 * labels (`{ listener: 'udp://…:7000' }`); every source must carry the same label names.
 */
export function registerUdpMetrics(registry: Registry<RegistryContentType>, sources: readonly UdpMetricsSource[]): void {
  if (sources.length === 0) throw new Error('registerUdpMetrics: no UDP listener to report');
  const labelNames = Object.keys(sources[0]?.labels ?? {}).sort();
  for (const source of sources) {
    const names = Object.keys(source.labels ?? {}).sort();
    if (names.join(',') !== labelNames.join(',')) {
      throw new Error(`registerUdpMetrics: every source needs the same label names (${labelNames.join(', ') || 'none'}), got ${names.join(', ') || 'none'}`);
    }
  }
  const reserved = labelNames.find((name) => RESERVED_LABELS.has(name));
  if (reserved) throw new Error(`registerUdpMetrics: label '${reserved}' is used by the UDP metrics themselves`);
  const base = (source: UdpMetricsSource) => source.labels ?? {};

  const datagrams = {
    name: 'echo_udp_datagrams_total',
    help: 'UDP echo datagrams, by direction: received from clients (oversize ones included) and sent back (accepted by the kernel).',
    labelNames: [...labelNames, 'direction'],
  };
  registerScrapedCounter(registry, datagrams, (add) => {
    for (const source of sources) {
      add({ ...base(source), direction: 'received' }, source.stats.receivedDatagrams);
      add({ ...base(source), direction: 'sent' }, source.stats.sentDatagrams);
    }
  });
  registerScrapedCounter(registry, { name: 'echo_udp_received_bytes_total', help: 'UDP payload bytes received from clients (oversize datagrams included).', labelNames }, (add) => {
    for (const source of sources) add(base(source), source.stats.receivedBytes);
  });
  registerScrapedCounter(registry, { name: 'echo_udp_sent_bytes_total', help: 'UDP payload bytes sent back to clients (accepted by the kernel).', labelNames }, (add) => {
    for (const source of sources) add(base(source), source.stats.sentBytes);
  });
  const errors = {
    name: 'echo_udp_errors_total',
    help: 'UDP datagrams not echoed, by reason (oversize, send_queue_full, send_failed, loop, reserved_source_port, rate_limited, loss) and receive errors (receive_failed).',
    labelNames: [...labelNames, 'reason'],
  };
  registerScrapedCounter(registry, errors, (add) => {
    for (const source of sources) {
      for (const reason of UDP_ERROR_REASONS) add({ ...base(source), reason }, source.stats.errors[reason]);
    }
  });
}
