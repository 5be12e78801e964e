// UDP echo metrics: present and 0 from the start, exact after real traffic, in both formats. Linted by
// promtool: test/external/prometheus.test.ts.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry, type OpenMetricsContentType } from 'prom-client';
import { createUdpEchoListener } from '../../../src/udp/listener.js';
import { registerUdpMetrics } from '../../../src/udp/metrics.js';
import { createUdpStats } from '../../../src/udp/stats.js';
import { patternedBytes } from '../../support/echo-client.js';
import { parseExposition, sample } from '../../support/metrics.js';
import { waitFor } from '../../support/wait.js';
import { numberedDatagram, openUdpClient, pacedExchange } from '../../support/udp.js';
import { UDP_LISTENER_DEFAULTS } from '../../support/config.js';

const L = 'listener="udp://127.0.0.1:0"';

describe('UDP echo metrics', () => {
  it('start at 0 for every series, then equal exactly what real datagrams did', async () => {
    const stats = createUdpStats();
    const registry = new Registry();
    registerUdpMetrics(registry, [{ stats, labels: { listener: 'udp://127.0.0.1:0' } }]);
    const zero = parseExposition(await registry.metrics());
    expect(Object.fromEntries(zero)).toEqual({
      [`echo_udp_datagrams_total{${L},direction="received"}`]: 0,
      [`echo_udp_datagrams_total{${L},direction="sent"}`]: 0,
      [`echo_udp_received_bytes_total{${L}}`]: 0,
      [`echo_udp_sent_bytes_total{${L}}`]: 0,
      [`echo_udp_errors_total{${L},reason="oversize"}`]: 0,
      [`echo_udp_errors_total{${L},reason="send_queue_full"}`]: 0,
      [`echo_udp_errors_total{${L},reason="send_failed"}`]: 0,
      [`echo_udp_errors_total{${L},reason="receive_failed"}`]: 0,
      [`echo_udp_errors_total{${L},reason="loop"}`]: 0,
      [`echo_udp_errors_total{${L},reason="reserved_source_port"}`]: 0,
      [`echo_udp_errors_total{${L},reason="rate_limited"}`]: 0,
      [`echo_udp_errors_total{${L},reason="loss"}`]: 0,
    });

    const listener = createUdpEchoListener({ ...UDP_LISTENER_DEFAULTS, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), stats, maxDatagramBytes: 2000 });
    const { port } = await listener.listen();
    const client = await openUdpClient(port);
    try {
      const count = 3000;
      const result = await pacedExchange(client, count, { window: 64 });
      expect(result.wrong).toBe(0);
      let bytes = 0;
      for (let seq = 0; seq < count; seq++) bytes += numberedDatagram(seq).length;
      await client.send(patternedBytes(2001, 9)); // oversize: counted as received, not echoed
      const empty = Buffer.alloc(0);
      expect((await client.exchange(empty)).length).toBe(0); // a 0-byte datagram counts as a datagram
      await waitFor(() => stats.sentDatagrams === count + 1, { what: 'the last send to complete' });

      const samples = parseExposition(await registry.metrics());
      expect(sample(samples, `echo_udp_datagrams_total{${L},direction="received"}`)).toBe(count + 2);
      expect(sample(samples, `echo_udp_datagrams_total{${L},direction="sent"}`)).toBe(count + 1);
      expect(sample(samples, `echo_udp_received_bytes_total{${L}}`)).toBe(bytes + 2001);
      expect(sample(samples, `echo_udp_sent_bytes_total{${L}}`)).toBe(bytes);
      expect(sample(samples, `echo_udp_errors_total{${L},reason="oversize"}`)).toBe(1);
      expect(sample(samples, `echo_udp_errors_total{${L},reason="send_failed"}`)).toBe(0);
      // A second scrape reads the same numbers (collect() sets, never adds).
      expect(parseExposition(await registry.metrics())).toEqual(samples);
    } finally {
      await client.close();
      await listener.close();
    }
  });

  it('reports several UDP listeners under one set of names, and needs no labels for one', async () => {
    const a = createUdpStats();
    const b = createUdpStats();
    a.receivedDatagrams = 5;
    b.errors.send_failed = 2;
    const registry = new Registry();
    registerUdpMetrics(registry, [
      { stats: a, labels: { listener: 'udp://0.0.0.0:7000' } },
      { stats: b, labels: { listener: 'udp://[::]:7001' } },
    ]);
    const samples = parseExposition(await registry.metrics());
    expect(sample(samples, 'echo_udp_datagrams_total{listener="udp://0.0.0.0:7000",direction="received"}')).toBe(5);
    expect(sample(samples, 'echo_udp_errors_total{listener="udp://[::]:7001",reason="send_failed"}')).toBe(2);
    expect(samples.size).toBe(24); // per listener: 2 directions, 2 byte totals, 8 error reasons

    const bare = new Registry();
    registerUdpMetrics(bare, [{ stats: createUdpStats() }]);
    expect(sample(parseExposition(await bare.metrics()), 'echo_udp_received_bytes_total')).toBe(0);
  });

  it('refuses sources with different label names, or labels it uses itself', () => {
    expect(() => registerUdpMetrics(new Registry(), [{ stats: createUdpStats(), labels: { listener: 'x' } }, { stats: createUdpStats() }])).toThrow(/same label names/);
    expect(() => registerUdpMetrics(new Registry(), [{ stats: createUdpStats(), labels: { reason: 'x' } }])).toThrow(/reason/);
    expect(() => registerUdpMetrics(new Registry(), [])).toThrow();
  });

  it('renders OpenMetrics too', async () => {
    const openMetrics = new Registry<OpenMetricsContentType>();
    openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    registerUdpMetrics(openMetrics, [{ stats: createUdpStats() }]);
    expect(await openMetrics.metrics()).toContain('# TYPE echo_udp_datagrams counter');
  });
});
