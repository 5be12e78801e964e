// Whatever a client sends the sidecar, it never answers 5xx (readiness 503 aside) and keeps serving probes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { connect } from 'node:net';
import { httpRequest } from '../../support/metrics.js';
import { startService, type RunningService } from '../../support/service.js';
import { within } from '../../support/wait.js';

let running: RunningService;
beforeAll(async () => {
  running = await startService();
});
afterAll(async () => {
  await running.stop();
});

/** Sends raw bytes and returns the status line's code (or 0 if the sidecar just closed the connection). */
function rawRequest(port: number, bytes: Buffer): Promise<number> {
  return within(
    new Promise<number>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      let response = '';
      socket.on('data', (data: Buffer) => (response += data.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? 0)));
      socket.end(bytes);
    }),
    10_000,
    'raw request',
  );
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const pathSegment = fc.oneof(fc.constantFrom('livez', 'readyz', 'healthz', 'metrics', '..', '%2e%2e', '%zz', '%00', ''), fc.webSegment());

describe('sidecar under arbitrary input', () => {
  it('random methods, paths and headers never get a 5xx other than readiness 503', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND'),
        fc.array(pathSegment, { maxLength: 5 }),
        fc.webQueryParameters(),
        fc.dictionary(token, fc.string({ maxLength: 40 }).filter((v) => !/[\r\n\0]/.test(v) && /^[\x20-\x7e]*$/.test(v)), { maxKeys: 5 }),
        fc.option(fc.string({ maxLength: 2000 }), { nil: undefined }),
        async (method, segments, query, headers, body) => {
          const path = `/${segments.join('/')}${query ? `?${query}` : ''}`;
          const safeHeaders = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^(content-length|transfer-encoding|host|connection|expect|upgrade)$/i.test(k)));
          const response = await httpRequest(running.httpPort, path, { method, headers: safeHeaders, body: method === 'GET' || method === 'HEAD' ? undefined : body });
          const readiness503 = response.status === 503 && path.startsWith('/readyz');
          expect(response.status >= 500 && !readiness503, `${method} ${path} -> ${response.status} ${response.body}`).toBe(false);
          expect(response.body).not.toMatch(/\bat .+:\d+:\d+\)?$/m); // no stack traces
        },
      ),
      { numRuns: 300 },
    );
    expect((await httpRequest(running.httpPort, '/livez')).status).toBe(200);
  });

  it('malformed and oversized raw requests get a 4xx or a closed connection, never a 5xx', async () => {
    const cases: Buffer[] = [
      Buffer.from('GARBAGE\r\n\r\n'),
      Buffer.from('GET / HTTP/9.9\r\n\r\n'),
      Buffer.from('GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'),
      Buffer.from('GET /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc'),
      Buffer.from(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
      Buffer.from(`GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`),
      Buffer.from(`POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n${'{'.repeat(100_000)}`),
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), // a TLS ClientHello start
    ];
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), async (bytes) => {
        const status = await rawRequest(running.httpPort, Buffer.from(bytes));
        expect(status < 500, `status ${status}`).toBe(true);
      }),
      { numRuns: 100 },
    );
    for (const bytes of cases) {
      const status = await rawRequest(running.httpPort, bytes);
      expect(status < 500, `${bytes.subarray(0, 40).toString('latin1')} -> ${status}`).toBe(true);
    }
    expect((await httpRequest(running.httpPort, '/livez')).status).toBe(200);
    expect((await httpRequest(running.httpPort, '/readyz')).status).toBe(200);
  });
});
