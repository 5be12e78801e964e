// The refused sources and the per-source rate limit through the built service (`node dist/main.js`,
// real child processes): the settings, the table of every port the process listens on (TCP, UDP, the
// sidecar), the metrics, one process and ECHO_WORKERS=2. Two replicas on the same port number, made
// to answer each other by a forged datagram: test/external/forged-datagrams.test.ts.
import { describe, expect, it } from 'vitest';
import { patternedBytes } from '../support/echo-client.js';
import { sample, scrape } from '../support/metrics.js';
import { distinctFreePorts } from '../support/ports.js';
import { runToExit, spawnServicesPerTest } from '../support/process.js';
import { pacedExchange, udpPerTest } from '../support/udp.js';
import { waitFor } from '../support/wait.js';

const spawnService = spawnServicesPerTest();
const start = (env: Record<string, string>) => spawnService({ env, startTimeoutMs: 20_000 });
const client = udpPerTest().client;

const errors = (listener: string, reason: string) => `echo_udp_errors_total{listener="${listener}",reason="${reason}"}`;
const datagrams = (listener: string, direction: string) => `echo_udp_datagrams_total{listener="${listener}",direction="${direction}"}`;
const REASONS = ['oversize', 'send_queue_full', 'send_failed', 'receive_failed', 'loop', 'reserved_source_port', 'rate_limited'];

describe.each([
  ['one process', {}],
  ['ECHO_WORKERS=2', { ECHO_WORKERS: '2' }],
])('the service (%s) never answers a port it listens on, a privileged or a reflection port', (_mode, extraEnv) => {
  it('refuses them (each counted), from any address, and still echoes ordinary clients byte-exact', async () => {
    const [tcpPort, udpA, udpB, httpPort] = (await distinctFreePorts(4)) as [number, number, number, number];
    const a = `udp://127.0.0.1:${udpA}`;
    const b = `udp://127.0.0.1:${udpB}`;
    const service = await start({ ...extraEnv, ECHO_LISTENERS: `tcp://127.0.0.1:${tcpPort},${a},${b}`, HTTP_PORT: String(httpPort) });

    const first = await scrape(service.httpPort);
    for (const listener of [a, b]) for (const reason of REASONS) expect(first.get(errors(listener, reason)), `${listener} ${reason} at 0`).toBe(0);

    // From other loopback addresses, so the kernel lets these bind the service's own port numbers.
    const loops = [
      { to: udpA, from: udpA, what: 'its own port' },
      { to: udpA, from: udpB, what: 'the other UDP listener' },
      { to: udpB, from: udpA, what: 'the other UDP listener' },
      { to: udpA, from: tcpPort, what: 'the TCP listener' },
      { to: udpB, from: httpPort, what: 'the sidecar' },
    ];
    const loopClients = [];
    for (const [i, { to, from }] of loops.entries()) {
      const peer = await client(to, { host: `127.0.0.${10 + i}`, port: from, serverHost: '127.0.0.1' });
      loopClients.push(peer);
      await peer.send(Buffer.from('loop?'));
    }
    const reserved = [11211, 1900, 5353];
    if (process.getuid?.() === 0) reserved.push(7, 19, 53, 123);
    else console.warn('not root: privileged source ports are not tried here (test/unit/udp/source-guard.test.ts tries them all as root)');
    const reservedClients = [];
    for (const from of reserved) {
      const peer = await client(udpB, { host: '127.0.0.3', port: from, serverHost: '127.0.0.1' });
      reservedClients.push(peer);
      await peer.send(Buffer.from('reflect me'));
    }

    const expected = { [a]: { loop: 3, reserved: 0 }, [b]: { loop: 2, reserved: reserved.length } };
    const samples = await waitFor(async () => {
      const s = await scrape(service.httpPort);
      return [a, b].every((l) => sample(s, datagrams(l, 'received')) === (expected[l]?.loop ?? 0) + (expected[l]?.reserved ?? 0)) ? s : undefined;
    }, { what: 'every datagram read', timeoutMs: 10_000 });
    for (const listener of [a, b]) expect(sample(samples, datagrams(listener, 'sent')), `${listener} answered nothing`).toBe(0);
    for (const listener of [a, b]) {
      expect(sample(samples, errors(listener, 'loop')), `${listener} loop`).toBe(expected[listener]?.loop);
      expect(sample(samples, errors(listener, 'reserved_source_port')), `${listener} reserved_source_port`).toBe(expected[listener]?.reserved);
    }

    for (const port of [udpA, udpB]) {
      const ordinary = await client(port);
      for (const size of [0, 1, 1400, 65_507]) {
        const payload = patternedBytes(size, size + port);
        expect((await ordinary.exchange(payload)).equals(payload), `${size} bytes on ${port}`).toBe(true);
      }
    }
    const after = await scrape(service.httpPort);
    for (const listener of [a, b]) expect(sample(after, datagrams(listener, 'sent'))).toBe(4);
    expect([...loopClients, ...reservedClients].filter((peer) => peer.inbox.length > 0)).toEqual([]);
  });
});

describe('ECHO_UDP_SOURCE_RATE', () => {
  it('bounds what one source gets back, counts the rest as rate_limited, and a ping-pong with a foreign echo dies out', async () => {
    const service = await start({ ECHO_LISTENERS: 'udp://127.0.0.1:0', ECHO_UDP_SOURCE_RATE: '100', ECHO_UDP_SOURCE_BURST: '10' });
    const listener = 'udp://127.0.0.1:0';
    const port = service.echoPort;
    // A foreign echo on an ordinary port (another echo service the listener cannot know): it answers
    // everything, at most 100,000 times.
    const foreign = await client(port, { host: '127.0.0.2', serverHost: '127.0.0.1' });
    let answered = 0;
    foreign.socket.on('message', (data, from) => {
      if (answered++ < 100_000) foreign.socket.send(data, from.port, from.address);
    });
    const startedAt = performance.now();
    for (let i = 0; i < 30; i++) await foreign.send(Buffer.from(`set going ${i}`));
    const samples = await waitFor(async () => {
      const s = await scrape(service.httpPort);
      const received = sample(s, datagrams(listener, 'received'));
      const sent = sample(s, datagrams(listener, 'sent'));
      // Over: everything the foreign echo sent was read, all the service sent came back to it, every datagram read is accounted for.
      return received === 30 + answered && sent === answered && sent + sample(s, errors(listener, 'rate_limited')) === received ? s : undefined;
    }, { what: 'the exchange to end', timeoutMs: 20_000 });
    const elapsedSeconds = (performance.now() - startedAt) / 1000;
    expect(sample(samples, datagrams(listener, 'sent'))).toBeLessThanOrEqual(10 + Math.ceil(100 * elapsedSeconds));
    expect(sample(samples, errors(listener, 'rate_limited'))).toBeGreaterThanOrEqual(30);
  });

  it('is off by default: 2,000 datagrams from one client in a burst of 64 are all echoed', async () => {
    const service = await start({ ECHO_LISTENERS: 'udp://127.0.0.1:0' });
    const result = await pacedExchange(await client(service.echoPort), 2000, { window: 64 });
    expect(result).toMatchObject({ received: 2000, wrong: 0 });
    expect(sample(await scrape(service.httpPort), errors('udp://127.0.0.1:0', 'rate_limited'))).toBe(0);
  });
});

describe('invalid rate settings exit 2 naming the setting, before anything listens', () => {
  it.each([
    [{ ECHO_UDP_SOURCE_RATE: '-1' }, [], 'ECHO_UDP_SOURCE_RATE="-1"', /datagrams per second from 0/],
    [{ ECHO_UDP_SOURCE_RATE: 'fast' }, [], 'ECHO_UDP_SOURCE_RATE="fast"', /datagrams per second from 0/],
    [{}, ['--udp-source-rate=10000001'], '--udp-source-rate="10000001"', /to 10000000/],
    [{ ECHO_UDP_SOURCE_BURST: '0' }, [], 'ECHO_UDP_SOURCE_BURST="0"', /from 1 to 10000000/],
    [{}, ['--udp-source-burst', '1.5'], '--udp-source-burst="1.5"', /from 1 to 10000000/],
  ])('%j %j', async (env, args, named, allowed) => {
    const result = await runToExit({ env: { ECHO_LISTENERS: 'udp://127.0.0.1:0', ...env }, args, timeoutMs: 5000 });
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: '' });
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(named);
    expect(lines[0]).toMatch(allowed);
  });
});
