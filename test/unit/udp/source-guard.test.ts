// Sources the UDP echo must not answer (the CVE-1999-0103 class), over real datagrams on loopback:
// every privileged source port, port 0, the reflection ports above 1023, the listener's own port and
// those of the other listeners of the process (from any address); normal clients on every other port
// are still echoed byte-exact; a per-source rate limit bounds what is left (a ping-pong with an echo
// on a port we do not know, a reflected flood). Forged datagrams (a raw socket, python3):
// test/external/forged-datagrams.test.ts.
//
// Sending from a privileged port needs root here; elsewhere those tests skip with a message. A sent datagram is known to have been handled when the listener's counters say so
// (waitFor); `sentDatagrams` counts every reply the kernel took, so it shows exactly what was answered.
import { describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import type { UdpEchoListener } from '../../../src/udp/listener.js';
import { createSourcePortPolicy, FIRST_UNPRIVILEGED_PORT, REFLECTION_PORTS, SOURCE_PORT_ALLOWED, SOURCE_PORT_LOOP, SOURCE_PORT_RESERVED } from '../../../src/udp/source-ports.js';
import { createSourceRateLimiter } from '../../../src/udp/source-rate.js';
import type { UdpStats } from '../../../src/udp/stats.js';
import { patternedBytes } from '../../support/echo-client.js';
import { capturingLogger } from '../../support/logger.js';
import { canBindUdp6, udpPerTest, type UdpClient } from '../../support/udp.js';
import { waitFor } from '../../support/wait.js';

const SENDER_HOST = '127.0.0.9'; // few services bind it, so its privileged ports are free

const udp = udpPerTest();
const startListener = udp.startListener;
const stillEchoes = udp.stillEchoes;

/** A client bound to `port` on `host`, or undefined when the port is taken by something else on this host. */
async function clientFrom(serverPort: number, port: number, host = SENDER_HOST, serverHost = '127.0.0.1'): Promise<UdpClient | undefined> {
  try {
    return await udp.client(serverPort, { host, port, serverHost });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') return undefined;
    throw error;
  }
}

/** Whether this process may bind a privileged port (root, or CAP_NET_BIND_SERVICE); says so when not. */
async function canBindPrivileged(): Promise<boolean> {
  const probe = createSocket('udp4');
  const outcome = await new Promise<string | undefined>((resolve) => {
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
    probe.bind(1, SENDER_HOST, () => resolve(undefined));
  });
  probe.close();
  if (outcome === 'EACCES' || outcome === 'EPERM') {
    console.warn('skipping: sending from a privileged port needs root or CAP_NET_BIND_SERVICE');
    return false;
  }
  return true;
}

/** Sends one datagram from each client, then waits until the listener has read them all and finished every reply. */
async function sendFromEach(clients: readonly UdpClient[], stats: UdpStats, listener: UdpEchoListener, payload: (i: number) => Buffer): Promise<void> {
  const before = stats.receivedDatagrams;
  for (const [i, client] of clients.entries()) await client.send(payload(i));
  await waitFor(() => stats.receivedDatagrams === before + clients.length && listener.queuedSends === 0, { what: `${clients.length} datagrams read and handled`, timeoutMs: 10_000 });
}

describe('the source port table', () => {
  it('refuses port 0, 1-1023 and the named reflection ports; allows every other port, all of 32768-65535 in particular', () => {
    const { verdicts } = createSourcePortPolicy();
    const refused: number[] = [];
    for (let port = 0; port < 65_536; port++) if (verdicts[port] !== SOURCE_PORT_ALLOWED) refused.push(port);
    const expected = [...Array.from({ length: FIRST_UNPRIVILEGED_PORT }, (_, port) => port), ...Object.keys(REFLECTION_PORTS).map(Number)];
    expect(refused).toEqual(expected);
    expect(refused.every((port) => verdicts[port] === SOURCE_PORT_RESERVED)).toBe(true);
    expect(Math.max(...refused)).toBeLessThan(32_768); // no OS hands out a client port below this by default
    expect(Object.keys(REFLECTION_PORTS).map(Number)).toEqual(expect.arrayContaining([1900, 3702, 5353, 5683, 11211]));
  });

  it('marks listen ports as loop (a listen port that is also reserved counts as loop) and ignores 0', () => {
    const policy = createSourcePortPolicy([7000, 8080, 0, 19]);
    expect([policy.verdicts[7000], policy.verdicts[8080], policy.verdicts[19], policy.verdicts[0], policy.verdicts[7001]]).toEqual([SOURCE_PORT_LOOP, SOURCE_PORT_LOOP, SOURCE_PORT_LOOP, SOURCE_PORT_RESERVED, SOURCE_PORT_ALLOWED]);
    expect(() => policy.refuseListenPort(65_536)).toThrow(RangeError);
    expect(() => policy.refuseListenPort(-1)).toThrow(RangeError);
  });
});

describe('UDP echo never answers a source that is a server', () => {
  it('drops a datagram from every privileged source port 1-1023, counts each as reserved_source_port, and echoes on', async (context) => {
    if (!(await canBindPrivileged())) context.skip();
    const { listener, stats, port } = await startListener();
    const clients: UdpClient[] = [];
    const taken: number[] = [];
    for (let source = 1; source < FIRST_UNPRIVILEGED_PORT; source++) {
      const client = await clientFrom(port, source);
      if (client) clients.push(client);
      else taken.push(source);
    }
    if (taken.length > 0) console.info(`privileged ports in use on ${SENDER_HOST}, not tried: ${taken.join(', ')}`);
    // The ports the issue names must all have been tried.
    for (const named of [7, 9, 13, 17, 19, 37, 53, 123, 161]) expect(taken, `port ${named} tried`).not.toContain(named);
    expect(clients.length).toBeGreaterThan(1000);

    await sendFromEach(clients, stats, listener, (i) => Buffer.from(`from a privileged port #${i}`));
    expect(stats.sentDatagrams).toBe(0);
    expect(stats.errors.reserved_source_port).toBe(clients.length);
    await stillEchoes(port);
    expect(stats.sentDatagrams).toBe(1);
    expect(clients.filter((client) => client.inbox.length > 0).map((client) => client.address.port)).toEqual([]);
    expect(stats.errors).toMatchObject({ loop: 0, rate_limited: 0, send_failed: 0 });
  });

  it('drops datagrams from the reflection ports above 1023 (SSDP, mDNS, memcached, ...)', async () => {
    const { listener, stats, port } = await startListener();
    const clients: UdpClient[] = [];
    for (const source of Object.keys(REFLECTION_PORTS).map(Number)) {
      const client = await clientFrom(port, source);
      if (client) clients.push(client);
    }
    expect(clients.length).toBeGreaterThanOrEqual(Object.keys(REFLECTION_PORTS).length - 2);
    await sendFromEach(clients, stats, listener, () => Buffer.from('M-SEARCH * HTTP/1.1\r\n'));
    expect(stats.sentDatagrams).toBe(0);
    expect(stats.errors.reserved_source_port).toBe(clients.length);
    await stillEchoes(port);
  });

  it('echoes clients byte-exact from unprivileged ports next to the refused ones and across every ephemeral range', async () => {
    const { listener, stats, port } = await startListener();
    const sources = [1024, 1025, 1433, 1435, 1899, 1901, 5352, 5354, 11210, 11212, 32413, 32415, 32767, 32768, 40000, 49151, 49152, 60999, 61000, 65535];
    const clients: UdpClient[] = [];
    for (const source of sources) {
      const client = await clientFrom(port, source);
      if (client) clients.push(client);
    }
    expect(clients.length).toBeGreaterThanOrEqual(sources.length - 2);
    await sendFromEach(clients, stats, listener, (i) => patternedBytes(100 + i, i + 1));
    expect(stats.sentDatagrams).toBe(clients.length);
    for (const [i, client] of clients.entries()) expect((await client.next()).equals(patternedBytes(100 + i, i + 1)), `from port ${client.address.port}`).toBe(true);
    expect(stats.errors).toMatchObject({ loop: 0, reserved_source_port: 0, rate_limited: 0 });
  });

  it('refuses its own port number from another address: a replica on the same port cannot be made to ping-pong', async () => {
    const { listener, stats, port } = await startListener();
    // The "replica": a socket on the listener's port at another address that answers whatever it gets
    // (at most 1000 times). Without the check the two answer each other until the cap.
    const replica = await clientFrom(port, port, '127.0.0.2');
    if (!replica) throw new Error(`127.0.0.2:${port} is taken`);
    let answered = 0;
    replica.socket.on('message', (data, from) => {
      if (answered++ < 1000) replica.socket.send(data, from.port, from.address);
    });
    await sendFromEach([replica], stats, listener, () => Buffer.from('ping'));
    await stillEchoes(port);
    expect(answered).toBe(0);
    expect(stats.receivedDatagrams).toBe(2); // the ping and the probe; nothing came back around
    expect(stats.errors.loop).toBe(1);
  });

  it('shares one table between the listeners of a process: a peer on another listener\'s port is refused too', async () => {
    const policy = createSourcePortPolicy();
    const a = await startListener({ sourcePorts: policy });
    const b = await startListener({ sourcePorts: policy });
    const fromA = await clientFrom(b.port, a.port, '127.0.0.2');
    if (!fromA) throw new Error(`127.0.0.2:${a.port} is taken`);
    await sendFromEach([fromA], b.stats, b.listener, () => Buffer.from('from the port of listener a'));
    expect(b.stats.sentDatagrams).toBe(0);
    expect(b.stats.errors.loop).toBe(1);
    await stillEchoes(b.port);
  });

  it('refuses privileged ports on udp6 (::1) and on a dual-stack socket (IPv4-mapped sources)', async (context) => {
    if (!(await canBindPrivileged())) context.skip();
    if (!(await canBindUdp6())) context.skip();
    const { listener, stats, port } = await startListener({ host: '::' });
    const fromV6 = await clientFrom(port, 19, '::1', '::1');
    const fromV4 = await clientFrom(port, 19, SENDER_HOST, '127.0.0.1');
    const clients = [fromV6, fromV4].filter((client): client is UdpClient => client !== undefined);
    expect(clients).toHaveLength(2);
    await sendFromEach(clients, stats, listener, () => Buffer.from('chargen says hello'));
    expect(stats.sentDatagrams).toBe(0);
    expect(stats.errors.reserved_source_port).toBe(2);
  });

  it('logs a refusal at debug, at most once per interval, with the count it did not log', async () => {
    let clock = 1_000_000;
    const { logger, lines } = capturingLogger('debug');
    const { listener, stats, port } = await startListener({ logger, now: () => clock, warnIntervalMs: 10_000 });
    const peer = await clientFrom(port, 1900);
    if (!peer) throw new Error('port 1900 is taken');
    for (let i = 0; i < 3; i++) await sendFromEach([peer], stats, listener, () => Buffer.from('x'));
    clock += 10_000;
    await sendFromEach([peer], stats, listener, () => Buffer.from('y'));
    const refusals = lines.filter((line) => line.event === 'udp_source_refused');
    expect(refusals).toMatchObject([
      { level: 20, reason: 'reserved_source_port', source: { address: SENDER_HOST, port: 1900 }, notLoggedSinceLastRefusal: 0 },
      { level: 20, reason: 'reserved_source_port', notLoggedSinceLastRefusal: 2 },
    ]);
    expect(lines.filter((line) => (line.level as number) > 20)).toEqual([]);
  });
});

describe('per-source rate limit', () => {
  it('echoes a burst, then the rate, per source; drops and counts the rest; another source keeps its own bucket', async () => {
    let clock = 0;
    const sourceRate = createSourceRateLimiter({ ratePerSecond: 10, burst: 5, now: () => clock, seed: 1 });
    expect(sourceRate.bucketOf('127.0.0.1')).not.toBe(sourceRate.bucketOf('127.0.0.2'));
    const { listener, stats, port } = await startListener({ sourceRate });
    const busy = await udp.client(port);
    const other = await udp.client(port, { host: '127.0.0.2', serverHost: '127.0.0.1' });

    await sendFromEach(Array.from({ length: 20 }, () => busy), stats, listener, (i) => Buffer.from(`burst ${i}`));
    expect(stats.sentDatagrams).toBe(5);
    expect(stats.errors.rate_limited).toBe(15);
    const firstFive = [];
    for (let i = 0; i < 5; i++) firstFive.push((await busy.next()).toString());
    expect(firstFive).toEqual(['burst 0', 'burst 1', 'burst 2', 'burst 3', 'burst 4']);

    const fromOther = Buffer.from('another source is not limited by the busy one');
    expect((await other.exchange(fromOther)).equals(fromOther)).toBe(true);

    clock += 300; // 3 tokens back at 10/s
    await sendFromEach(Array.from({ length: 5 }, () => busy), stats, listener, (i) => Buffer.from(`later ${i}`));
    expect(stats.sentDatagrams).toBe(5 + 1 + 3);
    clock += 60_000; // a long quiet spell refills only up to the burst
    await sendFromEach(Array.from({ length: 8 }, () => busy), stats, listener, (i) => Buffer.from(`after quiet ${i}`));
    expect(stats.sentDatagrams).toBe(9 + 5);
    expect(stats.errors.rate_limited).toBe(15 + 2 + 3);
  });

  it('refused and oversize datagrams take no token', async () => {
    const clock = 0;
    const sourceRate = createSourceRateLimiter({ ratePerSecond: 1, burst: 2, now: () => clock });
    const { listener, stats, port } = await startListener({ sourceRate, maxDatagramBytes: 10 });
    const client = await udp.client(port, { host: SENDER_HOST, serverHost: '127.0.0.1' });
    const reflector = await clientFrom(port, 5353);
    if (!reflector) throw new Error('port 5353 is taken');
    await sendFromEach([reflector, reflector, client, client, client], stats, listener, (i) => Buffer.alloc(i === 2 ? 11 : 1));
    expect(stats.errors).toMatchObject({ reserved_source_port: 2, oversize: 1, rate_limited: 0 });
    expect(stats.sentDatagrams).toBe(2);
  });

  it('bounds a ping-pong with an echo on a port it cannot know, which then dies out (real clock)', async () => {
    const sourceRate = createSourceRateLimiter({ ratePerSecond: 200, burst: 20 });
    const { listener, stats, port } = await startListener({ sourceRate });
    // A foreign echo service on an ordinary port: answers everything, up to 100,000 times.
    const foreign = await udp.client(port, { host: '127.0.0.2', serverHost: '127.0.0.1' });
    let answered = 0;
    foreign.socket.on('message', (data, from) => {
      if (answered++ < 100_000) foreign.socket.send(data, from.port, from.address);
    });
    const startedAt = performance.now();
    for (let i = 0; i < 50; i++) await foreign.send(Buffer.from(`spoofed ${i}`)); // 50 datagrams set going
    // Over when nothing is in flight: everything the foreign echo sent was read, everything the listener
    // echoed came back to it, and every datagram read was either echoed or dropped.
    await waitFor(
      () => stats.receivedDatagrams === 50 + answered && answered === stats.sentDatagrams && stats.sentDatagrams + stats.errors.rate_limited === stats.receivedDatagrams && listener.queuedSends === 0,
      { what: 'the exchange to end', timeoutMs: 20_000 },
    );
    const elapsedSeconds = (performance.now() - startedAt) / 1000;
    // Every echo took a token: at most the burst plus the rate for the time it went on. A datagram dies
    // the first time it finds the bucket empty, and on loopback it comes back far faster than a token.
    expect(stats.sentDatagrams).toBeLessThanOrEqual(20 + Math.ceil(200 * elapsedSeconds));
    expect(stats.errors.rate_limited).toBeGreaterThanOrEqual(50);
  });
});
