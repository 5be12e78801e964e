// Forged UDP datagrams (support/forge.ts: python3 writes an IPv4 packet with any source to a raw
// socket, which needs root): a datagram that claims to come from the listener itself, from another
// listener of the process, from port 0, and one forged between two replicas of the built service on
// the same port number. Each is dropped and counted, never answered into a loop.
import { describe, expect, it } from 'vitest';
import { createSourcePortPolicy } from '../../src/udp/source-ports.js';
import { canForge, forgeDatagram } from '../support/forge.js';
import { sample, scrape } from '../support/metrics.js';
import { freePort } from '../support/ports.js';
import { spawnServicesPerTest } from '../support/process.js';
import { udpPerTest } from '../support/udp.js';
import { waitFor } from '../support/wait.js';

const udp = udpPerTest();
const { startListener, stillEchoes, client } = udp;
const spawnService = spawnServicesPerTest();
const start = (env: Record<string, string>) => spawnService({ env, startTimeoutMs: 20_000 });

const errors = (listener: string, reason: string) => `echo_udp_errors_total{listener="${listener}",reason="${reason}"}`;
const datagrams = (listener: string, direction: string) => `echo_udp_datagrams_total{listener="${listener}",direction="${direction}"}`;

describe('forged datagrams (raw socket)', () => {
  it('a datagram forged from the listener\'s own address and port is dropped once, not answered to itself forever', async (context) => {
    if (!canForge()) context.skip();
    const { listener, stats, port } = await startListener();
    forgeDatagram({ address: '127.0.0.1', port }, { address: '127.0.0.1', port }, Buffer.from('loop me'));
    await waitFor(() => stats.receivedDatagrams >= 1, { what: 'the forged datagram' });
    await stillEchoes(port);
    expect(stats.receivedDatagrams).toBe(2);
    expect(stats.sentDatagrams).toBe(1);
    expect(stats.errors.loop).toBe(1);
    expect(listener.queuedSends).toBe(0);
  });

  it('a datagram forged from one listener to another of the same process is dropped, not ping-ponged', async (context) => {
    if (!canForge()) context.skip();
    const policy = createSourcePortPolicy();
    const a = await startListener({ sourcePorts: policy });
    const b = await startListener({ sourcePorts: policy, host: '127.0.0.2' });
    forgeDatagram({ address: '127.0.0.1', port: a.port }, { address: '127.0.0.2', port: b.port }, Buffer.from('ping-pong'));
    await waitFor(() => b.stats.receivedDatagrams >= 1, { what: 'the forged datagram' });
    await stillEchoes(a.port);
    expect(b.stats.sentDatagrams).toBe(0);
    expect(a.stats.receivedDatagrams).toBe(1); // only the probe
    expect(b.stats.errors.loop).toBe(1);
  });

  it('a datagram forged from source port 0 is counted as reserved_source_port (no failed send)', async (context) => {
    if (!canForge()) context.skip();
    const { stats, port } = await startListener();
    forgeDatagram({ address: '127.0.0.3', port: 0 }, { address: '127.0.0.1', port }, Buffer.from('from nowhere'));
    await waitFor(() => stats.receivedDatagrams >= 1, { what: 'the forged datagram' });
    expect(stats.errors).toMatchObject({ reserved_source_port: 1, send_failed: 0 });
    await stillEchoes(port);
  });
});

describe('two replicas on the same port number', () => {
  it('cannot be made to answer each other by one datagram forged from one of them', async (context) => {
    if (!canForge()) context.skip();
    const port = await freePort();
    const one = await start({ ECHO_LISTENERS: `udp://127.0.0.1:${port}` });
    const two = await start({ ECHO_LISTENERS: `udp://127.0.0.2:${port}` });
    forgeDatagram({ address: '127.0.0.1', port }, { address: '127.0.0.2', port }, Buffer.from('ping-pong forever?'));
    const listener = `udp://127.0.0.2:${port}`;
    await waitFor(async () => sample(await scrape(two.httpPort), errors(listener, 'loop')) === 1, { what: 'the forged datagram refused', timeoutMs: 10_000 });
    // Replica one hears from nobody: a normal client's echo from it comes back, and it read only that.
    const probe = await client(port);
    expect((await probe.exchange(Buffer.from('probe'))).toString()).toBe('probe');
    expect(sample(await scrape(one.httpPort), datagrams(`udp://127.0.0.1:${port}`, 'received'))).toBe(1);
    const twoSamples = await scrape(two.httpPort);
    expect([sample(twoSamples, datagrams(listener, 'received')), sample(twoSamples, datagrams(listener, 'sent'))]).toEqual([1, 0]);
  });
});

