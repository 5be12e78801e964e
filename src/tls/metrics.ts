import { Gauge, type Registry } from 'prom-client';
import { registerScrapedCounter } from '../metrics/scraped-counter.js';
import { TLS_HANDSHAKE_FAILURE_REASONS, type TlsStats } from './stats.js';

/** One tls listener as the metrics see it. */
export interface TlsMetricsSource {
  readonly name: string;
  readonly stats: TlsStats;
}

export function registerTlsMetrics(registry: Registry, sources: readonly TlsMetricsSource[]): void {
  if (sources.length === 0) return;
  registerScrapedCounter(registry, { name: 'echo_tls_handshake_failures_total', help: 'TLS handshakes that failed, by reason; never fatal.', labelNames: ['listener', 'reason'] }, (add) => {
    for (const { name, stats } of sources) for (const reason of TLS_HANDSHAKE_FAILURE_REASONS) add({ listener: name, reason }, stats.handshakeFailures[reason]);
  });
  registerScrapedCounter(
    registry,
    { name: 'echo_tls_renegotiations_refused_total', help: 'Established TLS connections closed because the client tried to renegotiate.', labelNames: ['listener'] },
    (add) => {
      for (const { name, stats } of sources) add({ listener: name }, stats.renegotiationsRefused);
    },
  );
  registerScrapedCounter(
    registry,
    { name: 'echo_tls_reloads_total', help: 'Certificate reloads (SIGHUP), by result; a failed reload keeps the previous certificate.', labelNames: ['listener', 'result'] },
    (add) => {
      for (const { name, stats } of sources) {
        add({ listener: name, result: 'ok' }, stats.reloads);
        add({ listener: name, result: 'error' }, stats.reloadFailures);
      }
    },
  );
  new Gauge({
    name: 'echo_tls_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the certificate in use, as a Unix timestamp.',
    labelNames: ['listener'],
    registers: [registry],
    collect() {
      for (const { name, stats } of sources) this.set({ listener: name }, stats.certificateNotAfterSeconds);
    },
  });
}
