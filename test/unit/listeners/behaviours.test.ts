// Test behaviours on ECHO_LISTENERS entries (`tcp://127.0.0.1:0?delay=50ms`), over real sockets on
// the service built in this process: each misbehaves as asked, keeps the bytes it does echo exact and
// in order, is counted, and shows in /healthz. A listener without options is the plain echo.
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { ConfigError, parseConfig } from '../../../src/config/parse.js';
import { collectUntilEnd, openClient, patternedBytes, readExactly } from '../../support/echo-client.js';
import { httpRequest, listenerPorts, sample, scrape } from '../../support/metrics.js';
import { startService, type RunningService } from '../../support/service.js';
import { tcpSockets } from '../../support/proc-net.js';
import { openUdpClient } from '../../support/udp.js';
import { createTestPki, type TestPki } from '../../support/certs.js';
import { openTls } from '../../support/tls.js';
import { waitFor } from '../../support/wait.js';

let running: RunningService | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function listener(entry: string, env: Record<string, string> = {}): Promise<{ port: number; name: string }> {
  running = await startService({ ECHO_LISTENERS: entry, ...env });
  const [scheme] = entry.split(':');
  return { port: (await listenerPorts(running.httpPort)).get(scheme as string) as number, name: entry };
}
const metric = async (series: string) => sample(await scrape(running!.httpPort), series);

/** Everything the server sends until it closes, and how it closed. */
function readToClose(socket: Socket): Promise<{ data: Buffer; how: 'end' | 'reset' }> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    socket.once('end', () => resolve({ data: Buffer.concat(chunks), how: 'end' }));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve({ data: Buffer.concat(chunks), how: error.code === 'ECONNRESET' ? 'reset' : 'end' }));
  });
}

describe('listener options are checked at start', () => {
  it.each([
    ['tcp://127.0.0.1:0?delay=fast', /entry "tcp:\/\/127\.0\.0\.1:0\?delay=fast": option delay="fast": a duration/],
    ['tcp://127.0.0.1:0?sped=1', /unknown option "sped"; tcp listeners take delay, rate, close_after, reset_after, discard, stall/],
    ['udp://127.0.0.1:0?rate=1000', /unknown option "rate"; udp listeners take delay, loss/],
    ['udp://127.0.0.1:0?loss=1.5', /option loss="1\.5": a fraction from 0 to 1/],
    ['tcp://127.0.0.1:0?close_after=0', /option close_after="0"/],
    ['tcp://127.0.0.1:0?close_after=1000&reset_after=5s', /close_after and reset_after exclude each other/],
    ['tcp://127.0.0.1:0?stall&delay=5ms', /stall reads nothing/],
    ['tcp://127.0.0.1:0?delay=200ms-10ms', /the range's low end first/],
  ])('%s is refused, naming the listener and the option', (entry, message) => {
    expect(() => parseConfig([], { ECHO_LISTENERS: entry })).toThrow(ConfigError);
    expect(() => parseConfig([], { ECHO_LISTENERS: entry })).toThrow(message);
  });

  it('the options are part of the listener name (its metric label) and show in /healthz', async () => {
    const { name } = await listener('tcp://127.0.0.1:0?delay=10ms-20ms&rate=1MiB');
    const detail = JSON.parse((await httpRequest(running!.httpPort, '/healthz')).body) as { listeners: { all: Array<Record<string, unknown>> } };
    expect(detail.listeners.all[0]).toMatchObject({ name, behaviour: { kind: 'tcp', delay: { minMs: 10, maxMs: 20 }, rateBytesPerSecond: 1024 * 1024 } });
    expect(await metric(`echo_connections_accepted_total{listener="${name}"}`)).toBe(0);
  });
});

describe('tcp behaviours', () => {
  it('delay holds each chunk, keeps order and bytes; a jittered range never reorders', async () => {
    const { port } = await listener('tcp://127.0.0.1:0?delay=1ms-40ms');
    const client = await openClient(port);
    const pieces = Array.from({ length: 40 }, (_, i) => patternedBytes(100 + i, i));
    const expected = Buffer.concat(pieces);
    const echoed = readExactly(client, expected.length);
    for (const piece of pieces) client.write(piece);
    expect((await echoed).equals(expected)).toBe(true);
    client.destroy();
  });

  it('rate=200KiB: 500 KiB take at least 1.3 s beyond the first burst, byte-exact', async () => {
    const { port } = await listener('tcp://127.0.0.1:0?rate=200KiB');
    const client = await openClient(port);
    const payload = patternedBytes(500 * 1024, 5);
    const started = performance.now();
    const echoed = readExactly(client, payload.length, 20_000);
    client.write(payload);
    expect((await echoed).equals(payload)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1300);
    client.destroy();
  });

  it('close_after=300ms: the server closes a quiet connection after the duration', async () => {
    const { port } = await listener('tcp://127.0.0.1:0?close_after=300ms');
    const client = await openClient(port);
    const started = performance.now();
    const { how } = await readToClose(client);
    expect(how).toBe('end');
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    client.destroy();
  });

  it('stall: accepts, never reads; the client finds its buffers full', async () => {
    const { port, name } = await listener('tcp://127.0.0.1:0?stall');
    const client = await openClient(port);
    client.on('error', () => undefined); // reset when the service stops with its bytes unread
    client.write(patternedBytes(4 * 1024 * 1024, 12));
    // The bytes pile up unread in the server's receive queue, and the rest waits on the client.
    const serverSide = () => tcpSockets().find((row) => row.localPort === port && row.remotePort === client.localPort);
    await waitFor(() => (serverSide()?.rxQueue ?? 0) >= 64 * 1024, { what: "the server's receive queue filling up" });
    expect(client.writableLength).toBeGreaterThan(0);
    // Node reads ahead at most one buffer (its high-water mark) before the pause holds.
    expect(await metric(`echo_received_bytes_total{listener="${name}"}`)).toBeLessThanOrEqual(64 * 1024);
    expect(await metric(`echo_sent_bytes_total{listener="${name}"}`)).toBe(0);
    expect(await metric(`echo_connections_active{listener="${name}"}`)).toBe(1);
    client.destroy();
  });
});

describe.each(['tcp', 'tls'] as const)('%s: the same behaviours on a plain and a TLS stream (TLS resets the TCP socket under it)', (scheme) => {
  let pki: TestPki | undefined;
  afterEach(() => {
    pki?.cleanup();
    pki = undefined;
  });
  /** A listener of this scheme with these options, and a client connected to it. */
  async function connectTo(options: string): Promise<{ client: Socket; name: string }> {
    if (scheme === 'tcp') {
      const { port, name } = await listener(`tcp://127.0.0.1:0?${options}`);
      return { client: await openClient(port), name };
    }
    pki = await createTestPki();
    const { port, name } = await listener(`tls://127.0.0.1:0?${options}`, { ECHO_TLS_CERT: pki.server.certFile, ECHO_TLS_KEY: pki.server.keyFile });
    return { client: await openTls(port), name };
  }

  it('delay=150ms: a round trip takes at least the delay, byte-exact', async () => {
    const { client } = await connectTo('delay=150ms');
    const payload = patternedBytes(3000, 21);
    const started = performance.now();
    const echoed = readExactly(client, payload.length);
    client.write(payload);
    expect((await echoed).equals(payload)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    client.destroy();
  });

  it('close_after=1000: exactly 1000 bytes echoed, then the server closes; counted as behaviour_close', async () => {
    const { client, name } = await connectTo('close_after=1000');
    const closed = readToClose(client);
    const payload = patternedBytes(5000, 9);
    client.write(payload);
    const { data, how } = await closed;
    expect(how).toBe('end');
    expect(data.equals(payload.subarray(0, 1000))).toBe(true);
    client.destroy();
    await waitFor(async () => (await metric(`echo_connections_closed_total{listener="${name}",reason="behaviour_close"}`)) === 1, { what: 'the close counted' });
  });

  it('reset_after=1000: at most 1000 bytes, then a RST; counted as behaviour_reset', async () => {
    const { client, name } = await connectTo('reset_after=1000');
    const closed = readToClose(client);
    const payload = patternedBytes(5000, 10);
    client.write(payload);
    const { data, how } = await closed;
    expect(how).toBe('reset');
    expect(data.length).toBeLessThanOrEqual(1000);
    expect(data.equals(payload.subarray(0, data.length))).toBe(true);
    await waitFor(async () => (await metric(`echo_connections_closed_total{listener="${name}",reason="behaviour_reset"}`)) === 1, { what: 'the reset counted' });
  });

  it('discard: reads and counts, echoes nothing (RFC 863)', async () => {
    const { client, name } = await connectTo('discard');
    const echoed = collectUntilEnd(client);
    client.end(patternedBytes(100_000, 11));
    expect((await echoed).length).toBe(0);
    await waitFor(async () => (await metric(`echo_received_bytes_total{listener="${name}"}`)) === 100_000, { what: 'the bytes counted as received' });
    expect(await metric(`echo_sent_bytes_total{listener="${name}"}`)).toBe(0);
  });
});

describe('udp behaviours', () => {
  it('loss=1: every datagram dropped on purpose and counted as loss', async () => {
    const { port, name } = await listener('udp://127.0.0.1:0?loss=100%');
    const client = await openUdpClient(port);
    try {
      for (let i = 0; i < 20; i++) await client.send(patternedBytes(100, i));
      await waitFor(async () => (await metric(`echo_udp_errors_total{listener="${name}",reason="loss"}`)) === 20, { what: '20 losses counted' });
      expect(client.inbox).toHaveLength(0);
    } finally {
      await client.close();
    }
  });

  it('delay=120ms: each datagram comes back after the delay, unchanged', async () => {
    const { port } = await listener('udp://127.0.0.1:0?delay=120ms');
    const client = await openUdpClient(port);
    try {
      const datagram = patternedBytes(1200, 13);
      const started = performance.now();
      expect((await client.exchange(datagram, 5000)).equals(datagram)).toBe(true);
      expect(performance.now() - started).toBeGreaterThanOrEqual(115);
    } finally {
      await client.close();
    }
  });
});
