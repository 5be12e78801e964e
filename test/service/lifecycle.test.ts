// Graceful shutdown end to end: the built service as a real child process, real signals, real
// sockets on 127.0.0.1. Synchronisation is by events and polled conditions with timeouts; the only
// timers are where the behaviour itself is time-based (quiet grace, delay, deadline) or pace a client.
// (The same sequence in process: test/unit/process/.)
import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connectOutcome, echoRoundTrip, openClient, patternedBytes } from '../support/echo-client.js';
import { httpRequest, sample, scrape } from '../support/metrics.js';
import { spawnServicesPerTest, type ServiceProcess } from '../support/process.js';
import { waitFor, within } from '../support/wait.js';

type LogLine = Record<string, unknown>;

const spawnService = spawnServicesPerTest();
const start = (env: Record<string, string>) => spawnService({ env, startTimeoutMs: 20_000 });
const sockets: Socket[] = [];

/** How the service names each client in its logs, taken at connect time (a closed socket forgets its port). */
const remotes = new WeakMap<Socket, string>();

async function client(port: number): Promise<Socket> {
  const socket = await openClient(port);
  sockets.push(socket);
  remotes.set(socket, `127.0.0.1:${socket.localPort}`);
  return socket;
}

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readyStatus(httpPort: number): Promise<number> {
  return (await httpRequest(httpPort, '/readyz')).status;
}

/**
 * Polls /readyz from right after a signal until it answers 503. Every poll must get an answer:
 * a refused or failed request is recorded and fails the test (the sidecar must not go away).
 */
async function expectReadinessDropsAtOnce(httpPort: number): Promise<void> {
  const failures: string[] = [];
  const seen: number[] = [];
  await waitFor(
    async () => {
      try {
        const status = await readyStatus(httpPort);
        seen.push(status);
        return status === 503;
      } catch (error) {
        failures.push(String(error));
        return false;
      }
    },
    { timeoutMs: 3000, intervalMs: 5, what: '/readyz to answer 503 after the signal' },
  );
  expect(failures, 'the sidecar must answer /readyz throughout, never refuse').toEqual([]);
  expect(seen.every((status) => status === 200 || status === 503), `readiness statuses: ${seen.join(',')}`).toBe(true);
}

function closedLine(service: ServiceProcess, socket: Socket): LogLine | undefined {
  const remote = remotes.get(socket);
  if (remote === undefined) throw new Error('not a socket from client()');
  return service.logs.find((line) => line.event === 'connection_closed' && line.remote === remote);
}

/** True if `data` is the start of the endless repetition of `pattern`. */
function isRepeatedPatternPrefix(pattern: Buffer, data: Buffer): boolean {
  for (let offset = 0; offset < data.length; offset += pattern.length) {
    const part = data.subarray(offset, offset + pattern.length);
    if (!part.equals(pattern.subarray(0, part.length))) return false;
  }
  return true;
}

/** Resolves on 'close' (whatever the reason); never rejects. */
function closedPromise(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

// A prime, so no chunk size lines up with it and a dropped or repeated chunk shows.
const PATTERN_LENGTH = 1_000_003;

/** A client that streams a repeating pattern at a steady pace and reads its echo as it comes. */
class StreamingClient {
  readonly pattern: Buffer;
  sent = 0;
  receivedBytes = 0;
  private readonly chunks: Buffer[] = [];
  private stopping = false;
  private writer: Promise<void> = Promise.resolve();
  /** Resolves when the server ends its side (EOF); rejects on a socket error. */
  readonly ended: Promise<void>;

  constructor(
    readonly socket: Socket,
    seed: number,
  ) {
    this.pattern = patternedBytes(PATTERN_LENGTH, seed);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.receivedBytes += chunk.length;
    });
    this.ended = new Promise((resolve, reject) => {
      socket.once('end', resolve);
      socket.once('error', reject);
    });
    this.ended.catch(() => undefined); // observed by the tests that await it
  }

  /** 16 KiB every ~2 ms (≈8 MB/s): busy, but leaves the 2 cores room for the rest. Bounded in bytes and time. */
  startWriting({ chunkSize = 16 * 1024, pauseMs = 2, maxBytes = 512 * 1024 * 1024, maxMs = 40_000 } = {}): void {
    const socket = this.socket;
    this.writer = (async () => {
      const until = Date.now() + maxMs;
      let position = 0;
      while (!this.stopping && this.sent < maxBytes && Date.now() < until && !socket.destroyed) {
        const end = Math.min(position + chunkSize, PATTERN_LENGTH);
        const piece = this.pattern.subarray(position, end);
        position = end % PATTERN_LENGTH;
        this.sent += piece.length;
        if (!socket.write(piece)) await Promise.race([once(socket, 'drain'), closedPromise(socket)]).catch(() => undefined);
        await sleep(pauseMs);
      }
    })();
  }

  async stopWriting(): Promise<void> {
    this.stopping = true;
    await within(this.writer, 10_000, 'the client writer to stop');
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

describe('SIGTERM with clients mid-transfer', () => {
  it('turns readiness 503 at once, refuses new connections, keeps echoing every byte to the end, and exits 0 in time', async () => {
    const timeoutMs = 20_000;
    const service = await start({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs), LOG_LEVEL: 'debug' });
    const streams = await Promise.all([1, 2, 3, 4].map(async (seed) => new StreamingClient(await client(service.echoPort), seed)));
    for (const stream of streams) stream.startWriting();
    await waitFor(() => streams.every((s) => s.receivedBytes > 256 * 1024), { timeoutMs: 15_000, what: 'every client to be mid-transfer' });
    expect(await readyStatus(service.httpPort)).toBe(200);

    const signalledAt = Date.now();
    service.kill('SIGTERM');
    await expectReadinessDropsAtOnce(service.httpPort);

    // The listener stops (SHUTDOWN_DELAY_MS is 0): a new connection is refused by the kernel.
    await waitFor(async () => (await connectOutcome(service.echoPort)) === 'refused', {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'new echo connections to be refused',
    });

    // The sidecar is still up and the last scrapes see the drain.
    const duringDrain = await scrape(service.httpPort);
    expect(sample(duringDrain, 'echo_connections_active')).toBeGreaterThanOrEqual(streams.length);
    expect(await readyStatus(service.httpPort)).toBe(503);

    // The open connections keep being echoed after the listener has gone.
    const receivedAtRefusal = streams.map((s) => s.receivedBytes);
    await waitFor(() => streams.every((s, i) => s.receivedBytes > (receivedAtRefusal[i] as number) + 256 * 1024), {
      timeoutMs: 10_000,
      what: 'the clients to keep receiving their echo during the drain',
    });
    expect(service.child.exitCode, 'the service must not exit while clients are streaming').toBeNull();

    // The clients finish: half-close, then everything they sent comes back, then EOF.
    for (const stream of streams) await stream.stopWriting();
    for (const stream of streams) stream.socket.end();
    await within(Promise.all(streams.map((s) => s.ended)), 15_000, 'every client to get its whole echo and EOF');
    for (const [i, stream] of streams.entries()) {
      const received = stream.received();
      expect(received.length, `client ${i}: bytes echoed vs sent`).toBe(stream.sent);
      expect(isRepeatedPatternPrefix(stream.pattern, received), `client ${i}: echo differs from what it sent`).toBe(true);
    }

    const { code, signal } = await within(service.exited, timeoutMs, 'the service to exit');
    const elapsed = Date.now() - signalledAt;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(elapsed).toBeLessThan(timeoutMs);

    await service.closed;
    for (const [i, stream] of streams.entries()) {
      const line = closedLine(service, stream.socket);
      expect(line, `client ${i}: connection_closed log line`).toBeDefined();
      expect(line).toMatchObject({ reason: 'client_end', received: stream.sent, sent: stream.sent });
    }
    expect(service.logs.find((line) => line.event === 'shutdown_complete')).toMatchObject({ outcome: 'drained' });
  });
});

describe('drain closes connections', () => {
  it.each([200, 0])('closes a quiet connection with reason shutdown after SHUTDOWN_QUIET_MS=%i, long before the deadline', async (quietMs) => {
    const timeoutMs = 20_000;
    const service = await start({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs), SHUTDOWN_QUIET_MS: String(quietMs), LOG_LEVEL: 'debug' });
    const socket = await client(service.echoPort);
    const payload = Buffer.from('hello, then silence');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<void>((resolve, reject) => {
      socket.once('end', resolve);
      socket.once('error', reject);
    });
    socket.write(payload);
    await waitFor(() => Buffer.concat(chunks).length >= payload.length, { what: 'the echo before the signal' });

    const signalledAt = Date.now();
    service.kill('SIGTERM');
    await within(ended, 8000, 'the server to close the quiet connection');
    const closedAfter = Date.now() - signalledAt;
    expect(closedAfter).toBeGreaterThanOrEqual(quietMs - 5); // time-based behaviour: the quiet grace
    expect(Buffer.concat(chunks).equals(payload)).toBe(true);

    const { code } = await within(service.exited, 8000, 'the service to exit after the drain');
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(timeoutMs / 2);
    await service.closed;
    expect(closedLine(service, socket)).toMatchObject({ reason: 'shutdown', received: payload.length, sent: payload.length });
    expect(service.logs.find((line) => line.event === 'shutdown_complete')).toMatchObject({ outcome: 'drained' });
  });

  it('force-closes a client that keeps sending past SHUTDOWN_TIMEOUT_MS, counts it as shutdown, and still exits 0', async () => {
    const timeoutMs = 1500;
    const quietMs = 1000;
    const intervalMs = 50; // well under the quiet grace: this client is never quiet
    const service = await start({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs), SHUTDOWN_QUIET_MS: String(quietMs), LOG_LEVEL: 'debug' });
    const socket = await client(service.echoPort);
    const sent: Buffer[] = [];
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined); // a reset at the forced close is fine
    const closed = closedPromise(socket);
    let lastWriteAt = 0;
    const writer = (async () => {
      for (let i = 0; i < 400 && !socket.destroyed; i++) {
        const piece = patternedBytes(100, i + 1);
        sent.push(piece);
        socket.write(piece);
        lastWriteAt = Date.now();
        await sleep(intervalMs);
      }
    })();
    await waitFor(() => Buffer.concat(received).length >= 300, { what: 'the echo to flow' });

    const signalledAt = Date.now();
    service.kill('SIGTERM');
    await expectReadinessDropsAtOnce(service.httpPort);
    const duringDrain = await scrape(service.httpPort);
    expect(sample(duringDrain, 'echo_connections_active')).toBe(1);

    await within(closed, timeoutMs + 8000, 'the forced close at the deadline');
    const closedAfter = Date.now() - signalledAt;
    await within(writer, 5000, 'the client writer to stop');
    expect(closedAfter).toBeGreaterThanOrEqual(timeoutMs - 50); // time-based behaviour: the deadline
    expect(lastWriteAt - signalledAt, 'the client was still sending past the quiet grace').toBeGreaterThan(quietMs);
    const echoed = Buffer.concat(received);
    expect(Buffer.concat(sent).subarray(0, echoed.length).equals(echoed), 'echo must be a prefix of what was sent').toBe(true);

    const { code } = await within(service.exited, 8000, 'the service to exit after the deadline');
    expect(code).toBe(0);
    await service.closed;
    expect(closedLine(service, socket)).toMatchObject({ reason: 'shutdown' });
    expect(service.logs.some((line) => line.event === 'shutdown_deadline')).toBe(true);
    expect(service.logs.find((line) => line.event === 'shutdown_complete')).toMatchObject({ outcome: 'deadline' });
  });
});

describe('signals', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('a second %s during the drain exits at once with %i', async (signal, expected) => {
    // Quiet grace and deadline far away: only the second signal can end this process soon.
    const service = await start({ SHUTDOWN_TIMEOUT_MS: '60000', SHUTDOWN_QUIET_MS: '60000' });
    const socket = await client(service.echoPort);
    socket.on('error', () => undefined);
    socket.write('x');
    await once(socket, 'data');

    service.kill(signal);
    await service.waitForLog((line) => line.event === 'shutdown_started', 5000);
    expect(await readyStatus(service.httpPort)).toBe(503);
    expect(service.child.exitCode, 'still draining before the second signal').toBeNull();

    const secondAt = Date.now();
    service.kill(signal);
    const { code, signal: bySignal } = await within(service.exited, 5000, 'the exit after the second signal');
    expect({ code, signal: bySignal }).toEqual({ code: expected, signal: null });
    expect(Date.now() - secondAt).toBeLessThan(5000);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('exits 0 after a clean %s drain with no connections', async (signal) => {
    const service = await start({ SHUTDOWN_TIMEOUT_MS: '20000' });
    const signalledAt = Date.now();
    service.kill(signal);
    const { code, signal: bySignal } = await within(service.exited, 10_000, 'the service to exit');
    expect({ code, signal: bySignal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    await service.closed;
    expect(service.logs.find((line) => line.event === 'shutdown_complete')).toMatchObject({ outcome: 'drained' });
  });
});

describe('SHUTDOWN_DELAY_MS', () => {
  it('keeps accepting and echoing with readiness 503 during the delay, then refuses', async () => {
    const delayMs = 3000;
    const service = await start({ SHUTDOWN_DELAY_MS: String(delayMs), SHUTDOWN_TIMEOUT_MS: '20000', SHUTDOWN_QUIET_MS: '200', LOG_LEVEL: 'debug' });

    const signalledAt = Date.now();
    service.kill('SIGTERM');
    await expectReadinessDropsAtOnce(service.httpPort);

    // A new connection during the delay is accepted and echoed in full.
    const payload = patternedBytes(200_000, 42);
    const echoed = await within(echoRoundTrip(service.echoPort, payload), delayMs, 'an echo during the delay');
    expect(echoed.equals(payload)).toBe(true);
    // One that stays open past the delay is then drained like any other.
    const lingering = await client(service.echoPort);
    lingering.on('error', () => undefined);
    const lingeringEnded = once(lingering, 'end');
    lingering.write('still here');
    await once(lingering, 'data');
    expect(Date.now() - signalledAt, 'the checks above must finish inside the delay for this test to mean anything').toBeLessThan(delayMs);

    // Readiness stays 503 for the whole delay, and the listener accepts until it ends.
    const statuses: number[] = [];
    let refusedAt = 0;
    await waitFor(
      async () => {
        statuses.push(await readyStatus(service.httpPort));
        if ((await connectOutcome(service.echoPort)) !== 'refused') return false;
        refusedAt = Date.now();
        return true;
      },
      { timeoutMs: delayMs + 10_000, intervalMs: 100, what: 'the listener to stop after the delay' },
    );
    expect(statuses.length).toBeGreaterThan(1);
    expect(statuses.every((status) => status === 503), `readiness during the delay: ${statuses.join(',')}`).toBe(true);
    expect(refusedAt - signalledAt).toBeGreaterThanOrEqual(delayMs - 50); // time-based behaviour: the delay

    await within(lingeringEnded, 8000, 'the lingering connection to be drained');
    const { code } = await within(service.exited, 10_000, 'the service to exit');
    expect(code).toBe(0);
    await service.closed;
    expect(closedLine(service, lingering)).toMatchObject({ reason: 'shutdown', received: 10, sent: 10 });
  });
});

describe('the sidecar does not hold up the exit', () => {
  it('exits within SHUTDOWN_TIMEOUT_MS although an HTTP client holds a half-sent request open', async () => {
    const timeoutMs = 3000;
    const service = await start({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs) });
    const http = connect({ port: service.httpPort, host: '127.0.0.1' });
    sockets.push(http);
    http.on('error', () => undefined);
    await once(http, 'connect');
    http.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // headers never finished
    // Let the sidecar see the bytes: a complete request on another connection is answered after them.
    expect(await readyStatus(service.httpPort)).toBe(200);

    const signalledAt = Date.now();
    service.kill('SIGTERM');
    const { code } = await within(service.exited, timeoutMs + 8000, 'the service to exit');
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(timeoutMs);
  });
});
