// The sidecar's own metrics: what its admission control did, read from plain numbers at scrape time.
import { Gauge, type Registry } from 'prom-client';
import { registerScrapedCounter } from '../metrics/scraped-counter.js';
import { SHED_REASONS, type AdmissionStats } from './admission.js';

export function registerAdmissionMetrics(registry: Registry, stats: AdmissionStats): void {
  registerScrapedCounter(
    registry,
    {
      name: 'echo_http_connections_shed_total',
      help: 'Sidecar connections the sidecar closed, by reason: pipelined (more requests in flight on one connection than allowed), max_connections (the oldest, to make room for a new one).',
      labelNames: ['reason'],
    },
    (add) => {
      for (const reason of SHED_REASONS) add({ reason }, stats.shed[reason]);
    },
  );
  new Gauge({
    name: 'echo_http_connections_active',
    help: 'Open sidecar connections.',
    registers: [registry],
    collect() {
      this.set(stats.connections);
    },
  });
  registerScrapedCounter(
    registry,
    { name: 'echo_http_requests_delayed_total', help: 'Sidecar requests that waited because requests came faster than the sidecar handles them.' },
    (add) => add({}, stats.delayed),
  );
  new Gauge({
    name: 'echo_http_requests_in_flight',
    help: 'Sidecar requests read whose response is not yet sent (this scrape included).',
    registers: [registry],
    collect() {
      this.set(stats.inFlight);
    },
  });
}
