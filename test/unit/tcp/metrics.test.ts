import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { Gauge } from 'prom-client';
import { singleFlight } from '../../../src/sidecar/single-flight.js';
import type { Exposition } from '../../../src/metrics/exposition.js';
import { collectUntilEnd, echoRoundTrip, openClient, patternedBytes } from '../../support/echo-client.js';
import { httpRequest, parseExposition, sample, scrape } from '../../support/metrics.js';
import { spawnService } from '../../support/process.js';
import { startService, startServicesPerTest } from '../../support/service.js';
import { waitFor } from '../../support/wait.js';

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
    // The sidecar's admission control (issue 12), this scrape being the one connection and request.
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

describe('scrapes that arrive together share renders (single flight with freshness)', () => {
  const OPEN_METRICS = 'application/openmetrics-text; version=1.0.0';

  /** A renderer whose renders finish when the test says; it records when each started. */
  function controlledRenderer(clock: { now: number }) {
    const renders: Array<{ accept: string | undefined; startedAt: number; finish: () => void }> = [];
    const render = (accept: string | undefined) =>
      new Promise<Exposition>((resolve) => {
        const n = renders.length + 1;
        renders.push({ accept, startedAt: clock.now++, finish: () => resolve({ contentType: 'text/plain', body: `render ${n}` }) });
      });
    return { render, renders };
  }

  it('one render running and one waiting per format; no caller gets a render that started before it asked', async () => {
    const clock = { now: 0 };
    const { render, renders } = controlledRenderer(clock);
    const shared = singleFlight(render);
    const ask = (accept?: string) => {
      const askedAt = clock.now++;
      return shared(accept).then((exposition) => ({ askedAt, body: exposition.body }));
    };
    const started = (count: number) => waitFor(() => renders.length === count, { what: `${count} renders to start` });
    // Asked in the same turn: one render per format, started at the end of the turn.
    const first = [ask(), ask()];
    const openMetrics = ask(OPEN_METRICS);
    await started(2);
    expect(renders.map((r) => r.accept)).toEqual([undefined, OPEN_METRICS]);
    // Asked while a render runs: they wait for the next one.
    const during = [ask(), ask(), ask()];
    renders[0]!.finish();
    expect((await Promise.all(first)).map((r) => r.body)).toEqual(['render 1', 'render 1']);
    const inTheGap = ask(); // after render 1 ended, before the next one started: it joins the next
    await started(3);
    expect(renders[2]!.accept).toBeUndefined();
    renders[2]!.finish();
    const third = await Promise.all([...during, inTheGap]);
    expect(third.map((r) => r.body)).toEqual(['render 3', 'render 3', 'render 3', 'render 3']);
    for (const r of [...(await Promise.all(first)), ...third]) {
      const renderOf = renders[Number(r.body.split(' ')[1]) - 1]!;
      expect(renderOf.startedAt, 'the render started after the caller asked').toBeGreaterThan(r.askedAt);
    }
    renders[1]!.finish();
    expect((await openMetrics).body).toBe('render 2');
    expect(renders).toHaveLength(3);
    // Idle again: the next caller gets a render of its own.
    const later = ask();
    await started(4);
    renders[3]!.finish();
    expect((await later).body).toBe('render 4');
  });

  it('spaces renders out: the next render of a format starts a gap after the last one started', async () => {
    const starts: number[] = [];
    const shared = singleFlight(
      async () => {
        starts.push(performance.now());
        return { contentType: 'text/plain', body: 'x' };
      },
      { minGapMs: 40 },
    );
    await shared(undefined);
    await shared(undefined); // asked right after the first ended: waits out the gap
    await shared(undefined);
    // Timers run on the event loop's clock, cached at the start of a turn: up to a millisecond early.
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(38);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(38);
  });

  it('a render that fails fails its callers only, and the next caller gets a fresh render', async () => {
    let calls = 0;
    const shared = singleFlight(async () => {
      if (++calls === 1) throw new Error('boom');
      return { contentType: 'text/plain', body: `render ${calls}` };
    });
    await expect(shared(undefined)).rejects.toThrow('boom');
    expect((await shared(undefined)).body).toBe('render 2');
  });

  it('over real sockets: 40 keep-alive scrapers take far fewer renders than scrapes, each scrape complete', async () => {
    const running = await start();
    let renders = 0;
    new Gauge({
      name: 'test_renders',
      help: 'Counts renders of this registry.',
      registers: [running.registry],
      collect() {
        this.set(++renders);
      },
    });
    // Fresh connections are accepted one per event-loop turn, so their scrapes never meet; connections
    // kept alive (as Prometheus keeps its own) send theirs in the same turn.
    const clients = 40;
    const perClient = 10;
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const get = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: running.httpPort, path: '/metrics', agent }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (text: string) => (body += text));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      await Promise.all(Array.from({ length: clients }, () => get())); // every connection open
      const before = renders;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          for (let i = 0; i < perClient; i++) {
            const response = await get();
            expect(response.status).toBe(200);
            expect(response.body).toMatch(/^echo_build_info\{/m);
          }
        }),
      );
      const taken = renders - before;
      console.log(`${clients * perClient} scrapes on ${clients} kept-alive connections took ${taken} renders`);
      expect(taken).toBeLessThan((clients * perClient) / 4);
    } finally {
      agent.destroy();
    }
  });

  it.each([
    ['in one process', 1],
    ['with 2 workers (a render waits on each worker: renders overlap scrapes)', 2],
  ])('a scrape taken after bytes were echoed shows them, while other scrapers keep renders running: %s', { timeout: 30_000 }, async (_name, workers) => {
    const spawned = await spawnService({ env: { ECHO_WORKERS: String(workers) } });
    const { httpPort, echoPort } = spawned;
    let scraping = true;
    const background = Array.from({ length: 8 }, async (_, i) => {
      while (scraping) await httpRequest(httpPort, '/metrics', { headers: i % 2 ? { accept: OPEN_METRICS } : {} });
    });
    let total = 0;
    try {
      for (let i = 0; i < 30; i++) {
        const payload = patternedBytes(1 + ((i * 7919) % 5000), i);
        expect((await echoRoundTrip(echoPort, payload)).equals(payload)).toBe(true);
        total += payload.length;
        const samples = await scrape(httpPort);
        expect(sample(samples, 'echo_received_bytes_total'), `after round trip ${i}`).toBe(total);
        expect(sample(samples, 'echo_sent_bytes_total'), `after round trip ${i}`).toBe(total);
      }
    } finally {
      scraping = false;
      await Promise.all(background);
      await spawned.ensureStopped();
    }
  });
});

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
