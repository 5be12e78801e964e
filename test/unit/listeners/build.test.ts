// Several listeners in one service (ECHO_LISTENERS), built in this process: plain TCP, PROXY
// protocol, TLS, TLS behind PROXY, and UDP, each echoing, each with its own `listener` label. The
// banner and SIGHUP reload of the built service: test/service/listeners.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createTestPki, type TestPki } from '../../support/certs.js';
import { collectUntilEnd, echoRoundTrip, openClient, patternedBytes } from '../../support/echo-client.js';
import { httpRequest, listenerPorts, sample, scrape } from '../../support/metrics.js';
import { inet4Block, v1Header, v2Header } from '../../support/proxy-encode.js';
import { startService, type RunningService } from '../../support/service.js';
import { tlsRoundTrip } from '../../support/tls.js';
import { waitFor, within } from '../../support/wait.js';

describe('ECHO_LISTENERS: every kind of listener in one service', () => {
  let pki: TestPki;
  let running: RunningService;
  let ports: Map<string, number>;

  beforeAll(async () => {
    pki = await createTestPki();
    running = await startService({
      ECHO_LISTENERS: 'tcp://127.0.0.1:0,tcp+proxy://127.0.0.1:0,tls://127.0.0.1:0,tls+proxy://127.0.0.1:0,udp://127.0.0.1:0',
      ECHO_TLS_CERT: pki.server.certFile,
      ECHO_TLS_KEY: pki.server.keyFile,
      ECHO_PROXY_TIMEOUT_MS: '300',
    });
    ports = await listenerPorts(running.httpPort);
  });
  afterAll(async () => {
    await running?.stop();
    pki?.cleanup();
  });

  it('is ready only with every listener accepting, and lists each in /healthz', async () => {
    expect((await httpRequest(running.httpPort, '/readyz')).status).toBe(200);
    expect([...ports.keys()].sort()).toEqual(['tcp', 'tcp+proxy', 'tls', 'tls+proxy', 'udp']);
    for (const port of ports.values()) expect(port).toBeGreaterThan(0);
  });

  it('labels every echo series with its listener from the first scrape', async () => {
    const samples = await scrape(running.httpPort);
    for (const name of ['tcp://127.0.0.1:0', 'tcp+proxy://127.0.0.1:0', 'tls://127.0.0.1:0', 'tls+proxy://127.0.0.1:0']) {
      expect(samples.has(`echo_connections_active{listener="${name}"}`), name).toBe(true);
      expect(samples.has(`echo_connections_closed_total{listener="${name}",reason="client_end"}`), name).toBe(true);
    }
    expect(samples.has('echo_udp_received_bytes_total{listener="udp://127.0.0.1:0"}')).toBe(true);
    expect(samples.has('echo_proxy_protocol_errors_total{listener="tcp+proxy://127.0.0.1:0",reason="malformed"}')).toBe(true);
    expect(samples.has('echo_tls_handshake_failures_total{listener="tls://127.0.0.1:0",reason="handshake_failed"}')).toBe(true);
  });

  it('tcp: byte-exact echo', async () => {
    const payload = patternedBytes(200_000, 1);
    expect((await echoRoundTrip(ports.get('tcp') as number, payload)).equals(payload)).toBe(true);
  });

  it('tcp+proxy: v1 and v2 headers are read, never echoed, and not counted as received', async () => {
    const port = ports.get('tcp+proxy') as number;
    const before = sample(await scrape(running.httpPort), 'echo_received_bytes_total{listener="tcp+proxy://127.0.0.1:0"}');
    const payload = patternedBytes(100_000, 2);
    for (const header of [
      v1Header('TCP4', '203.0.113.7', '10.0.0.1', 41234, 7000),
      v2Header({ command: 'proxy', familyProtocol: 0x11, addresses: inet4Block('198.51.100.9', '10.0.0.1', 5555, 7000) }),
    ]) {
      const socket = await openClient(port);
      const echoed = collectUntilEnd(socket);
      socket.write(header);
      socket.end(payload);
      expect((await echoed).equals(payload)).toBe(true);
    }
    const samples = await waitFor(async () => {
      const s = await scrape(running.httpPort);
      return sample(s, 'echo_connections_active{listener="tcp+proxy://127.0.0.1:0"}') === 0 ? s : undefined;
    });
    expect(sample(samples, 'echo_received_bytes_total{listener="tcp+proxy://127.0.0.1:0"}') - before).toBe(2 * payload.length);
  });

  it('tcp+proxy: a missing or malformed header closes the connection and is counted; a bare probe is not', async () => {
    const port = ports.get('tcp+proxy') as number;
    const key = (reason: string) => `echo_proxy_protocol_errors_total{listener="tcp+proxy://127.0.0.1:0",reason="${reason}"}`;
    const before = await scrape(running.httpPort);
    const garbage = await openClient(port);
    garbage.on('error', () => undefined);
    garbage.write('GET / HTTP/1.1\r\n\r\n');
    await once(garbage, 'close');
    const silent = await openClient(port); // sends nothing: cut at ECHO_PROXY_TIMEOUT_MS
    silent.on('error', () => undefined);
    silent.resume();
    await within(once(silent, 'close'), 5000, 'the header deadline');
    const probe = await openClient(port);
    probe.destroy();
    await waitFor(async () => sample(await scrape(running.httpPort), 'echo_connections_active{listener="tcp+proxy://127.0.0.1:0"}') === 0);
    const after = await scrape(running.httpPort);
    expect(sample(after, key('malformed')) - sample(before, key('malformed'))).toBe(1);
    expect(sample(after, key('timeout')) - sample(before, key('timeout'))).toBe(1);
    expect(sample(after, key('closed')) - sample(before, key('closed'))).toBe(0);
  });

  it('tls: echo through Node TLS with the certificate verified', async () => {
    const payload = patternedBytes(1024 * 1024, 3);
    const { echoed, peerCN } = await tlsRoundTrip(ports.get('tls') as number, payload, { ca: pki.caFile, servername: 'localhost' });
    expect(peerCN).toBe('tcp-echo test server');
    expect(echoed.equals(payload)).toBe(true);
  });

  it('tls: a plaintext client is a counted handshake failure, and the listener keeps serving', async () => {
    const port = ports.get('tls') as number;
    const socket = await openClient(port);
    socket.on('error', () => undefined);
    socket.write('hello, not TLS\r\n');
    socket.resume();
    await within(once(socket, 'close'), 5000, 'the handshake failure');
    await waitFor(async () => sample(await scrape(running.httpPort), 'echo_tls_handshake_failures_total{listener="tls://127.0.0.1:0"}') >= 1);
    const { echoed } = await tlsRoundTrip(port, Buffer.from('still here'), { ca: pki.caFile, servername: 'localhost' });
    expect(echoed.toString()).toBe('still here');
  });

  it('tls+proxy: the PROXY header comes first, then TLS; the echo is exact', async () => {
    const payload = patternedBytes(300_000, 4);
    const { echoed } = await tlsRoundTrip(ports.get('tls+proxy') as number, payload, { ca: pki.caFile, servername: 'localhost', proxyHeader: v1Header('TCP4', '192.0.2.1', '10.0.0.1', 1000, 7443) });
    expect(echoed.equals(payload)).toBe(true);
    const samples = await waitFor(async () => {
      const s = await scrape(running.httpPort);
      return sample(s, 'echo_connections_active{listener="tls+proxy://127.0.0.1:0"}') === 0 ? s : undefined;
    });
    expect(sample(samples, 'echo_received_bytes_total{listener="tls+proxy://127.0.0.1:0"}')).toBe(payload.length);
    expect(sample(samples, 'echo_sent_bytes_total{listener="tls+proxy://127.0.0.1:0"}')).toBe(payload.length);
  });

  it('udp: each datagram comes back to its sender, counted under its listener', async () => {
    const client = createSocket('udp4');
    const replies: Buffer[] = [];
    client.on('message', (message) => replies.push(message));
    const datagrams = [Buffer.alloc(0), Buffer.from('one'), patternedBytes(1400, 5)];
    for (const datagram of datagrams) {
      client.send(datagram, ports.get('udp') as number, '127.0.0.1');
      const expected = replies.length + 1;
      await waitFor(() => replies.length >= expected, { what: 'the UDP echo' });
    }
    client.close();
    replies.forEach((reply, i) => expect(reply.equals(datagrams[i] as Buffer)).toBe(true));
    const samples = await scrape(running.httpPort);
    expect(sample(samples, 'echo_udp_datagrams_total{listener="udp://127.0.0.1:0",direction="received"}')).toBe(3);
    expect(sample(samples, 'echo_udp_sent_bytes_total{listener="udp://127.0.0.1:0"}')).toBe(1403);
  });
});

