// No byte lost under shutdown and load: SIGTERM while 1,000 connections stream. Every client gets back
// exactly what it sent (a prefix while it streams, all of it at the end), the server's per-connection
// byte counts (its debug `connection_closed` lines) add up to what the clients saw, and it exits 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { openClient, patternedBytes } from '../../support/echo-client.js';
import { httpRequest } from '../../support/metrics.js';
import { pool, waitFor, within } from '../../support/wait.js';
import { spawnFaultService, type FaultService } from '../../support/fault-service.js';

const CLIENTS = 1000;
const CHUNK = 4096;
const PATTERN = 64 * 1024; // a multiple of CHUNK: a chunk never wraps around the pattern
const WINDOW = 4 * CHUNK; // echo in flight per client: a stream, not ping-pong
const AFTER_SIGNAL_CHUNKS = 16;

interface Streamer {
  socket: Socket;
  pattern: Buffer;
  /** 'half-close' keeps streaming into the drain, then shuts down its sending side; 'quiet' stops sending at the signal and waits. */
  mode: 'half-close' | 'quiet';
  sent: number;
  received: number;
  /** First offset where the echo differed from what was sent, or -1. */
  mismatch: number;
  /** Stop sending once `sent` reaches this. */
  stopAt: number;
  ended: Promise<void>;
  /** The client's port: the server's log lines name the connection by it. */
  localPort: number;
  /** Sends while under stopAt and the window allows; half-closes when done (mode 'half-close'). */
  pump(): void;
}

/** Whether `data` equals the pattern (repeated) from stream offset `offset`. */
function matchesPattern(pattern: Buffer, offset: number, data: Buffer): boolean {
  let checked = 0;
  while (checked < data.length) {
    const at = (offset + checked) % PATTERN;
    const length = Math.min(PATTERN - at, data.length - checked);
    if (!data.subarray(checked, checked + length).equals(pattern.subarray(at, at + length))) return false;
    checked += length;
  }
  return true;
}

function startStreamer(socket: Socket, index: number): Streamer {
  const streamer: Streamer = {
    socket,
    pattern: patternedBytes(PATTERN, index + 1),
    mode: index % 2 === 0 ? 'half-close' : 'quiet',
    sent: 0,
    received: 0,
    mismatch: -1,
    stopAt: Infinity,
    ended: Promise.resolve(),
    localPort: socket.localPort ?? 0,
    pump: () => pump(),
  };
  const pump = () => {
    while (streamer.sent < streamer.stopAt && streamer.sent - streamer.received < WINDOW) {
      const offset = streamer.sent % PATTERN;
      socket.write(streamer.pattern.subarray(offset, offset + CHUNK));
      streamer.sent += CHUNK;
    }
    if (streamer.sent >= streamer.stopAt && streamer.mode === 'half-close' && !socket.writableEnded) socket.end();
  };
  socket.on('data', (data: Buffer) => {
    // What came back must be exactly the next bytes of what was sent (memcmp, not a byte loop: a
    // slow test process would stall its clients past SHUTDOWN_QUIET_MS).
    if (streamer.mismatch === -1 && !matchesPattern(streamer.pattern, streamer.received, data)) streamer.mismatch = streamer.received;
    streamer.received += data.length;
    if (streamer.received > streamer.sent) streamer.mismatch = Math.min(streamer.mismatch === -1 ? Infinity : streamer.mismatch, streamer.sent);
    pump();
  });
  streamer.ended = within(once(socket, 'end').then(() => undefined), 90_000, `client ${index} to see the server's FIN`);
  streamer.ended.catch(() => undefined);
  pump();
  return streamer;
}

let service: FaultService;
beforeAll(async () => {
  service = await spawnFaultService({ env: { LOG_LEVEL: 'debug', SHUTDOWN_QUIET_MS: '2000', SHUTDOWN_TIMEOUT_MS: '60000' } });
});
afterAll(async () => {
  await service?.ensureStopped();
});

describe('SIGTERM under load', () => {
  it('1,000 streaming connections: every byte the server read comes back, the counters agree, exit 0', { timeout: 180_000 }, async () => {
    const errors: string[] = []; // a reset would mean lost bytes
    const streamers = await pool(CLIENTS, 100, async (i) => {
      const socket = await openClient(service.echoPort);
      socket.on('error', (error: NodeJS.ErrnoException) => errors.push(`client ${i}: ${error.code ?? error.message}`));
      return startStreamer(socket, i);
    });
    // Every connection is streaming: each has had a full pattern's worth back.
    await waitFor(() => streamers.every((s) => s.received >= PATTERN), { timeoutMs: 60_000, intervalMs: 50, what: 'every client to stream' });

    service.kill('SIGTERM');
    for (const s of streamers) {
      s.stopAt = s.mode === 'half-close' ? s.sent + AFTER_SIGNAL_CHUNKS * CHUNK : s.sent;
      s.pump();
    }
    // The sidecar stays up through the drain: readiness says 503 and the counters move.
    const readiness = await httpRequest(service.httpPort, '/readyz');
    expect(readiness.status).toBe(503);

    await Promise.all(streamers.map((s) => s.ended));
    const { code, signal } = await within(service.exited, 90_000, 'the service to exit');
    await service.closed;
    expect({ code, signal }).toEqual({ code: 0, signal: null });

    expect(errors).toEqual([]);
    const closedLines = service.logs.filter((line) => line.event === 'connection_closed');
    expect(closedLines).toHaveLength(CLIENTS);
    const byRemote = new Map(closedLines.map((line) => [line.remote as string, line]));
    for (const [i, s] of streamers.entries()) {
      const server = byRemote.get(`127.0.0.1:${s.localPort}`);
      expect(server, `client ${i}: the server's connection_closed line`).toBeDefined();
      // Exactly what the server read for this connection came back, in order.
      expect(s.mismatch, `client ${i}: echo differs from what it sent at offset ${s.mismatch}`).toBe(-1);
      expect(server!.sent, `client ${i}: server wrote what it read`).toBe(server!.received);
      expect(s.received, `client ${i} (${s.mode}, closed as ${server!.reason}) got back what the server read`).toBe(server!.received);
      // A client that half-closed was read to its end: it got back everything it sent. (One that
      // stalled for SHUTDOWN_QUIET_MS on a busy machine may have been closed as quiet instead; then the
      // server read, and returned, only a prefix.)
      if (server!.reason === 'client_end') expect(s.received, `client ${i} got back everything it sent`).toBe(s.sent);
      if (s.mode === 'quiet') expect(s.received, `quiet client ${i} got back everything it sent`).toBe(s.sent);
    }
    const clientTotal = streamers.reduce((sum, s) => sum + s.received, 0);
    const serverReceived = closedLines.reduce((sum, line) => sum + (line.received as number), 0);
    const serverSent = closedLines.reduce((sum, line) => sum + (line.sent as number), 0);
    expect(serverReceived).toBe(clientTotal);
    expect(serverSent).toBe(clientTotal);
    const reasons = closedLines.reduce<Record<string, number>>((counts, line) => ({ ...counts, [line.reason as string]: (counts[line.reason as string] ?? 0) + 1 }), {});
    console.log(`SIGTERM under load: ${CLIENTS} clients, ${(clientTotal / 2 ** 20).toFixed(1)} MiB echoed; server read ${serverReceived}, wrote ${serverSent}, clients got ${clientTotal}; closed ${JSON.stringify(reasons)}`);
    expect((reasons.client_end ?? 0) + (reasons.shutdown ?? 0)).toBe(CLIENTS);
    expect(reasons.client_end ?? 0, 'most half-closing clients end as client_end').toBeGreaterThan((CLIENTS / 2) * 0.9);
    expect(service.logs.find((line) => line.event === 'shutdown_complete')).toMatchObject({ outcome: 'drained' });
    expect(service.logs.filter((line) => (line.level as number) >= 40)).toEqual([]);
  });
});
