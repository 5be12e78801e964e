// Broken and hostile clients against one service process, one fault after another. After each: the
// process is alive, echo_connections_active is back to 0, its descriptors are back to the baseline,
// and nothing was logged above debug (client faults are not the service's errors).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { collectUntilEnd, echoRoundTrip, openClient, patternedBytes } from '../../support/echo-client.js';
import { httpRequest, sample, scrape } from '../../support/metrics.js';
import { pool, waitFor, within } from '../../support/wait.js';
import { expectSettled, rssBytes, spawnFaultService, type FaultService } from '../../support/fault-service.js';

let service: FaultService;
let logLinesAtStart = 0;
beforeAll(async () => {
  // Default limits: no idle timeout, no lifetime cap, default pending-byte cap.
  service = await spawnFaultService({ env: { LOG_LEVEL: 'info' } });
  logLinesAtStart = service.logs.length;
});
afterAll(async () => {
  await service?.ensureStopped();
});

const closed = async (reason: string) => sample(await scrape(service.httpPort), `echo_connections_closed_total{reason="${reason}"}`);

/** After every fault: settled, and not one log line (at info the service logs only its own lifecycle). */
async function expectCleanAfterFault() {
  await expectSettled(service);
  expect(service.logs.slice(logLinesAtStart)).toEqual([]);
}

describe('client faults against a child service', () => {
  it('1,000 clients that reset mid-transfer', async () => {
    const resetBefore = await closed('reset');
    const payload = patternedBytes(256 * 1024, 7);
    await pool(1000, 50, async () => {
      const socket = await openClient(service.echoPort);
      socket.on('error', () => undefined);
      socket.write(payload);
      // Some of the echo is back: the transfer is under way. Then a RST instead of a FIN.
      await within(once(socket, 'data'), 15_000, 'first echo bytes');
      socket.resetAndDestroy();
      await once(socket, 'close');
    });
    await expectCleanAfterFault();
    expect((await closed('reset')) - resetBefore).toBe(1000);
  });

  it('clients that never read while sending 100 MiB each: the server stops taking data and its memory stays bounded', async () => {
    const CLIENTS = 4;
    const PER_CLIENT = 100 * 1024 * 1024;
    // Bound stated in docs/operations.md ("Limits and protections"): per such client, Node's buffers hold at most
    // 2 x ECHO_MAX_PENDING_BYTES + 2 x 64 KiB (one read each way); the rest waits in kernel buffers or at the client.
    const PENDING_BOUND = 2 * 65536 + 2 * 65536;
    const RSS_GROWTH_BOUND = 32 * 1024 * 1024;
    const chunk = patternedBytes(1024 * 1024, 11);
    const rssBefore = rssBytes(service.pid);
    const pausesBefore = sample(await scrape(service.httpPort), 'echo_backpressure_pauses_total');
    const sockets: Socket[] = [];
    try {
      for (let c = 0; c < CLIENTS; c++) {
        const socket = await openClient(service.echoPort);
        socket.on('error', () => undefined);
        socket.pause(); // never reads
        // 100 MiB queued at once; all references to one 1 MiB buffer, so the test process does not hold 100 MiB.
        for (let written = 0; written < PER_CLIENT; written += chunk.length) socket.write(chunk);
        sockets.push(socket);
      }
      await waitFor(async () => sample(await scrape(service.httpPort), 'echo_backpressure_pauses_total') >= pausesBefore + CLIENTS, { what: 'the server to pause every client' });
      // Wait until the server has stopped taking data: bytes received unchanged over three scrapes.
      let last = -1;
      let steady = 0;
      await waitFor(
        async () => {
          const received = sample(await scrape(service.httpPort), 'echo_received_bytes_total');
          steady = received === last ? steady + 1 : 0;
          last = received;
          return steady >= 3;
        },
        { timeoutMs: 20_000, intervalMs: 200, what: 'the server to stop reading' },
      );
      const rss: number[] = [];
      const pending: number[] = [];
      for (let i = 0; i < 10; i++) {
        rss.push(rssBytes(service.pid));
        const health = JSON.parse((await httpRequest(service.httpPort, '/healthz')).body) as { connections: { pendingWriteBytes: number } };
        pending.push(health.connections.pendingWriteBytes);
      }
      const growth = Math.max(...rss) - rssBefore;
      console.log(`non-readers: server RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB -> max ${(Math.max(...rss) / 2 ** 20).toFixed(1)} MiB (growth ${(growth / 2 ** 20).toFixed(1)} MiB), pending ${Math.max(...pending)} bytes, server took ${(last / 2 ** 20).toFixed(1)} MiB of ${(CLIENTS * PER_CLIENT) / 2 ** 20} MiB`);
      // The server stopped taking data long before 100 MiB each...
      for (const socket of sockets) expect(socket.writableLength).toBeGreaterThan(PER_CLIENT - 32 * 1024 * 1024);
      // ... holds a bounded amount in user space, and its memory did not grow with the stream.
      expect(Math.max(...pending)).toBeLessThanOrEqual(CLIENTS * PENDING_BOUND);
      expect(growth).toBeLessThan(RSS_GROWTH_BOUND);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await expectCleanAfterFault();
  });

  it('clients that connect and never send: held without cost, released when they go', async () => {
    const sockets = await pool(500, 50, async () => {
      const socket = await openClient(service.echoPort);
      socket.on('error', () => undefined);
      return socket;
    });
    try {
      await waitFor(async () => sample(await scrape(service.httpPort), 'echo_connections_active') === 500, { what: '500 silent connections' });
      // Others are served meanwhile.
      expect((await echoRoundTrip(service.echoPort, Buffer.from('beside the silent ones'))).toString()).toBe('beside the silent ones');
      expect((await httpRequest(service.httpPort, '/readyz')).status).toBe(200);
    } finally {
      for (const [i, socket] of sockets.entries()) {
        if (i % 2 === 0) socket.end();
        else socket.destroy();
      }
    }
    await expectCleanAfterFault();
  });

  it('connect-then-close probes at a high rate are normal, not errors', async () => {
    const PROBES = 3000;
    const endBefore = await closed('client_end');
    const started = Date.now();
    await pool(PROBES, 50, async () => {
      const socket = await openClient(service.echoPort);
      socket.on('error', () => undefined);
      socket.end();
      await once(socket, 'close');
    });
    console.log(`${PROBES} connect-then-close probes in ${Date.now() - started} ms`);
    await expectCleanAfterFault();
    expect((await closed('client_end')) - endBefore).toBe(PROBES);
    expect(await closed('error')).toBe(0);
  });

  it('random bytes of random lengths come back unmodified', async () => {
    await pool(200, 20, async () => {
      const payload = randomBytes(randomInt(0, 256 * 1024));
      const echoed = await echoRoundTrip(service.echoPort, payload, { writeSize: randomInt(1, 64 * 1024) });
      expect(echoed.equals(payload)).toBe(true);
    });
    await expectCleanAfterFault();
  });

  it('half-open clients: those that read get everything back, those that never read cost a slot only until they go', async () => {
    // Half-close after sending, then read: the full echo, then the server's FIN.
    await pool(200, 20, async (i) => {
      const payload = patternedBytes(32 * 1024 + i, i + 1);
      const socket = await openClient(service.echoPort);
      const echoed = collectUntilEnd(socket);
      socket.end(payload);
      expect((await within(echoed, 15_000, 'echo')).equals(payload)).toBe(true);
      socket.destroy();
    });
    // Half-close after sending, and read nothing yet: the echo fits in the kernel's buffers, so the
    // server finishes and closes its side (and frees the slot) without waiting for the client to read...
    const silent = await pool(100, 20, async (i) => {
      const socket = await openClient(service.echoPort);
      socket.pause();
      const echoed = collectUntilEnd(socket);
      socket.end(patternedBytes(16 * 1024, i + 500));
      return { socket, echoed, sent: patternedBytes(16 * 1024, i + 500) };
    });
    try {
      await waitFor(async () => sample(await scrape(service.httpPort), 'echo_connections_active') === 0, { what: 'the server to finish every half-closed client' });
      // ... and when the clients read later, everything is there.
      for (const { socket, echoed, sent } of silent) {
        socket.resume();
        expect((await within(echoed, 15_000, 'late read')).equals(sent)).toBe(true);
      }
    } finally {
      for (const { socket } of silent) socket.destroy();
    }
    await expectCleanAfterFault();
  });
});
