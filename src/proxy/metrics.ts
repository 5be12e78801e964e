import type { Registry } from 'prom-client';
import { registerScrapedCounter } from '../metrics/scraped-counter.js';
import { PROXY_ERROR_REASONS, type ProxyProtocolErrorReason } from './read-header.js';

/** One +proxy listener as the metrics see it. */
export interface ProxyMetricsSource {
  readonly name: string;
  readonly proxyErrors: Readonly<Record<ProxyProtocolErrorReason, number>>;
}

export function registerProxyMetrics(registry: Registry, sources: readonly ProxyMetricsSource[]): void {
  if (sources.length === 0) return;
  registerScrapedCounter(
    registry,
    { name: 'echo_proxy_protocol_errors_total', help: 'Connections on +proxy listeners closed because their PROXY header was missing, malformed, late or cut short.', labelNames: ['listener', 'reason'] },
    (add) => {
      for (const source of sources) for (const reason of PROXY_ERROR_REASONS) add({ listener: source.name, reason }, source.proxyErrors[reason]);
    },
  );
}
