// The sidecar's health routes (src/sidecar/health.ts) on a service built in this process. Readiness
// before the workload has started: test/unit/process/shell.test.ts.
import { describe, expect, it } from 'vitest';
import { openClient } from '../../support/echo-client.js';
import { httpRequest } from '../../support/metrics.js';
import { startServicesPerTest } from '../../support/service.js';

const startService = startServicesPerTest();

describe('health routes', () => {
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
    for (const path of ['/livez', '/readyz', '/healthz', '/metrics']) {
      const head = await httpRequest(r.httpPort, path, { method: 'HEAD' });
      expect(head.status, path).toBe(200);
      expect(head.body, path).toBe('');
    }
  });

  it('unknown routes and methods get 404 JSON, never 500', async () => {
    const r = await startService();
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
