// Several listeners in one service (ECHO_LISTENERS): plain TCP, PROXY protocol, TLS, TLS behind
// PROXY, and UDP, each echoing, each with its own `listener` label; plus the banner and SIGHUP reload.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { collectUntilEnd, echoRoundTrip, openClient, patternedBytes } from '../../support/echo-client.js';
import { httpRequest, listenerPorts, sample, scrape } from '../../support/metrics.js';
import { spawnService, type ServiceProcess } from '../../support/process.js';
import { startService, type RunningService, activeConnections } from '../../support/service.js';
import { freePort } from '../../support/ports.js';
import { toolAvailable } from '../../support/tools.js';
import { waitFor, within } from '../../support/wait.js';
import { inet4Block, v1Header, v2Header } from '../../support/proxy-encode.js';
import { createTestPki, type TestPki } from '../../support/certs.js';

const haveOpenssl = toolAvailable('openssl', 'openssl');
const haveHaproxy = toolAvailable('haproxy', 'haproxy');

/** Sends through TLS (optionally after a PROXY header on the raw socket), half-closes, returns the echo. */
async function tlsRoundTrip(port: number, ca: Buffer | string, payload: Buffer, proxyHeader?: Buffer): Promise<{ echoed: Buffer; cn: unknown }> {
  let socket: TLSSocket;
  if (proxyHeader) {
    const raw = connect({ port, host: '127.0.0.1' });
    await once(raw, 'connect');
    raw.write(proxyHeader);
    socket = tlsConnect({ socket: raw, ca, servername: 'localhost' });
  } else {
    socket = tlsConnect({ port, host: '127.0.0.1', ca, servername: 'localhost' });
  }
  await once(socket, 'secureConnect');
  const cn = socket.getPeerCertificate().subject?.CN;
  const echoed = collectUntilEnd(socket as unknown as Socket);
  socket.end(payload);
  return { echoed: await echoed, cn };
}

describe.skipIf(!haveOpenssl)('ECHO_LISTENERS: every kind of listener in one service', () => {
  let pki: TestPki;
  let running: RunningService;
  let ports: Map<string, number>;
  let ca: string;

  beforeAll(async () => {
    pki = createTestPki();
    ca = readFileSync(pki.caFile, 'utf8');
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
    const { echoed, cn } = await tlsRoundTrip(ports.get('tls') as number, ca, payload);
    expect(cn).toBe('tcp-echo test server');
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
    const { echoed } = await tlsRoundTrip(port, ca, Buffer.from('still here'));
    expect(echoed.toString()).toBe('still here');
  });

  it('tls: openssl s_client gets its line back', async () => {
    const port = ports.get('tls') as number;
    // s_client keeps the connection while stdin is open: wait for the echoed line, then end it.
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', pki.caFile, '-quiet', '-verify_return_error'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stdin.write('hello through openssl\n');
    try {
      await waitFor(() => output.includes('hello through openssl'), { timeoutMs: 10_000, what: 'the echo through openssl s_client' });
    } finally {
      child.kill();
    }
    expect(output).toContain('hello through openssl');
  });

  it('tls+proxy: the PROXY header comes first, then TLS; the echo is exact', async () => {
    const payload = patternedBytes(300_000, 4);
    const { echoed } = await tlsRoundTrip(ports.get('tls+proxy') as number, ca, payload, v1Header('TCP4', '192.0.2.1', '10.0.0.1', 1000, 7443));
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

describe('tcp+proxy during shutdown', () => {
  it('a client that closes before sending its PROXY header does not hold the drain until the deadline', async () => {
    const running = await startService({ ECHO_LISTENERS: 'tcp+proxy://127.0.0.1:0', SHUTDOWN_TIMEOUT_MS: '20000', SHUTDOWN_QUIET_MS: '50' });
    const port = (await listenerPorts(running.httpPort)).get('tcp+proxy') as number;
    const probe = await openClient(port);
    await waitFor(() => activeConnections(running.service) === 1 || undefined, { what: 'the probe accepted' });
    const stopped = running.stop();
    probe.end(); // a balancer's bare TCP check: connect, then FIN without a byte
    await within(stopped, 5000, 'shutdown after the probe left (the deadline is 20 s)');
  });
});

describe('ECHO_LISTENERS validation', () => {
  it('a bad entry or a tls listener without a certificate is a one-line configuration error (exit 2)', async () => {
    const { runToExit } = await import('../../support/process.js');
    for (const [env, pattern] of [
      [{ ECHO_LISTENERS: 'tcp://127.0.0.1:0,sctp://127.0.0.1:7' }, /ECHO_LISTENERS=.*entry "sctp:\/\/127\.0\.0\.1:7" is not scheme:\/\/host:port/],
      [{ ECHO_LISTENERS: 'tcp://127.0.0.1:70000' }, /ECHO_LISTENERS=.*port 0-65535/],
      [{ ECHO_LISTENERS: 'tls://127.0.0.1:0' }, /ECHO_TLS_CERT="": a tls listener needs a PEM certificate file/],
      [{ ECHO_LISTENERS: 'tls://127.0.0.1:0', ECHO_TLS_CERT: '/nonexistent/cert.pem', ECHO_TLS_KEY: '/nonexistent/key.pem' }, /invalid configuration: ECHO_TLS_CERT: .*\/nonexistent\/cert\.pem/],
      [{ ECHO_UDP_MAX_DATAGRAM_BYTES: '70000' }, /ECHO_UDP_MAX_DATAGRAM_BYTES="70000": an integer from 0/],
    ] as const) {
      const result = await runToExit({ env });
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(pattern);
    }
  });
});

describe('banner (ECHO_BANNER)', () => {
  let service: ServiceProcess;
  afterAll(async () => service?.ensureStopped());

  it('sends one line from the template on connect, then a byte-exact echo; the banner is not counted as echo', async () => {
    service = await spawnService({ env: { ECHO_BANNER: 'tcp-echo {pod_name}/{pod_namespace} on {listener} for {client_addr} env={env:EXTRA}', POD_NAME: 'pod-7', POD_NAMESPACE: 'ns-1', EXTRA: 'x1' } });
    const socket = await openClient(service.echoPort);
    const clientPort = socket.localPort;
    const received = collectUntilEnd(socket);
    socket.end('payload');
    const text = (await received).toString();
    const [banner, rest] = [text.slice(0, text.indexOf('\n')), text.slice(text.indexOf('\n') + 1)];
    expect(banner).toBe(`tcp-echo pod-7/ns-1 on tcp://127.0.0.1:0 for 127.0.0.1:${clientPort} env=x1`);
    expect(rest).toBe('payload');
    const samples = await waitFor(async () => {
      const s = await scrape(service.httpPort);
      return sample(s, 'echo_connections_active') === 0 ? s : undefined;
    });
    expect(sample(samples, 'echo_received_bytes_total')).toBe(7);
    expect(sample(samples, 'echo_sent_bytes_total')).toBe(7);
  });
});

describe.skipIf(!haveOpenssl)('SIGHUP reloads the TLS certificate without dropping connections', () => {
  let service: ServiceProcess;
  let pki: TestPki;
  afterAll(async () => {
    await service?.ensureStopped();
    pki?.cleanup();
  });

  it('an open connection keeps echoing; new handshakes get the new certificate', async () => {
    pki = createTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'tcp-echo-reload-'));
    const certFile = join(dir, 'server.crt');
    const keyFile = join(dir, 'server.key');
    copyFileSync(pki.server.certFile, certFile);
    copyFileSync(pki.server.keyFile, keyFile);
    service = await spawnService({ env: { ECHO_LISTENERS: 'tls://127.0.0.1:0', ECHO_TLS_CERT: certFile, ECHO_TLS_KEY: keyFile } });
    const port = (await listenerPorts(service.httpPort)).get('tls') as number;

    const ca = readFileSync(pki.caFile, 'utf8');
    const open = tlsConnect({ port, host: '127.0.0.1', ca, servername: 'localhost' });
    await once(open, 'secureConnect');
    expect(open.getPeerCertificate().subject?.CN).toBe('tcp-echo test server');

    const next = pki.issue('server', 'tcp-echo renewed server');
    copyFileSync(next.certFile, certFile);
    copyFileSync(next.keyFile, keyFile);
    service.kill('SIGHUP');
    await waitFor(async () => sample(await scrape(service.httpPort), 'echo_tls_reloads_total{result="ok"}') === 1, { what: 'the reload' });

    const { cn } = await tlsRoundTrip(port, ca, Buffer.from('new'));
    expect(cn).toBe('tcp-echo renewed server');
    const echoed = collectUntilEnd(open as unknown as Socket);
    open.end('old connection still echoes');
    expect((await echoed).toString()).toBe('old connection still echoes');

    // A broken key keeps the current certificate.
    writeFileSync(keyFile, 'not a key');
    service.kill('SIGHUP');
    await waitFor(async () => sample(await scrape(service.httpPort), 'echo_tls_reloads_total{result="error"}') === 1, { what: 'the failed reload' });
    expect((await tlsRoundTrip(port, ca, Buffer.from('x'))).cn).toBe('tcp-echo renewed server');
    expect(service.child.exitCode).toBe(null);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe.skipIf(!haveHaproxy)('behind a real haproxy (send-proxy and send-proxy-v2) into the service', () => {
  it('echoes byte-exact through both, the header never echoed', async () => {
    const running = await startService({ ECHO_LISTENERS: 'tcp+proxy://127.0.0.1:0' });
    const echoPort = (await listenerPorts(running.httpPort)).get('tcp+proxy') as number;
    const [v1, v2] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'tcp-echo-haproxy-service-'));
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(
      config,
      ['defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
        `frontend v1`, `  bind 127.0.0.1:${v1}`, '  default_backend b1', 'backend b1', `  server s 127.0.0.1:${echoPort} send-proxy`,
        `frontend v2`, `  bind 127.0.0.1:${v2}`, '  default_backend b2', 'backend b2', `  server s 127.0.0.1:${echoPort} send-proxy-v2 check inter 200ms`, ''].join('\n'),
    );
    const haproxy = spawn('haproxy', ['-f', config, '-db'], { stdio: 'ignore' });
    try {
      for (const port of [v1, v2]) {
        const payload = patternedBytes(500_000, port);
        const echoed = await waitFor(async () => echoRoundTrip(port, payload), { timeoutMs: 10_000, what: `haproxy on ${port}` });
        expect(echoed.equals(payload)).toBe(true);
      }
      const samples = await scrape(running.httpPort);
      // haproxy's v2 health checks arrive as LOCAL headers: accepted, never errors.
      expect(sample(samples, 'echo_proxy_protocol_errors_total')).toBe(0);
      expect(sample(samples, 'echo_received_bytes_total')).toBeGreaterThanOrEqual(1_000_000);
    } finally {
      haproxy.kill('SIGTERM');
      await once(haproxy, 'exit');
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
