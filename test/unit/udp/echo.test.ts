// UDP echo over real datagrams on loopback: sizes, byte values, several senders, a burst of 10,000.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createUdpEchoListener, MAX_UDP4_PAYLOAD, MAX_UDP6_PAYLOAD, type UdpEchoListener } from '../../../src/udp/listener.js';
import { createUdpStats, type UdpStats } from '../../../src/udp/stats.js';
import { patternedBytes } from '../../support/echo-client.js';
import { waitFor } from '../../support/wait.js';
import { canBindUdp6, numberedDatagram, openUdpClient, pacedExchange, type UdpClient, type UdpClientOptions } from '../../support/udp.js';
import { UDP_LISTENER_DEFAULTS } from '../../support/config.js';

const logger = pino({ level: 'silent' });

let stats: UdpStats;
let listener: UdpEchoListener;
let port: number;
beforeAll(async () => {
  stats = createUdpStats();
  listener = createUdpEchoListener({ ...UDP_LISTENER_DEFAULTS, host: '127.0.0.1', port: 0, logger, stats });
  ({ port } = await listener.listen());
});
afterAll(async () => {
  await listener.close();
});

async function withClient<T>(use: (client: UdpClient) => Promise<T>, options?: UdpClientOptions): Promise<T> {
  const client = await openUdpClient(port, options);
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

describe('UDP echo (RFC 862) over real datagrams', () => {
  it('is bound on an ephemeral udp4 port', () => {
    expect(listener.bound).toBe(true);
    expect(listener.address).toMatchObject({ address: '127.0.0.1', family: 'IPv4', port });
  });

  it.each([0, 1, 1400, MAX_UDP4_PAYLOAD])('echoes a %i-byte datagram byte-exact', async (size) => {
    const payload = patternedBytes(size, size + 1);
    const reply = await withClient((client) => client.exchange(payload));
    expect(reply.length).toBe(size);
    expect(reply.equals(payload)).toBe(true);
  });

  it('echoes all 256 byte values, in one datagram and one value per datagram', async () => {
    await withClient(async (client) => {
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      expect((await client.exchange(all)).equals(all)).toBe(true);
      for (let value = 0; value < 256; value++) {
        const one = Buffer.from([value]);
        expect((await client.exchange(one)).equals(one), `byte ${value}`).toBe(true);
      }
    });
  });

  it('answers several senders at once, each with only its own datagrams (two source addresses)', async () => {
    const hosts = ['127.0.0.1', '127.0.0.2'];
    const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => openUdpClient(port, { host: hosts[i % 2] as string, serverHost: '127.0.0.1' })));
    try {
      // pacedExchange checks every reply is this client's next datagram (its tag is in bytes 4..7).
      const results = await Promise.all(clients.map((client, i) => pacedExchange(client, 500, { window: 16, tag: 1000 + i })));
      results.forEach((result, i) => expect(result, `client ${i}`).toMatchObject({ received: 500, wrong: 0 }));
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });

  it('echoes a paced burst of 10,000 datagrams (at most 64 unanswered), all byte-exact and in order', async () => {
    const before = { ...stats, errors: { ...stats.errors } };
    const result = await withClient((client) => pacedExchange(client, 10_000, { window: 64 }));
    let bytes = 0;
    for (let seq = 0; seq < 10_000; seq++) bytes += numberedDatagram(seq).length;
    expect(result).toEqual({ received: 10_000, bytes, wrong: 0 });
    expect(stats.receivedDatagrams - before.receivedDatagrams).toBe(10_000);
    expect(stats.sentDatagrams - before.sentDatagrams).toBe(10_000);
    expect(stats.receivedBytes - before.receivedBytes).toBe(bytes);
    expect(stats.sentBytes - before.sentBytes).toBe(bytes);
    expect(stats.errors).toEqual(before.errors);
  });

  // The client shares this process's event loop with the listener, so the listener reads nothing while
  // the 10,000 sends are issued: what its receive buffer holds is what survives. Informational only.
  it.each([
    ['the kernel default receive buffer', 0],
    ['the default receive buffer (ECHO_UDP_RECV_BUFFER_BYTES)', UDP_LISTENER_DEFAULTS.recvBufferSize],
  ])('reports (does not assert) the drop rate of an unpaced burst of 10,000 with %s', async (what, recvBufferSize) => {
    const burstStats = createUdpStats();
    const burstListener = createUdpEchoListener({ ...UDP_LISTENER_DEFAULTS, host: '127.0.0.1', port: 0, logger, stats: burstStats, recvBufferSize });
    const { port: burstPort } = await burstListener.listen();
    const client = await openUdpClient(burstPort, { recvBufferSize: 8 * 1024 * 1024 });
    try {
      const sends: Array<Promise<void>> = [];
      for (let seq = 0; seq < 10_000; seq++) sends.push(client.send(patternedBytes(1000, seq + 1)));
      await Promise.all(sends);
      // Loopback keeps order: once a marker sent after the burst comes back, every reply that was going
      // to arrive has arrived. The marker itself may be dropped too, so it is retried (bounded).
      const marker = Buffer.from('end-of-burst marker');
      let markers = 0;
      let markerSeen = false;
      for (let attempt = 0; attempt < 20 && !markerSeen; attempt++) {
        markers++;
        await client.send(marker);
        markerSeen = await waitFor(() => client.inbox.some((reply) => reply.data.equals(marker)), { timeoutMs: 1000, what: 'the marker echo' }).catch(() => false);
      }
      expect(markerSeen).toBe(true);
      const replies = client.inbox.filter((reply) => reply.data.length === 1000).length;
      const markersEchoed = client.inbox.length - replies;
      console.info(
        `unpaced UDP burst of 10000 x 1000 bytes, ${what}: listener read ${burstStats.receivedDatagrams - markersEchoed} ` +
          `(at most; ${markers} marker(s) sent), echoed ${burstStats.sentDatagrams - markersEchoed}, client got ${replies} back: ` +
          `drop rate ${((1 - replies / 10_000) * 100).toFixed(2)}%`,
      );
      expect(replies).toBeLessThanOrEqual(10_000);
      expect(burstStats.errors.send_failed).toBe(0);
    } finally {
      await client.close();
      await burstListener.close();
    }
  });

  it('runs on udp6 (::1), echoing the IPv6 maximum payload of 65527 bytes', async (context) => {
    if (!(await canBindUdp6())) context.skip();
    const v6 = createUdpEchoListener({ ...UDP_LISTENER_DEFAULTS, host: '::1', port: 0, logger, stats: createUdpStats() });
    const address = await v6.listen();
    expect(address.family).toBe('IPv6');
    try {
      const client = await openUdpClient(address.port, { host: '::1' });
      try {
        for (const size of [0, 1400, MAX_UDP6_PAYLOAD]) {
          const payload = patternedBytes(size, 3);
          expect((await client.exchange(payload)).equals(payload), `${size} bytes`).toBe(true);
        }
      } finally {
        await client.close();
      }
    } finally {
      await v6.close();
    }
  });
});
