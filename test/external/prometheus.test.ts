// The exposition against the real Prometheus tools: `promtool check metrics` lints the text format,
// and a real Prometheus server (Debian's `prometheus` binary, run here as a child process) scrapes
// the sidecar and must see exact byte counters. Prometheus 2.42 asks for OpenMetrics first in its
// Accept header, so the end-to-end half also exercises the OpenMetrics rendering path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { CLOSE_REASONS } from '../../src/tcp/stats.js';
import { registerUdpMetrics } from '../../src/udp/metrics.js';
import { createUdpStats } from '../../src/udp/stats.js';
import { echoRoundTrip, patternedBytes } from '../support/echo-client.js';
import { declaredTypes, getMetrics, httpRequest, OPENMETRICS_ACCEPT, parseExposition, sample, sampleNames } from '../support/metrics.js';
import { freePort } from '../support/ports.js';
import { promQuery, promtoolCheckMetrics, promValue } from '../support/prometheus.js';
import { startService, startServiceAfterTraffic, type RunningService } from '../support/service.js';
import { toolAvailable } from '../support/tools.js';
import { waitFor, within } from '../support/wait.js';

const hasPromtool = toolAvailable('promtool', 'prometheus');
const hasPrometheus = toolAvailable('prometheus', 'prometheus');

function echoNames(names: Iterable<string>): string[] {
  return [...names].filter((name) => name.startsWith('echo_')).sort();
}

describe.skipIf(!hasPromtool)('promtool check metrics', () => {
  let running: RunningService;
  beforeAll(async () => void (running = await startServiceAfterTraffic()));
  afterAll(() => running?.stop());

  it('passes on the text exposition of a service that has served traffic', async () => {
    const response = await getMetrics(running.httpPort);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(response.body);
    expect(sample(samples, 'echo_received_bytes_total')).toBe(371_001);
    expect(sample(samples, 'echo_sent_bytes_total')).toBe(371_001);
    expect(await promtoolCheckMetrics(response.body)).toEqual({ code: 0, output: '' });
  });

  it('a text scrape after an OpenMetrics scrape is unchanged in names and still passes promtool', async () => {
    const before = await getMetrics(running.httpPort);
    await getMetrics(running.httpPort, OPENMETRICS_ACCEPT);
    const after = await getMetrics(running.httpPort);

    expect(after.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(declaredTypes(after.body)).toEqual(declaredTypes(before.body));
    expect(echoNames(sampleNames(after.body))).toEqual(echoNames(sampleNames(before.body)));
    // Default metrics may gain labelled series between scrapes (a first GC of a kind); none may vanish.
    for (const name of sampleNames(before.body)) expect(sampleNames(after.body).has(name), name).toBe(true);
    for (const [family, type] of declaredTypes(after.body)) {
      if (type === 'counter') expect(family, 'text-format counter family').toMatch(/_total$/);
    }
    expect(after.body).toMatch(/^# TYPE echo_sent_bytes_total counter$/m);
    expect(after.body).toMatch(/^echo_sent_bytes_total\{listener="[^"]+"\} 371001$/m);

    expect(await promtoolCheckMetrics(after.body)).toEqual({ code: 0, output: '' });
  });

  it('concurrent text and OpenMetrics scrapes do not leak names into each other', async () => {
    const accepts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? OPENMETRICS_ACCEPT : undefined));
    const responses = await Promise.all(accepts.map((accept) => getMetrics(running.httpPort, accept)));
    responses.forEach((response, i) => {
      if (accepts[i]) {
        expect(response.headers['content-type'], `scrape ${i}`).toMatch(/^application\/openmetrics-text/);
        expect(response.body, `scrape ${i}`).toMatch(/^# TYPE echo_sent_bytes counter$/m);
        expect(response.body.endsWith('# EOF\n'), `scrape ${i}`).toBe(true);
      } else {
        expect(response.headers['content-type'], `scrape ${i}`).toMatch(/^text\/plain/);
        expect(response.body, `scrape ${i}`).toMatch(/^# TYPE echo_sent_bytes_total counter$/m);
        expect(response.body, `scrape ${i}`).not.toMatch(/^# TYPE echo_sent_bytes counter$/m);
        expect(response.body, `scrape ${i}`).not.toContain('# EOF');
      }
    });
    const last = await getMetrics(running.httpPort);
    expect(await promtoolCheckMetrics(last.body)).toEqual({ code: 0, output: '' });
  });
});

interface PrometheusServer {
  child: ChildProcess;
  port: number;
  output(): string;
  exited: Promise<unknown>;
}

/** Starts Prometheus on a free loopback port and waits for /-/ready; retries if it lost the port race. */
async function startPrometheus(configFile: string, storageDir: string, cwd: string): Promise<PrometheusServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      'prometheus',
      [`--config.file=${configFile}`, `--storage.tsdb.path=${storageDir}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=info'],
      { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
    let hasExited = false;
    const exited = once(child, 'exit').then(() => (hasExited = true));
    try {
      await waitFor(
        async () => {
          if (hasExited) throw new Error(`prometheus exited (code ${child.exitCode}, signal ${child.signalCode})`);
          return (await httpRequest(port, '/-/ready')).status === 200;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: 'prometheus to be ready' },
      );
      return { child, port, output: () => output, exited };
    } catch (error) {
      if (!hasExited) {
        child.kill('SIGKILL');
        await exited;
      }
      if (attempt < 3 && /address already in use/i.test(output)) continue;
      throw new Error(`${String(error)}\nprometheus output:\n${output}`, { cause: error });
    }
  }
}

describe.skipIf(!hasPrometheus)('end to end with a real Prometheus server', () => {
  let running: RunningService | undefined;
  let prometheus: PrometheusServer | undefined;
  let workDir: string | undefined;

  beforeAll(async () => {
    running = await startService();
    workDir = await mkdtemp(join(tmpdir(), 'tcp-echo-prometheus-'));
    const configFile = join(workDir, 'prometheus.yml');
    await writeFile(
      configFile,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: tcp-echo',
        '    scrape_interval: 1s',
        '    scrape_timeout: 1s',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${running.httpPort}']`,
        '',
      ].join('\n'),
    );
    prometheus = await startPrometheus(configFile, join(workDir, 'data'), workDir);
  }, 45_000);

  afterAll(async () => {
    try {
      if (prometheus && prometheus.child.exitCode === null && prometheus.child.signalCode === null) {
        prometheus.child.kill('SIGTERM');
        try {
          await within(prometheus.exited, 15_000, 'prometheus to exit after SIGTERM');
        } catch (error) {
          prometheus.child.kill('SIGKILL');
          await prometheus.exited;
          throw error;
        }
      }
    } finally {
      await running?.stop();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    }
  }, 30_000);

  const query = (promql: string) => promQuery(prometheus!.port, promql);
  const scalar = (promql: string) => promValue(prometheus!.port, promql);

  it('scrapes the sidecar and sees exactly the bytes and connections sent through the echo port', async () => {
    const { echoPort, httpPort } = running!;
    const job = '{job="tcp-echo"}';
    const poll = { timeoutMs: 20_000, intervalMs: 200 };

    // Baseline: the target is up and the fresh service's series are already there, at zero.
    await waitFor(async () => (await scalar(`up${job}`)) === 1, { ...poll, what: `up${job} == 1 (prometheus output: ${prometheus!.output()})` });
    await waitFor(async () => (await scalar(`echo_received_bytes_total${job}`)) === 0, { ...poll, what: 'echo_received_bytes_total == 0 at baseline' });
    expect(await scalar(`echo_sent_bytes_total${job}`)).toBe(0);
    expect(await scalar(`echo_connections_closed_total{job="tcp-echo",reason="client_end"}`)).toBe(0);
    expect(await scalar(`echo_connections_accepted_total${job}`)).toBe(0);

    // Traffic: several connections of different sizes, each verified byte-exact.
    const sizes = [1, 4096, 65_537, 1_000_003, 2_500_000];
    const payloads = sizes.map((size, i) => patternedBytes(size, i + 1));
    const total = sizes.reduce((sum, size) => sum + size, 0);
    const echoed = await Promise.all(payloads.map((payload) => echoRoundTrip(echoPort, payload)));
    echoed.forEach((bytes, i) => expect(bytes.equals(payloads[i] as Buffer), `connection ${i}`).toBe(true));

    // Prometheus catches up within a few scrape intervals and agrees to the byte.
    const expected = {
      [`up${job}`]: 1,
      [`echo_received_bytes_total${job}`]: total,
      [`echo_sent_bytes_total${job}`]: total,
      [`echo_connections_accepted_total${job}`]: sizes.length,
      [`echo_connections_closed_total{job="tcp-echo",reason="client_end"}`]: sizes.length,
      [`echo_connections_active${job}`]: 0,
    };
    let seen: Record<string, number | undefined> = {};
    await waitFor(
      async () => {
        seen = Object.fromEntries(await Promise.all(Object.keys(expected).map(async (promql) => [promql, await scalar(promql)] as const)));
        return Object.entries(expected).every(([promql, value]) => seen[promql] === value);
      },
      { ...poll, what: 'prometheus to see the traffic' },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\nexpected ${JSON.stringify(expected)}\nlast seen ${JSON.stringify(seen)}`);
    });

    // Every close reason is a series from the first scrape (initialised to 0); only client_end moved.
    const closed = await query(`echo_connections_closed_total${job}`);
    expect(Object.fromEntries(closed.map(({ metric, value }) => [metric.reason, value]))).toEqual({
      ...Object.fromEntries(CLOSE_REASONS.map((reason) => [reason, 0])),
      client_end: sizes.length,
    });
    expect(await scalar(`echo_connections_rejected_total{job="tcp-echo",reason="max_connections"}`)).toBe(0);
    // Prometheus negotiated OpenMetrics: it keys counter metadata by the family name without `_total`
    // (from the text format it would be keyed `echo_sent_bytes_total`).
    const metadata = async (metric: string) =>
      (JSON.parse((await httpRequest(prometheus!.port, `/api/v1/targets/metadata?metric=${metric}`)).body) as { data: Array<{ type: string }> }).data;
    expect(await metadata('echo_sent_bytes')).toMatchObject([{ type: 'counter' }]);
    expect(await metadata('echo_sent_bytes_total')).toEqual([]);
    // No counter was ever stored without its suffix (the OpenMetrics rename must not leak).
    expect(await query(`{job="tcp-echo",__name__=~"echo_(sent|received)_bytes|echo_connections_(accepted|closed|rejected)|echo_backpressure_pauses"}`)).toEqual([]);
    // Prometheus parsed every scrape: no sample rejected, the target healthy with no scrape error.
    const targets = JSON.parse((await httpRequest(prometheus!.port, '/api/v1/targets?state=active')).body) as {
      data: { activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> };
    };
    const target = targets.data.activeTargets.find((t) => t.labels.job === 'tcp-echo');
    expect(target).toMatchObject({ health: 'up', lastError: '' });

    // While Prometheus keeps scraping OpenMetrics every second, a text scrape stays correct.
    const text = await getMetrics(httpPort);
    expect(text.body).toMatch(/^# TYPE echo_sent_bytes_total counter$/m);
    expect(sample(parseExposition(text.body), 'echo_sent_bytes_total')).toBe(total);
    if (hasPromtool) {
      expect(await promtoolCheckMetrics(text.body)).toEqual({ code: 0, output: '' });
    }
  });
});

describe.skipIf(!hasPromtool)('UDP echo metrics', () => {
  it('pass `promtool check metrics`', async () => {
    const registry = new Registry();
    registerUdpMetrics(registry, [{ stats: createUdpStats(), labels: { listener: 'udp://0.0.0.0:7000' } }]);
    expect(await promtoolCheckMetrics(await registry.metrics())).toEqual({ code: 0, output: '' });
  });
});
