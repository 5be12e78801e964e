// /metrics behind a bearer token (METRICS_TOKEN, src/sidecar/metrics-route.ts) on a service built in
// this process.
import { describe, expect, it } from 'vitest';
import { httpRequest, parseExposition, sample } from '../../support/metrics.js';
import { startServicesPerTest } from '../../support/service.js';

const start = startServicesPerTest();

describe('METRICS_TOKEN', () => {
  const TOKEN = 'c2VjcmV0LXRva2Vu-._~+/=';

  it('/metrics needs the bearer token; probes stay open; failures say nothing of internals', async () => {
    const { httpPort } = await start({ METRICS_TOKEN: TOKEN });
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer` }, { authorization: TOKEN }]) {
      const response = await httpRequest(httpPort, '/metrics', { headers });
      expect(response.status, JSON.stringify(headers)).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(response.body).not.toContain('echo_');
      expect(response.body).not.toMatch(/\bat .+:\d+:\d+\)?$/m);
      expect(response.body).not.toContain(TOKEN);
    }
    expect((await httpRequest(httpPort, '/metrics', { method: 'HEAD' })).status).toBe(401);
    const ok = await httpRequest(httpPort, '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(sample(parseExposition(ok.body), 'echo_connections_active')).toBe(0);
    expect((await httpRequest(httpPort, '/metrics', { headers: { authorization: `bearer  ${TOKEN}` } })).status).toBe(200);
    for (const path of ['/livez', '/readyz', '/healthz']) expect((await httpRequest(httpPort, path)).status, path).toBe(200);
  });

  it('without it, /metrics is open', async () => {
    const { httpPort } = await start();
    expect((await httpRequest(httpPort, '/metrics')).status).toBe(200);
  });
});
