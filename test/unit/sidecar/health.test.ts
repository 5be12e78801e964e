import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createProcessShell, type Runnable, type Workload } from '../../../src/process/shell.js';
import { openClient } from '../../support/echo-client.js';
import { httpRequest } from '../../support/metrics.js';
import { waitFor } from '../../support/wait.js';
import { silentLogger, startService, testConfig, type RunningService } from '../../support/service.js';

const running: RunningService[] = [];
const loose: Runnable[] = [];
afterEach(async () => {
  await Promise.all([...running.splice(0).map((r) => r.stop()), ...loose.splice(0).map((s) => s.shutdown())]);
});

describe('health routes', () => {
  it('/readyz is 503 until the workload has started, then 200', async () => {
    let finishStart: (() => void) | undefined;
    const workloadStarted = new Promise<void>((resolve) => (finishStart = resolve));
    const workload: Workload = {
      start: async () => {
        await workloadStarted;
        return { address: '127.0.0.1', port: 1, family: 'IPv4' };
      },
      abort: async () => undefined,
      ready: () => true,
      drain: async () => ({}),
      reload: async () => 'nothing',
      status: () => ({ listeners: {} }),
      describe: () => ({}),
    };
    const registry = new Registry();
    const shell = createProcessShell({ config: testConfig(), logger: silentLogger(), version: 'test', now: () => performance.now(), workload, metrics: { render: async () => ({ contentType: 'text/plain', body: '' }) }, registry });
    loose.push(shell);
    const starting = shell.start();
    const port = await waitFor(() => (shell.status().listeners as { http: { port?: number } }).http.port, { what: 'the sidecar listening' });
    const before = await httpRequest(port, '/readyz');
    expect(before.status).toBe(503);
    expect(JSON.parse(before.body)).toEqual({ status: 'not ready' });
    expect((await httpRequest(port, '/livez')).status).toBe(200);
    finishStart?.();
    await starting;
    const after = await httpRequest(port, '/readyz');
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body)).toEqual({ status: 'ready' });
  });

  it('/readyz turns 503 the moment a shutdown starts while the sidecar keeps answering', async () => {
    const { service, httpPort, echoPort } = await startService({ SHUTDOWN_DELAY_MS: '2000', SHUTDOWN_TIMEOUT_MS: '10000' });
    expect((await httpRequest(httpPort, '/readyz')).status).toBe(200);
    const stopping = service.shutdown('test');
    expect(service.state).toBe('draining');
    expect((await httpRequest(httpPort, '/readyz')).status).toBe(503);
    expect((await httpRequest(httpPort, '/livez')).status).toBe(200);
    // During the delay the echo listener still accepts (load balancers are still deregistering).
    const client = await openClient(echoPort);
    client.destroy();
    const detail = JSON.parse((await httpRequest(httpPort, '/healthz')).body) as { status: string; ready: boolean };
    expect(detail).toMatchObject({ status: 'draining', ready: false });
    await stopping;
    expect(service.state).toBe('stopped');
  });

  it('/healthz gives JSON detail: state, listeners, connections, uptime', async () => {
    const r = await startService({ ECHO_MAX_CONNECTIONS: '50' });
    running.push(r);
    const client = await openClient(r.echoPort);
    const response = await httpRequest(r.httpPort, '/healthz');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const detail = JSON.parse(response.body);
    expect(detail).toMatchObject({
      status: 'ready',
      ready: true,
      version: 'test',
      listeners: { echo: { address: '127.0.0.1', port: r.echoPort, accepting: true }, http: { address: '127.0.0.1', port: r.httpPort } },
      connections: { maxConnections: 50, rejected: { max_connections: 0 }, pendingWriteBytes: 0 },
    });
    expect(detail.connections.active).toBeGreaterThanOrEqual(0);
    expect(typeof detail.uptimeSeconds).toBe('number');
    client.destroy();
  });

  it('answers HEAD wherever GET works, without a body', async () => {
    const r = await startService();
    running.push(r);
    for (const path of ['/livez', '/readyz', '/healthz', '/metrics']) {
      const head = await httpRequest(r.httpPort, path, { method: 'HEAD' });
      expect(head.status, path).toBe(200);
      expect(head.body, path).toBe('');
    }
  });

  it('unknown routes and methods get 404 JSON, never 500', async () => {
    const r = await startService();
    running.push(r);
    for (const [method, path] of [['GET', '/nope'], ['GET', '/metrics/extra'], ['POST', '/livez'], ['DELETE', '/readyz'], ['GET', '/%zz'], ['GET', '/..%2f..%2fetc/passwd']] as const) {
      const response = await httpRequest(r.httpPort, path, { method });
      expect(response.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(response.status, `${method} ${path}`).toBeLessThan(500);
      expect(response.headers['content-type'], `${method} ${path}`).toMatch(/^application\/json/);
      expect(response.body).not.toMatch(/at .*\.(js|ts):\d+/); // no stack traces
    }
    expect((await httpRequest(r.httpPort, '/nope')).status).toBe(404);
    const oversized = await httpRequest(r.httpPort, '/livez', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(10_000) }) });
    expect(oversized.status).toBeLessThan(500);
  });
});
