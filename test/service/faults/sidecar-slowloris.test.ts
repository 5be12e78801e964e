// A slowloris on the sidecar: hundreds of connections trickling partial requests (or sending nothing)
// do not starve the probes, and the sidecar cuts every one of them: beyond its 128 open connections
// the oldest at once (max_connections), the rest at HTTP_REQUEST_TIMEOUT_MS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { httpRequest, sample, scrape } from '../../support/metrics.js';
import { pool, waitFor, within } from '../../support/wait.js';
import { expectSettled, spawnFaultService, type FaultService } from '../../support/fault-service.js';

// Short enough for a quick test, long enough that a child starved of CPU on a busy machine does not
// cut the probes themselves (the header deadline is checked once a second, from a timer).
const REQUEST_TIMEOUT_MS = 3000;
const TRICKLE_MS = 250;
const MAX_TRICKLES = 60; // bounded: far beyond the timeout

let service: FaultService;
beforeAll(async () => {
  service = await spawnFaultService({ env: { HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } });
});
afterAll(async () => {
  await service?.ensureStopped();
});

type Style = 'slow headers' | 'slow body' | 'silent';

/** Opens one slow client; resolves with the socket, which records when the server closed it. */
async function slowClient(port: number, style: Style): Promise<{ socket: Socket; closedAt: Promise<number>; response: () => string; stop: () => void }> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  let response = '';
  socket.on('data', (data: Buffer) => (response += data.toString('latin1')));
  await within(once(socket, 'connect'), 10_000, 'connect');
  // Not once(): it rejects on 'error', and a cut connection may well end in a reset.
  const closedAt = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  if (style === 'slow headers') socket.write('GET /livez HTTP/1.1\r\nHost: x\r\n');
  if (style === 'slow body') socket.write('POST /livez HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n');
  let trickles = 0;
  const timer =
    style === 'silent'
      ? undefined
      : setInterval(() => {
          if (socket.destroyed || ++trickles > MAX_TRICKLES) return clearInterval(timer);
          socket.write(style === 'slow headers' ? `X-Slow-${trickles}: y\r\n` : 'z');
        }, TRICKLE_MS);
  const stop = () => {
    if (timer) clearInterval(timer);
    socket.destroy();
  };
  return { socket, closedAt, response: () => response, stop };
}

describe('sidecar under a slowloris', () => {
  it('probes keep answering promptly, and every slow connection is cut at the request timeout', { timeout: 60_000 }, async () => {
    const styles: Style[] = ['slow headers', 'slow body', 'silent'];
    const opened = Date.now();
    const clients = await pool(300, 50, (i) => slowClient(service.httpPort, styles[i % styles.length] as Style));
    try {
      // While they trickle: probes answer, each promptly.
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        for (const path of ['/livez', '/readyz']) {
          const started = performance.now();
          const response = await httpRequest(service.httpPort, path);
          latencies.push(performance.now() - started);
          expect(response.status, path).toBe(200);
        }
      }
      console.log(`probes during the slowloris: max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length}`);
      expect(Math.max(...latencies)).toBeLessThan(1000);

      // The sidecar closes every slow connection itself, near the timeout (checked once a second).
      const closedAt = await within(Promise.all(clients.map((c) => c.closedAt)), 15_000, 'the sidecar to cut every slow connection');
      const slowest = Math.max(...closedAt) - opened;
      console.log(`slow connections cut by ${slowest} ms after opening (timeout ${REQUEST_TIMEOUT_MS} ms)`);
      expect(slowest).toBeLessThan(REQUEST_TIMEOUT_MS + 1000 + 3000);
      // Those that were answered got a 4xx (408), never a 5xx.
      for (const client of clients) expect(client.response()).not.toMatch(/^HTTP\/1\.1 5/);
      // The sidecar held at most 128 of them (half the echo listeners' descriptor headroom at this limit).
      expect(sample(await scrape(service.httpPort), 'echo_http_connections_shed_total{reason="max_connections"}')).toBeGreaterThanOrEqual(clients.length - 128);
    } finally {
      for (const client of clients) client.stop();
    }
    expect((await httpRequest(service.httpPort, '/livez')).status).toBe(200);
    await waitFor(() => clients.every((c) => c.socket.closed), { what: 'clients closed' });
    await expectSettled(service);
  });
});
