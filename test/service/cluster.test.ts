// Multi-process mode: real worker processes sharing the echo port, one sidecar aggregating them.
import { describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { collectUntilEnd, echoOnce, echoRoundTrip, openClient, patternedBytes } from '../support/echo-client.js';
import { httpRequest, parseExposition, sample, scrape } from '../support/metrics.js';
import { busyPortsPerTest, freePort } from '../support/ports.js';
import { tcpSockets } from '../support/proc-net.js';
import { runToExit, spawnServicesPerTest } from '../support/process.js';
import { waitFor, within } from '../support/wait.js';

const spawnService = spawnServicesPerTest();
const startCluster = (env: Record<string, string> = {}) => spawnService({ env: { ECHO_WORKERS: '2', ...env }, startTimeoutMs: 20_000 });
const occupyPort = busyPortsPerTest().tcp;

interface Detail {
  workers: { configured: number; listening: number; restarts: number; processes: Array<{ id: number; pid: number; listening: boolean; active?: number }> };
}
const healthz = async (port: number) => JSON.parse((await httpRequest(port, '/healthz')).body) as Detail;

describe('ECHO_WORKERS=2', () => {
  it('serves the echo from two worker processes and aggregates their metrics in one sidecar', async () => {
    // A fixed port: each worker binds its own SO_REUSEPORT socket and the kernel spreads connections by
    // address hash. (On port 0 they share the primary's socket, and since Node 24 one worker may
    // accept dozens of waiting connections in one turn.)
    const port = await freePort();
    const service = await startCluster({ ECHO_PORT: String(port) });
    expect((await httpRequest(service.httpPort, '/readyz')).status).toBe(200);
    const detail = await healthz(service.httpPort);
    expect(detail.workers).toMatchObject({ configured: 2, listening: 2, restarts: 0 });
    const pids = new Set(detail.workers.processes.map((w) => w.pid));
    expect(pids.size).toBe(2);
    expect(pids.has(service.child.pid as number)).toBe(false);

    // Hold 40 connections open at once so both workers must take some.
    const clients = await Promise.all(Array.from({ length: 40 }, () => openClient(service.echoPort)));
    const spread = await waitFor(async () => {
      const d = await healthz(service.httpPort);
      const actives = d.workers.processes.map((w) => w.active ?? 0);
      return actives.reduce((a, b) => a + b, 0) === 40 ? actives : undefined;
    }, { timeoutMs: 10_000, what: 'worker status to show 40 connections' });
    expect(spread.every((n) => n > 0), `connections per worker: ${spread.join(', ')}`).toBe(true);
    let total = 0;
    await Promise.all(
      clients.map(async (socket, i) => {
        const payload = patternedBytes(10_000 + i * 1000, i + 1);
        total += payload.length;
        const echoed = collectUntilEnd(socket);
        socket.end(payload);
        expect((await echoed).equals(payload)).toBe(true);
      }),
    );
    const samples = await waitFor(async () => {
      const s = await scrape(service.httpPort);
      return sample(s, 'echo_connections_active') === 0 && sample(s, 'echo_connections_closed_total{reason="client_end"}') === 40 ? s : undefined;
    }, { timeoutMs: 10_000 });
    expect(sample(samples, 'echo_connections_accepted_total')).toBe(40);
    expect(sample(samples, 'echo_received_bytes_total')).toBe(total);
    expect(sample(samples, 'echo_sent_bytes_total')).toBe(total);
    expect(sample(samples, 'echo_workers')).toBe(2);
    expect(sample(samples, 'echo_build_info{version="0.1.0",nodejs="' + process.version + '"}')).toBe(1);

    // OpenMetrics through the aggregate path: counters declared without _total, samples with it.
    const om = await httpRequest(service.httpPort, '/metrics', { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    expect(om.body).toMatch(/^# TYPE echo_received_bytes counter$/m);
    expect(om.body).toContain(`\necho_received_bytes_total{listener="tcp://127.0.0.1:${port}"} ${total}\n`);
    expect(om.body).not.toMatch(/_total_total/);
    expect(om.body.endsWith('# EOF\n')).toBe(true);
    const textAgain = parseExposition((await httpRequest(service.httpPort, '/metrics')).body);
    expect(sample(textAgain, 'echo_received_bytes_total')).toBe(total);
  });

  it('GET /connections lists the connections of every worker as one, each row naming its worker; ?sort= and ?limit= across them', async () => {
    const port = await freePort();
    const service = await startCluster({ ECHO_PORT: String(port) });
    const workerIds = new Set((await healthz(service.httpPort)).workers.processes.map((w) => w.id));
    // 30 clients, client i echoes 100 * (i + 1) bytes: ?sort=bytes has one right answer.
    const clients = await Promise.all(Array.from({ length: 30 }, () => openClient(service.echoPort)));
    try {
      await Promise.all(clients.map((socket, i) => echoOnce(socket, patternedBytes(100 * (i + 1), i + 1))));
      const peer = (socket: Socket) => `${socket.localAddress}:${socket.localPort}`;
      const list = async (query: string) => {
        const response = await httpRequest(service.httpPort, `/connections${query}`);
        expect(response.status, response.body).toBe(200);
        return JSON.parse(response.body) as { total: number; sort: string; limit: number; connections: Array<{ worker: number; peer: string; listener: string; bytesIn: number; bytesOut: number }> };
      };
      const all = await waitFor(async () => {
        const listing = await list('');
        return listing.total === 30 && listing.connections.every((c) => c.bytesOut === c.bytesIn && c.bytesIn > 0) ? listing : undefined;
      }, { timeoutMs: 10_000, what: '30 connections listed with their echo' });
      expect(all.connections.map((c) => c.peer).sort()).toEqual(clients.map(peer).sort());
      const byWorker = new Set(all.connections.map((c) => c.worker));
      expect(byWorker.size, 'rows from both workers').toBe(2);
      expect([...byWorker].every((id) => workerIds.has(id))).toBe(true);
      expect(all.connections.every((c) => c.listener === `tcp://127.0.0.1:${port}`)).toBe(true);

      const biggest = await list('?sort=bytes&limit=5');
      expect(biggest).toMatchObject({ total: 30, sort: 'bytes', limit: 5 });
      expect(biggest.connections.map((c) => c.peer)).toEqual(clients.slice(-5).reverse().map(peer));
      expect(biggest.connections.map((c) => c.bytesIn)).toEqual([3000, 2900, 2800, 2700, 2600]);
    } finally {
      for (const socket of clients) socket.destroy();
    }
  });

  it('replaces a worker that dies; scrapes and readiness keep answering and counters do not go back', async () => {
    const service = await startCluster();
    for (let i = 0; i < 10; i++) await echoRoundTrip(service.echoPort, patternedBytes(1000, i));
    const before = await scrape(service.httpPort);
    expect(sample(before, 'echo_connections_accepted_total')).toBe(10);
    const victim = (await healthz(service.httpPort)).workers.processes[0]!.pid;

    // Watch scrapes and readiness continuously while the worker dies and is replaced.
    let watching = true;
    const observed: Array<{ ready: number; accepted: number }> = [];
    const watcher = (async () => {
      while (watching && observed.length < 2000) {
        const [ready, metrics] = await Promise.all([httpRequest(service.httpPort, '/readyz'), httpRequest(service.httpPort, '/metrics')]);
        expect(metrics.status).toBe(200);
        observed.push({ ready: ready.status, accepted: sample(parseExposition(metrics.body), 'echo_connections_accepted_total') });
      }
    })();
    process.kill(victim, 'SIGKILL');
    await service.waitForLog((line) => line.event === 'worker_exited' && line.pid === victim);
    await waitFor(async () => (await healthz(service.httpPort)).workers.listening === 2, { timeoutMs: 15_000, what: 'a replacement worker' });
    // Echo keeps working across the replacement.
    const payload = patternedBytes(50_000, 77);
    expect((await echoRoundTrip(service.echoPort, payload)).equals(payload)).toBe(true);
    watching = false;
    await watcher;

    expect(observed.length).toBeGreaterThan(0);
    expect(observed.every((o) => o.ready === 200), 'readiness stayed 200 while one worker still served').toBe(true);
    expect(observed.every((o) => o.accepted >= 10), 'a dead worker\'s counts stay in the totals').toBe(true);
    const after = await scrape(service.httpPort);
    expect(sample(after, 'echo_worker_restarts_total')).toBe(1);
    expect(sample(after, 'echo_connections_accepted_total')).toBe(11);
    expect(service.logs.some((line) => line.event === 'worker_exited' && line.level === 50)).toBe(true);
  });

  it('SIGTERM drains every worker: clients mid-transfer get every byte back, then exit 0', async () => {
    const service = await startCluster({ SHUTDOWN_TIMEOUT_MS: '10000', SHUTDOWN_QUIET_MS: '300' });
    const clients = await Promise.all(Array.from({ length: 20 }, () => openClient(service.echoPort)));
    await waitFor(async () => sample(await scrape(service.httpPort), 'echo_connections_active') === 20, { timeoutMs: 10_000 });
    const payloads = clients.map((_, i) => patternedBytes(200_000 + i, i + 3));
    const halves = clients.map((socket, i) => {
      const echoed = collectUntilEnd(socket);
      socket.write(payloads[i]!.subarray(0, 100_000));
      return echoed;
    });
    service.kill('SIGTERM');
    await waitFor(async () => (await httpRequest(service.httpPort, '/readyz')).status === 503, { what: 'readiness 503' });
    clients.forEach((socket, i) => socket.end(payloads[i]!.subarray(100_000)));
    const echoed = await Promise.all(halves);
    echoed.forEach((bytes, i) => expect(bytes.equals(payloads[i]!), `client ${i}`).toBe(true));
    const { code } = await within(service.exited, 15_000, 'exit');
    expect(code).toBe(0);
    await service.closed;
    expect(service.logs.filter((line) => line.event === 'worker_exited' && line.code === 0)).toHaveLength(2);
  });

  it('refuses to start when the echo port is taken: one clear line, exit 1', async () => {
    const port = await occupyPort();
    const result = await runToExit({ env: { ECHO_WORKERS: '2', ECHO_PORT: String(port) }, timeoutMs: 20_000 });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/echo listener tcp:\/\/127\.0\.0\.1:\d+ cannot listen on 127\.0\.0\.1:\d+: address already in use/);
    expect(result.stdout).not.toMatch(/"event":"listening"/);
  });
});

/** Listening IPv4 sockets bound to `port` (state 0A = LISTEN). */
function listeningSockets(port: number): number {
  return tcpSockets().filter((row) => row.localPort === port && row.state === '0A').length;
}

describe('ECHO_WORKERS=2 on a fixed port: SO_REUSEPORT', () => {
  it('each worker listens on a socket of its own and the kernel spreads connections evenly; on port 0 they share one', async () => {
    const port = await freePort();
    const service = await startCluster({ ECHO_PORT: String(port) });
    expect(service.echoPort).toBe(port);
    expect(listeningSockets(port)).toBe(2);

    const clients = await Promise.all(Array.from({ length: 200 }, () => openClient(port)));
    const spread = await waitFor(async () => {
      const actives = (await healthz(service.httpPort)).workers.processes.map((w) => w.active ?? 0);
      return actives.reduce((a, b) => a + b, 0) === 200 ? actives : undefined;
    }, { timeoutMs: 10_000, what: 'worker status to show 200 connections' });
    // The kernel picks a socket by a hash of each connection's addresses: about half each, and
    // fewer than 60 of 200 on one worker has a chance below one in 10^8.
    expect(Math.min(...spread), `connections per worker: ${spread.join(', ')}`).toBeGreaterThanOrEqual(60);
    await Promise.all(
      clients.map(async (socket, i) => {
        const payload = patternedBytes(1000 + i, i + 1);
        const echoed = collectUntilEnd(socket);
        socket.end(payload);
        expect((await echoed).equals(payload)).toBe(true);
      }),
    );
    service.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);

    // The control: on port 0 a socket per worker would give each worker a different port, so they
    // share the primary's one socket.
    const shared = await startCluster();
    expect(listeningSockets(shared.echoPort)).toBe(1);
    shared.kill('SIGTERM');
    expect((await shared.exited).code).toBe(0);
  });
});
