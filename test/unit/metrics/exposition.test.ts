// The exposition (src/metrics/exposition.ts) of a service built in this process: every metric of the
// contract from the first scrape, Prometheus text or OpenMetrics as the Accept header asks. Linted by
// promtool and scraped by a real Prometheus: test/external/prometheus.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoRoundTrip } from '../../support/echo-client.js';
import { declaredTypes, getMetrics, httpRequest, OPENMETRICS_ACCEPT, parseExposition, PROMETHEUS_ACCEPT, sample, sampleNames } from '../../support/metrics.js';
import { startServiceAfterTraffic, startServicesPerTest, type RunningService } from '../../support/service.js';

const start = startServicesPerTest();

const closed = (reason: string) => `echo_connections_closed_total{reason="${reason}"}`;

describe('metrics exposition', () => {
  it('exposes every metric of the contract from the first scrape, labelled series at 0', async () => {
    const { httpPort } = await start({ ECHO_MAX_CONNECTIONS: '123' });
    const response = await httpRequest(httpPort, '/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const samples = parseExposition(response.body);
    for (const name of ['echo_connections_active', 'echo_connections_accepted_total', 'echo_received_bytes_total', 'echo_sent_bytes_total', 'echo_backpressure_pauses_total']) {
      expect(sample(samples, name), name).toBe(0);
    }
    expect(sample(samples, 'echo_connections_rejected_total{reason="max_connections"}')).toBe(0);
    for (const reason of ['client_end', 'reset', 'idle_timeout', 'shutdown', 'error']) expect(sample(samples, closed(reason))).toBe(0);
    expect(sample(samples, 'echo_connection_duration_seconds_count')).toBe(0);
    expect(sample(samples, 'echo_connection_duration_seconds_bucket{le="+Inf"}')).toBe(0);
    expect(sample(samples, 'echo_max_connections')).toBe(123);
    expect(sample(samples, `echo_build_info{version="test",nodejs="${process.version}"}`)).toBe(1);
    // The sidecar's admission control, this scrape being the one connection and request.
    for (const reason of ['pipelined', 'max_connections']) expect(sample(samples, `echo_http_connections_shed_total{reason="${reason}"}`), reason).toBe(0);
    expect(sample(samples, 'echo_http_requests_delayed_total')).toBe(0);
    expect(sample(samples, 'echo_http_connections_active')).toBe(1);
    expect(sample(samples, 'echo_http_requests_in_flight')).toBe(1);
    // prom-client's process and runtime metrics, minus the gauges named *_total that promtool rejects.
    expect(samples.has('process_resident_memory_bytes')).toBe(true);
    expect(samples.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    expect(samples.has('nodejs_active_handles_total')).toBe(false);
    expect(response.body).toMatch(/^# TYPE echo_connection_duration_seconds histogram$/m);
    expect(response.body).toMatch(/^# TYPE echo_sent_bytes_total counter$/m);
  });

  it('serves OpenMetrics when the Accept header asks, and a text scrape afterwards is unchanged', async () => {
    const { httpPort, echoPort } = await start();
    await echoRoundTrip(echoPort, Buffer.from('hello'));
    const textBefore = await httpRequest(httpPort, '/metrics');
    const openMetrics = await httpRequest(httpPort, '/metrics', { headers: { accept: 'application/openmetrics-text; version=1.0.0; charset=utf-8' } });
    expect(openMetrics.headers['content-type']).toMatch(/^application\/openmetrics-text/);
    expect(openMetrics.body.endsWith('# EOF\n')).toBe(true);
    expect(openMetrics.body).toMatch(/^# TYPE echo_sent_bytes counter$/m);
    expect(openMetrics.body).toMatch(/^echo_sent_bytes_total\{listener="tcp:\/\/127\.0\.0\.1:0"\} 5$/m);
    const textAfter = await httpRequest(httpPort, '/metrics');
    const names = (body: string) => [...parseExposition(body).keys()].filter((key) => key.startsWith('echo_'));
    expect(names(textAfter.body)).toEqual(names(textBefore.body));
    expect(textAfter.body).toMatch(/^echo_sent_bytes_total\{listener="tcp:\/\/127\.0\.0\.1:0"\} 5$/m);
  });

  it('prefers text when the client ranks it higher, as Prometheus does with q-values', async () => {
    const { httpPort } = await start();
    const prefersText = await httpRequest(httpPort, '/metrics', { headers: { accept: 'application/openmetrics-text;q=0.2,text/plain;version=0.0.4;q=0.9' } });
    expect(prefersText.headers['content-type']).toMatch(/^text\/plain/);
    const prometheusDefault = await httpRequest(httpPort, '/metrics', {
      headers: { accept: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1' },
    });
    expect(prometheusDefault.headers['content-type']).toMatch(/^application\/openmetrics-text/);
  });

  it('survives concurrent text and OpenMetrics scrapes without mixing names', async () => {
    const { httpPort } = await start();
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => httpRequest(httpPort, '/metrics', { headers: i % 2 ? { accept: 'application/openmetrics-text' } : {} })),
    );
    responses.forEach((response, i) => {
      if (i % 2) expect(response.body).toMatch(/^# TYPE echo_received_bytes counter$/m);
      else expect(response.body).toMatch(/^# TYPE echo_received_bytes_total counter$/m);
    });
  });
});

describe('OpenMetrics after traffic', () => {
  let running: RunningService;
  beforeAll(async () => void (running = await startServiceAfterTraffic()));
  afterAll(() => running?.stop());

  it('renders OpenMetrics on request: content type, counters declared without _total, samples with it, # EOF', async () => {
    const response = await getMetrics(running.httpPort, OPENMETRICS_ACCEPT);
    expect(response.headers['content-type']).toMatch(/^application\/openmetrics-text/);
    expect(response.body.endsWith('# EOF\n')).toBe(true);
    expect(response.body.indexOf('# EOF')).toBe(response.body.length - '# EOF\n'.length);
    const types = declaredTypes(response.body);
    for (const counter of ['echo_sent_bytes', 'echo_received_bytes', 'echo_connections_accepted', 'echo_connections_closed', 'echo_connections_rejected', 'echo_backpressure_pauses']) {
      expect(types.get(counter), counter).toBe('counter');
      expect(types.has(`${counter}_total`), `${counter}_total declared`).toBe(false);
    }
    expect(response.body).toMatch(/^# TYPE echo_sent_bytes counter$/m);
    expect(response.body).toMatch(/^echo_sent_bytes_total\{listener="[^"]+"\} 371001$/m);
    expect(response.body).toMatch(/^echo_received_bytes_total\{listener="[^"]+"\} 371001$/m);
    expect(response.body).toMatch(/^echo_connections_closed_total\{listener="[^"]+",reason="client_end"\} 4$/m);
    // No counter sample lost its suffix.
    for (const [family, type] of types) {
      if (type !== 'counter') continue;
      expect(sampleNames(response.body).has(family), `bare counter sample ${family}`).toBe(false);
    }
    // Prometheus's own Accept header negotiates OpenMetrics too.
    const asPrometheus = await getMetrics(running.httpPort, PROMETHEUS_ACCEPT);
    expect(asPrometheus.headers['content-type']).toMatch(/^application\/openmetrics-text/);
  });
});
