// The operator's limits on echo connections, each against the clients it exists for, on a service
// built in this process: connection lifetime, the per-connection pending-byte cap, the idle timeout
// on clients that never send, the connection limit under a flood. The bearer token on /metrics:
// test/unit/sidecar/metrics-route.test.ts.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { collectUntilEnd, echoOnce, openClient, patternedBytes } from '../../support/echo-client.js';
import { httpRequest, sample, scrape } from '../../support/metrics.js';
import { startServicesPerTest } from '../../support/service.js';
import { pool, waitFor, within } from '../../support/wait.js';
import { CLOSE_FLUSH_GRACE_MS } from '../../../src/tcp/connection.js';

const start = startServicesPerTest();

const closedReason = async (port: number, reason: string) => sample(await scrape(port), `echo_connections_closed_total{reason="${reason}"}`);
const pendingBytes = async (port: number) =>
  (JSON.parse((await httpRequest(port, '/healthz')).body) as { connections: { pendingWriteBytes: number } }).connections.pendingWriteBytes;

describe('ECHO_MAX_CONNECTION_LIFETIME_MS', () => {
  it('is off by default and its close reason exists from the first scrape', async () => {
    const { httpPort } = await start();
    expect(await closedReason(httpPort, 'max_lifetime')).toBe(0);
  });

  it('closes a connection open that long, after echoing everything it read', async () => {
    const { httpPort, echoPort } = await start({ ECHO_MAX_CONNECTION_LIFETIME_MS: '300' });
    const socket = await openClient(echoPort);
    const echoed = collectUntilEnd(socket);
    socket.write('before the cap');
    const opened = Date.now();
    // The server ends its side; the client has not half-closed.
    expect((await within(echoed, 5000, 'the server FIN')).toString()).toBe('before the cap');
    expect(Date.now() - opened).toBeGreaterThanOrEqual(250);
    socket.destroy();
    await waitFor(async () => (await closedReason(httpPort, 'max_lifetime')) === 1, { what: 'max_lifetime to be counted' });
  });

  it('while a client streams: what it got back is exactly what the server read, then FIN, never a reset', async () => {
    const { httpPort, echoPort } = await start({ ECHO_MAX_CONNECTION_LIFETIME_MS: '400' });
    const socket = await openClient(echoPort);
    const errors: string[] = [];
    socket.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
    const pattern = patternedBytes(64 * 1024, 3);
    let sent = 0;
    let received = 0;
    let mismatch = -1;
    const send = () => {
      // Keep 16 KiB in flight until the server's FIN.
      while (!socket.writableEnded && !socket.destroyed && socket.readable && sent - received < 16 * 1024) {
        socket.write(pattern.subarray(sent % pattern.length, (sent % pattern.length) + 4096));
        sent += 4096;
      }
    };
    socket.on('data', (data: Buffer) => {
      for (let i = 0; i < data.length && mismatch === -1; i++) if (data[i] !== pattern[(received + i) % pattern.length]) mismatch = received + i;
      received += data.length;
      send();
    });
    const ended = within(new Promise((resolve) => socket.once('end', resolve)), 10_000, 'the server FIN');
    send();
    await ended;
    socket.end(); // the client closes its side too, as a client does at EOF
    await within(once(socket, 'close'), 10_000, 'close');
    expect(errors).toEqual([]);
    await waitFor(async () => (await closedReason(httpPort, 'max_lifetime')) === 1, { what: 'max_lifetime to be counted' });
    const samples = await scrape(httpPort);
    expect(mismatch).toBe(-1);
    expect(received).toBeGreaterThan(0);
    expect(sample(samples, 'echo_received_bytes_total')).toBe(received);
    expect(sample(samples, 'echo_sent_bytes_total')).toBe(received);
  });

  it('a client that never reads cannot hold its slot past the flush grace', { timeout: 40_000 }, async () => {
    const { httpPort, echoPort } = await start({ ECHO_MAX_CONNECTION_LIFETIME_MS: '200' });
    const socket = await openClient(echoPort);
    socket.on('error', () => undefined);
    socket.pause();
    const chunk = patternedBytes(1024 * 1024, 5);
    for (let i = 0; i < 100; i++) socket.write(chunk); // far more than the kernel's buffers take
    const started = Date.now();
    await waitFor(async () => sample(await scrape(httpPort), 'echo_connections_active') === 0, { timeoutMs: CLOSE_FLUSH_GRACE_MS + 10_000, intervalMs: 100, what: 'the stalled connection to be closed' });
    expect(Date.now() - started).toBeLessThan(CLOSE_FLUSH_GRACE_MS + 3000);
    expect(await closedReason(httpPort, 'max_lifetime')).toBe(1);
    socket.destroy();
  });
});

describe('ECHO_MAX_PENDING_BYTES', () => {
  /** A client that sends 64 MiB and reads nothing: what the server holds for it once it has paused. */
  async function pendingFor(env: Record<string, string>): Promise<number> {
    const { httpPort, echoPort } = await start(env);
    const socket = await openClient(echoPort);
    socket.on('error', () => undefined);
    socket.pause();
    const chunk = patternedBytes(1024 * 1024, 9);
    for (let i = 0; i < 64; i++) socket.write(chunk);
    await waitFor(async () => sample(await scrape(httpPort), 'echo_backpressure_pauses_total') > 0, { what: 'the server to pause' });
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) seen.push(await pendingBytes(httpPort));
    socket.destroy();
    return Math.max(...seen);
  }

  it('sets how much the server holds for a client that does not read: at most the cap plus one read', async () => {
    const small = await pendingFor({ ECHO_MAX_PENDING_BYTES: '16384' });
    const large = await pendingFor({ ECHO_MAX_PENDING_BYTES: '1048576' });
    console.log(`pending for one non-reading client: cap 16 KiB -> ${small} bytes, cap 1 MiB -> ${large} bytes`);
    expect(small).toBeGreaterThan(0);
    expect(small).toBeLessThanOrEqual(16384 + 65536);
    expect(large).toBeGreaterThanOrEqual(1048576);
    expect(large).toBeLessThanOrEqual(1048576 + 65536);
  });
});

describe('ECHO_IDLE_TIMEOUT_MS against clients that connect and never send', () => {
  it('closes every one of them as idle_timeout and frees the slots', async () => {
    const { httpPort, echoPort } = await start({ ECHO_IDLE_TIMEOUT_MS: '300' });
    const sockets = await pool(200, 50, async () => {
      const socket = await openClient(echoPort);
      socket.on('error', () => undefined);
      socket.resume();
      return socket;
    });
    await waitFor(async () => (await closedReason(httpPort, 'idle_timeout')) === 200, { timeoutMs: 10_000, what: '200 idle timeouts' });
    expect(sample(await scrape(httpPort), 'echo_connections_active')).toBe(0);
    await waitFor(() => sockets.every((socket) => socket.closed), { what: 'the clients to see the close' });
  });
});

describe('ECHO_MAX_CONNECTIONS under a flood', () => {
  it('refuses the excess at once, counts it, and the admitted connections keep echoing', async () => {
    const { httpPort, echoPort } = await start({ ECHO_MAX_CONNECTIONS: '50' });
    const admitted = await pool(50, 10, async () => openClient(echoPort));
    await waitFor(async () => sample(await scrape(httpPort), 'echo_connections_active') === 50);
    const outcomes = await pool(500, 50, async () => {
      const socket = connect({ port: echoPort, host: '127.0.0.1' });
      socket.on('error', () => undefined);
      socket.resume();
      await within(new Promise((resolve) => socket.once('close', resolve)), 10_000, 'the refused connection to close');
      return socket.bytesRead;
    });
    expect(outcomes.every((bytes) => bytes === 0)).toBe(true);
    const samples = await scrape(httpPort);
    expect(sample(samples, 'echo_connections_rejected_total{reason="max_connections"}')).toBe(500);
    expect(sample(samples, 'echo_connections_rejected_total{reason="fd_limit"}')).toBe(0);
    await pool(admitted.length, 10, (i) => echoOnce(admitted[i] as Socket, Buffer.from(`admitted ${i}`)));
    for (const socket of admitted) socket.destroy();
  });
});
