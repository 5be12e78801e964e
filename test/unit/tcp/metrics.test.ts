// The echo's connection and byte metrics (src/tcp/metrics.ts, stats.ts) on a service built in this
// process: exact after real traffic, resets, idle timeouts, refusals and a drain.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect } from 'node:net';
import { collectUntilEnd, echoRoundTrip, openClient, patternedBytes } from '../../support/echo-client.js';
import { parseExposition, sample, scrape } from '../../support/metrics.js';
import { startService, startServicesPerTest } from '../../support/service.js';
import { waitFor } from '../../support/wait.js';

const start = startServicesPerTest();

const closed = (reason: string) => `echo_connections_closed_total{reason="${reason}"}`;

describe('counters are exact', () => {
  it('received and sent each grow by exactly the bytes clients sent and read back', async () => {
    const { httpPort, echoPort } = await start();
    const before = await scrape(httpPort);
    const sizes = [0, 1, 4096, 65_537, 3 * 1024 * 1024 + 11];
    for (const [i, size] of sizes.entries()) {
      const payload = patternedBytes(size, i + 1);
      expect((await echoRoundTrip(echoPort, payload)).equals(payload)).toBe(true);
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    const after = await waitFor(async () => {
      const samples = await scrape(httpPort);
      return sample(samples, 'echo_connections_active') === 0 ? samples : undefined;
    });
    expect(sample(after, 'echo_received_bytes_total') - sample(before, 'echo_received_bytes_total')).toBe(total);
    expect(sample(after, 'echo_sent_bytes_total') - sample(before, 'echo_sent_bytes_total')).toBe(total);
    expect(sample(after, 'echo_connections_accepted_total')).toBe(sizes.length);
    expect(sample(after, closed('client_end'))).toBe(sizes.length);
    expect(sample(after, 'echo_connection_duration_seconds_count')).toBe(sizes.length);
  });

  it('puts each connection lifetime in its duration bucket (cumulative, with sum and count)', async () => {
    const { httpPort, echoPort } = await start();
    const heldMs = 700;
    const held = await openClient(echoPort);
    const heldFrom = performance.now();
    const quick = await openClient(echoPort);
    quick.end();
    await once(quick, 'close');
    // The held connection's lifetime is the input here: it must end between the 0.5 s and 1 s bounds.
    await new Promise((resolve) => setTimeout(resolve, heldMs));
    held.end();
    await once(held, 'close');
    const heldSeconds = (performance.now() - heldFrom) / 1000;
    const samples = await waitFor(async () => {
      const s = await scrape(httpPort);
      return sample(s, 'echo_connection_duration_seconds_count') === 2 ? s : undefined;
    }, { what: 'both closes recorded' });
    const bucket = (le: string) => sample(samples, `echo_connection_duration_seconds_bucket{le="${le}",listener="tcp://127.0.0.1:0"}`);
    expect(bucket('0.5')).toBe(1);
    expect(bucket('1')).toBe(2);
    expect(bucket('+Inf')).toBe(2);
    const sum = sample(samples, 'echo_connection_duration_seconds_sum');
    expect(sum).toBeGreaterThanOrEqual(heldMs / 1000 - 0.01);
    expect(sum).toBeLessThan(heldSeconds + 0.5);
  });

  it('counts bytes of open connections too, as they flow', async () => {
    const { httpPort, echoPort } = await start();
    const socket = await openClient(echoPort);
    const payload = patternedBytes(10_000, 3);
    let got = 0;
    socket.on('data', (data: Buffer) => (got += data.length));
    socket.write(payload);
    await waitFor(() => got === payload.length, { what: 'the echo' });
    const samples = await scrape(httpPort);
    expect(sample(samples, 'echo_connections_active')).toBe(1);
    expect(sample(samples, 'echo_received_bytes_total')).toBe(payload.length);
    expect(sample(samples, 'echo_sent_bytes_total')).toBe(payload.length);
    socket.destroy();
  });

  it('returns active to 0 and counts reasons after resets and abrupt closes', async () => {
    const { httpPort, echoPort } = await start();
    // Clients that reset (RST) mid-stream.
    for (let i = 0; i < 10; i++) {
      const socket = await openClient(echoPort);
      socket.write(patternedBytes(50_000, i));
      await once(socket, 'data');
      socket.resetAndDestroy();
    }
    // Clients that vanish without a word (FIN without reading), and bare connect-then-close probes.
    for (let i = 0; i < 10; i++) {
      const socket = await openClient(echoPort);
      if (i % 2) socket.write('x');
      socket.destroy();
    }
    const samples = await waitFor(async () => {
      const s = await scrape(httpPort);
      return sample(s, 'echo_connections_active') === 0 && sample(s, 'echo_connection_duration_seconds_count') === 20 ? s : undefined;
    }, { what: 'all 20 connections to close' });
    expect(sample(samples, closed('reset'))).toBe(10);
    // A FIN (even with unread echo) is an orderly close; a client reset caused by unread data may show as reset.
    expect(sample(samples, closed('client_end')) + sample(samples, closed('reset'))).toBe(20);
    expect(sample(samples, closed('error'))).toBe(0);
    expect(sample(samples, 'echo_connections_accepted_total')).toBe(20);
  });

  it('closes silent connections after ECHO_IDLE_TIMEOUT_MS as idle_timeout', async () => {
    const { httpPort, echoPort } = await start({ ECHO_IDLE_TIMEOUT_MS: '150' });
    const socket = await openClient(echoPort);
    const echoed = collectUntilEnd(socket);
    socket.write('still here');
    expect((await echoed).toString()).toBe('still here');
    const samples = await waitFor(async () => {
      const s = await scrape(httpPort);
      return sample(s, closed('idle_timeout')) === 1 ? s : undefined;
    });
    expect(sample(samples, 'echo_connections_active')).toBe(0);
  });

  it('refuses connections above ECHO_MAX_CONNECTIONS, counts them, and keeps the others serving', async () => {
    const { httpPort, echoPort } = await start({ ECHO_MAX_CONNECTIONS: '3' });
    const kept = await Promise.all([openClient(echoPort), openClient(echoPort), openClient(echoPort)]);
    await waitFor(async () => sample(await scrape(httpPort), 'echo_connections_active') === 3);
    for (let i = 0; i < 4; i++) {
      const extra = connect({ port: echoPort, host: '127.0.0.1' });
      extra.on('error', () => undefined);
      extra.resume();
      await once(extra, 'close');
    }
    const samples = await scrape(httpPort);
    expect(sample(samples, 'echo_connections_rejected_total{reason="max_connections"}')).toBe(4);
    expect(sample(samples, 'echo_connections_active')).toBe(3);
    for (const [i, socket] of kept.entries()) {
      const echoed = collectUntilEnd(socket);
      socket.end(`kept ${i}`);
      expect((await echoed).toString()).toBe(`kept ${i}`);
    }
  });

  it('counts drained connections as shutdown when the service stops', async () => {
    const service = await startService({ SHUTDOWN_QUIET_MS: '100', SHUTDOWN_TIMEOUT_MS: '5000' });
    const socket = await openClient(service.echoPort);
    const echoed = collectUntilEnd(socket);
    socket.write('bye');
    await waitFor(async () => sample(await scrape(service.httpPort), 'echo_received_bytes_total') === 3);
    const stopped = service.stop();
    // The sidecar stays up while draining; the last scrape before it closes sees the drain.
    expect((await echoed).toString()).toBe('bye');
    await stopped;
    const lastScrape = parseExposition(await service.registry.metrics());
    expect(sample(lastScrape, closed('shutdown'))).toBe(1);
    expect(sample(lastScrape, 'echo_connections_active')).toBe(0);
  });
});
