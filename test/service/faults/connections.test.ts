// As many concurrent connections as the descriptor limits allow, each verified with a small echo,
// held, verified again, then closed: the service ends with nothing left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { descriptorHeadroom } from '../../../src/tcp/descriptors.js';
import { httpRequest, sample, scrape } from '../../support/metrics.js';
import { pool, waitFor } from '../../support/wait.js';
import { echoOnce, openClient } from '../../support/echo-client.js';
import { expectSettled, fdLimit, openFds, spawnFaultService, warnings, type FaultService } from '../../support/fault-service.js';

let service: FaultService;
beforeAll(async () => {
  service = await spawnFaultService();
});
afterAll(async () => {
  await service?.ensureStopped();
});

// Both ends live on this machine: the clients' descriptors count against this process's limit.
const CLIENT_MARGIN_FDS = 200;
const REQUIRED = 10_000;

describe('many concurrent connections', () => {
  it('holds as many as the descriptor limits allow (>= 10,000), each echoing, and releases them all', { timeout: 240_000 }, async () => {
    // The service's budget (listener.ts) counted the descriptors it had when it started listening:
    // a few fewer than now (the sidecar's first connection), hence the margin.
    const serverCap = fdLimit(service.pid) - service.baselineFds - descriptorHeadroom(fdLimit(service.pid)) - 8;
    const clientRoom = fdLimit('self') - openFds('self') - CLIENT_MARGIN_FDS;
    const count = Math.min(serverCap, clientRoom);
    console.log(`descriptor limits: service ${fdLimit(service.pid)} (cap ${serverCap}), test process ${fdLimit('self')} (room ${clientRoom}); opening ${count}`);
    expect(count, 'the limits here allow at least 10,000 connections').toBeGreaterThanOrEqual(REQUIRED);

    const sockets: Socket[] = [];
    const started = Date.now();
    try {
      await pool(count, 200, async (i) => {
        const socket = await openClient(service.echoPort);
        socket.on('error', () => undefined);
        sockets.push(socket);
        await echoOnce(socket, Buffer.from(`open ${i}\n`));
      });
      const opened = Date.now();
      const samples = await scrape(service.httpPort);
      expect(sample(samples, 'echo_connections_active')).toBe(count);
      expect(sample(samples, 'echo_connections_rejected_total{reason="fd_limit"}')).toBe(0);
      // One descriptor per connection (the baseline can include a sidecar connection or two that closed since).
      expect(openFds(service.pid)).toBeGreaterThanOrEqual(service.baselineFds + count - 2);
      // Probes still answer with every connection open.
      expect((await httpRequest(service.httpPort, '/livez')).status).toBe(200);
      expect((await httpRequest(service.httpPort, '/readyz')).status).toBe(200);
      // Every held connection still echoes.
      await pool(sockets.length, 200, (i) => echoOnce(sockets[i] as Socket, Buffer.from(`held ${i}\n`)));
      console.log(`${count} connections opened in ${opened - started} ms, all verified again in ${Date.now() - opened} ms`);
    } finally {
      for (const socket of sockets) socket.end();
    }
    await waitFor(() => sockets.every((socket) => socket.closed), { timeoutMs: 60_000, intervalMs: 100, what: 'every client to close' });
    await expectSettled(service, { timeoutMs: 60_000 });
    const samples = await scrape(service.httpPort);
    expect(sample(samples, 'echo_connections_closed_total{reason="client_end"}')).toBe(count);
    expect(warnings(service)).toEqual([]);
  });
});
