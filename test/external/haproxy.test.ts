/**
 * A real PROXY protocol sender in front: Debian's haproxy with `send-proxy` (v1) and
 * `send-proxy-v2` (with TLVs, and LOCAL health checks), with readProxyHeader behind it, and with
 * the service's tcp+proxy listener behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { V2_SIGNATURE } from '../../src/proxy/parse.js';
import { createTestPki, type TestPki } from '../support/certs.js';
import { capturingLogger } from '../support/logger.js';
import { collectUntilEnd, connectOutcome, echoRoundTrip, openClient, patternedBytes, readExactly } from '../support/echo-client.js';
import { listenerPorts, sample, scrape } from '../support/metrics.js';
import { freePort } from '../support/ports.js';
import { startProxyEchoServer, type Accepted, type ProxyEchoServer } from '../support/proxy-echo-server.js';
import { startService, type RunningService } from '../support/service.js';
import { toolAvailable } from '../support/tools.js';
import { waitFor, within } from '../support/wait.js';

const haveHaproxy = toolAvailable('haproxy', 'haproxy');

interface Haproxy {
  /** The frontend ports, as `config` was given them. */
  ports: { v1: number; v2: number };
  stop(): Promise<void>;
}

/**
 * haproxy with the configuration `config` writes for two frontend ports, once both listen. The
 * ports are picked free (haproxy cannot report an ephemeral one); another process can take one
 * first, and then haproxy exits at start: it is tried again with new ones.
 */
async function startHaproxy(config: (ports: { v1: number; v2: number }) => string[]): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'tcp-echo-haproxy-'));
  const file = join(dir, 'haproxy.cfg');
  for (let attempt = 1; ; attempt++) {
    const ports = { v1: await freePort(), v2: await freePort() };
    writeFileSync(file, [...config(ports), ''].join('\n'));
    let output = '';
    const child: ChildProcess = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (output += text));
    let gone = false;
    const exited = once(child, 'exit').then(() => (gone = true));
    const listening = async (port: number) => (await connectOutcome(port)) === 'connected';
    try {
      await waitFor(async () => gone || ((await listening(ports.v1)) && (await listening(ports.v2))), { timeoutMs: 10_000, what: 'haproxy to listen' });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${String(error)}; haproxy said: ${output}`, { cause: error });
    }
    if (!gone) {
      return {
        ports,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            try {
              await within(exited, 5000, 'haproxy to stop');
            } catch {
              child.kill('SIGKILL');
              await within(exited, 5000, 'haproxy to die');
            }
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    // lost the race for a port to another process: try again with new ones
    if (attempt >= 3) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`haproxy exited at start: ${output}`);
    }
  }
}

function sourcePort(record: Accepted): number | undefined {
  return record.header.family === 'inet4' || record.header.family === 'inet6' ? record.header.source.port : undefined;
}

describe.skipIf(!haveHaproxy)('behind haproxy (send-proxy, send-proxy-v2)', () => {
  let echo: ProxyEchoServer;
  let haproxy: Haproxy | undefined;
  const ports = { v1: 0, v2: 0 };

  beforeAll(async () => {
    echo = await startProxyEchoServer({ timeoutMs: 5000 });
    haproxy = await startHaproxy(({ v1, v2 }) => [
      'global',
      '  maxconn 512',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend fe_v1',
      `  bind 127.0.0.1:${v1}`,
      '  default_backend be_v1',
      'backend be_v1',
      `  server s1 127.0.0.1:${echo.port} send-proxy`,
      'frontend fe_v2',
      `  bind 127.0.0.1:${v2}`,
      '  unique-id-format %ci:%cp',
      '  default_backend be_v2',
      'backend be_v2',
      // health checks on a send-proxy-v2 server carry the v2 LOCAL command
      `  server s1 127.0.0.1:${echo.port} send-proxy-v2 proxy-v2-options crc32c,unique-id check inter 200ms`,
    ]);
    Object.assign(ports, haproxy.ports);
  });

  afterAll(async () => {
    await haproxy?.stop();
    await echo?.close();
  });

  /** One client through a frontend: send, half-close, return the echo and the client's own address. */
  async function through(port: number, payload: Buffer) {
    const client = await openClient(port);
    const local = { address: client.localAddress, port: client.localPort };
    const echoed = collectUntilEnd(client);
    for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
      if (!client.write(payload.subarray(offset, offset + 64 * 1024))) await once(client, 'drain');
    }
    client.end();
    const result = await within(echoed, 30_000, `echo through haproxy port ${port}`);
    client.destroy();
    // The newest with that source port: an earlier test's client may have had the same ephemeral port.
    const record = await waitFor(() => echo.accepted.findLast((a) => sourcePort(a) === local.port), { what: `the header for client port ${local.port}` });
    return { echoed: result, local, record };
  }

  // payloads that look like headers themselves must come back untouched: only the first header is parsed
  const payloads: Array<[string, Buffer]> = [
    ['a line of text', Buffer.from('hello through haproxy\n')],
    ['all 256 byte values', Buffer.from(Array.from({ length: 1024 }, (_, i) => i & 0xff))],
    ['a v1 header as payload', Buffer.from('PROXY TCP4 6.6.6.6 7.7.7.7 1 2\r\nafter')],
    ['the v2 signature as payload', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 12]), Buffer.alloc(12, 1)])],
    ['1 MiB', patternedBytes(1024 * 1024, 42)],
  ];

  for (const version of ['v1', 'v2'] as const) {
    describe(version === 'v1' ? 'send-proxy (v1 text)' : 'send-proxy-v2 (binary)', () => {
      it.each(payloads)('%s: echoed byte-exact, header never echoed, source = the client socket', async (_name, payload) => {
        const { echoed, local, record } = await through(ports[version], payload);
        expect(echoed.length).toBe(payload.length);
        expect(echoed.equals(payload)).toBe(true);
        expect(record.header.version).toBe(version === 'v1' ? 1 : 2);
        expect(record.header.command).toBe('proxy');
        expect(record.header.family).toBe('inet4');
        expect(record.header.transport).toBe('stream');
        expect(record.header.source).toEqual({ address: local.address, port: local.port });
        expect(record.header.destination).toEqual({ address: '127.0.0.1', port: ports[version] });
        // the echo server's own peer is haproxy, not the client: the address came from the header
        expect(record.peer.port).not.toBe(local.port);
      });

      it('30 concurrent clients, each attributed to its own source port', async () => {
        const sessions = await Promise.all(Array.from({ length: 30 }, (_, i) => through(ports[version], patternedBytes(2000 + i * 101, i + 5))));
        sessions.forEach(({ echoed, local, record }, i) => {
          expect(echoed.equals(patternedBytes(2000 + i * 101, i + 5)), `client ${i}`).toBe(true);
          expect(record.header.source).toEqual({ address: local.address, port: local.port });
        });
      });

      it('an empty session: connect, half-close, EOF with no bytes', async () => {
        const { echoed, local, record } = await through(ports[version], Buffer.alloc(0));
        expect(echoed.length).toBe(0);
        expect(record.header.source).toEqual({ address: local.address, port: local.port });
      });
    });
  }

  it('v2 carries haproxy\'s TLVs (CRC32C, UNIQUE_ID): the checksum verified, the ID decoded, both kept raw', async () => {
    const { record, local } = await through(ports.v2, Buffer.from('tlv'));
    const types = record.header.tlvs.map((tlv) => tlv.type);
    expect(types).toContain(0x03); // PP2_TYPE_CRC32C
    const uniqueId = record.header.tlvs.find((tlv) => tlv.type === 0x05); // PP2_TYPE_UNIQUE_ID
    expect(uniqueId?.value.toString()).toBe(`${local.address}:${local.port}`);
    expect(record.header.details).toEqual({ crc32c: true, uniqueId: `${local.address}:${local.port}` });
  });

  it('haproxy\'s health checks arrive as v2 LOCAL and are accepted', async () => {
    const local = await waitFor(() => echo.accepted.find((a) => a.header.command === 'local'), { timeoutMs: 10_000, what: 'a LOCAL health check from haproxy' });
    expect(local.header).toMatchObject({ version: 2, family: 'unspec', source: undefined, destination: undefined });
  });

  it('no header was refused along the way', () => {
    expect(echo.failures.map((failure) => failure.message)).toEqual([]);
  });
});

describe.skipIf(!haveHaproxy)('behind a real haproxy (send-proxy and send-proxy-v2) into the service', () => {
  it('echoes byte-exact through both, the header never echoed', async () => {
    const running = await startService({ ECHO_LISTENERS: 'tcp+proxy://127.0.0.1:0' });
    const echoPort = (await listenerPorts(running.httpPort)).get('tcp+proxy') as number;
    let haproxy: Haproxy | undefined;
    try {
      haproxy = await startHaproxy(({ v1, v2 }) => [
        'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
        'frontend v1', `  bind 127.0.0.1:${v1}`, '  default_backend b1', 'backend b1', `  server s 127.0.0.1:${echoPort} send-proxy`,
        'frontend v2', `  bind 127.0.0.1:${v2}`, '  default_backend b2', 'backend b2', `  server s 127.0.0.1:${echoPort} send-proxy-v2 check inter 200ms`,
      ]);
      for (const port of [haproxy.ports.v1, haproxy.ports.v2]) {
        const payload = patternedBytes(500_000, port);
        const echoed = await waitFor(async () => echoRoundTrip(port, payload), { timeoutMs: 10_000, what: `haproxy on ${port}` });
        expect(echoed.equals(payload)).toBe(true);
      }
      const samples = await scrape(running.httpPort);
      // haproxy's v2 health checks arrive as LOCAL headers: accepted, never errors.
      expect(sample(samples, 'echo_proxy_protocol_errors_total')).toBe(0);
      expect(sample(samples, 'echo_received_bytes_total')).toBeGreaterThanOrEqual(1_000_000);
    } finally {
      await haproxy?.stop();
      await running.stop();
    }
  });
});

describe.skipIf(!haveHaproxy)('haproxy terminating TLS, its PROXY v2 TLVs in the service\'s banner and debug log', () => {
  // haproxy 2.6's names: `cert-cn` is the client certificate's CN (PP2_SUBTYPE_SSL_CN), `cert-sig` and
  // `cert-key` describe haproxy's own certificate.
  const OPTIONS = 'crc32c,unique-id,authority,ssl,cert-cn,ssl-cipher,cert-sig,cert-key';
  const BANNER = 'from {client_addr} sni={proxy_authority} alpn={proxy_alpn} id={proxy_unique_id} tls={proxy_ssl_version} cn={proxy_ssl_cn} cipher={proxy_ssl_cipher}';
  const { logger, lines } = capturingLogger('debug');
  let pki: TestPki;
  let running: RunningService | undefined;
  let haproxy: Haproxy | undefined;

  beforeAll(async () => {
    pki = await createTestPki();
    // haproxy's `crt` takes the certificate and its key in one file
    const crt = join(pki.dir, 'haproxy.pem');
    writeFileSync(crt, readFileSync(pki.server.certFile, 'utf8') + readFileSync(pki.server.keyFile, 'utf8'));
    running = await startService({ ECHO_LISTENERS: 'tcp+proxy://127.0.0.1:0', ECHO_BANNER: BANNER, LOG_LEVEL: 'debug' }, logger);
    const echoPort = (await listenerPorts(running.httpPort)).get('tcp+proxy') as number;
    haproxy = await startHaproxy(({ v1, v2 }) => [
      'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
      // `v1` here: a TLS frontend (client certificates optional) ...
      'frontend fe_tls', `  bind 127.0.0.1:${v1} ssl crt ${crt} ca-file ${pki.caFile} verify optional alpn echo-test,http/1.1`,
      '  unique-id-format tls-%ci:%cp', '  default_backend be_tls',
      'backend be_tls', `  server s 127.0.0.1:${echoPort} send-proxy-v2 proxy-v2-options ${OPTIONS}`,
      // ... `v2`: plain TCP, so no TLS details to send
      'frontend fe_plain', `  bind 127.0.0.1:${v2}`, '  unique-id-format tcp-%ci:%cp', '  default_backend be_plain',
      'backend be_plain', `  server s 127.0.0.1:${echoPort} send-proxy-v2 proxy-v2-options ${OPTIONS}`,
    ]);
  });
  afterAll(async () => {
    await haproxy?.stop();
    await running?.stop();
    pki?.cleanup();
  });

  /** A TLS client of haproxy's TLS frontend; the CA checks haproxy's certificate (issued for localhost, whatever the SNI). */
  async function tlsClient(servername: string, withCertificate: boolean): Promise<TLSSocket> {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: haproxy?.ports.v1 as number,
      servername,
      ca: readFileSync(pki.caFile),
      checkServerIdentity: () => undefined,
      ALPNProtocols: ['echo-test'],
      ...(withCertificate ? { cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) } : {}),
    });
    await within(Promise.race([once(socket, 'secureConnect'), once(socket, 'error').then(([error]) => Promise.reject(error as Error))]), 10_000, 'TLS handshake with haproxy');
    return socket;
  }

  /** The banner line, then a round trip to show the echo behind it is intact. */
  async function bannerAndEcho(socket: TLSSocket | Awaited<ReturnType<typeof openClient>>): Promise<string> {
    const received: Buffer[] = [];
    const newline = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        received.push(chunk);
        if (chunk.includes(0x0a)) {
          socket.off('data', onData);
          resolve();
        }
      };
      socket.on('data', onData);
    });
    await within(newline, 10_000, 'the banner through haproxy');
    const text = Buffer.concat(received).toString('latin1');
    const banner = text.slice(0, text.indexOf('\n'));
    expect(text.slice(banner.length + 1)).toBe('');
    socket.write('echo me\n');
    expect((await readExactly(socket, 8, 10_000, 'the echo')).toString()).toBe('echo me\n');
    socket.destroy();
    return banner;
  }

  const openedFor = (remote: string) => waitFor(() => lines.find((line) => line.event === 'connection_opened' && line.remote === remote), { what: `connection_opened for ${remote}` });

  it('SNI, ALPN, unique ID, TLS version, cipher and client certificate CN: in the banner and the log, the CRC32C verified', async () => {
    const socket = await tlsClient('sni.echo.test', true);
    const client = `${socket.localAddress}:${socket.localPort}`;
    const cipher = socket.getCipher().standardName;
    const version = socket.getProtocol();
    const banner = await bannerAndEcho(socket);
    expect(banner).toBe(`from ${client} sni=sni.echo.test alpn=echo-test id=tls-${client} tls=${version} cn=${pki.client.cn} cipher=${cipher}`);
    const line = await openedFor(client);
    expect(line.proxy).toMatchObject({
      crc32c: true,
      authority: 'sni.echo.test',
      alpn: 'echo-test',
      uniqueId: `tls-${client}`,
      ssl: { clientSsl: true, clientCertConnection: true, clientCertSession: true, verify: 0, version, cn: pki.client.cn, cipher },
    });
    // haproxy's own certificate: ECDSA P-256 signed with SHA-256
    expect(line.proxy).toMatchObject({ ssl: { sigAlg: expect.stringMatching(/SHA256/i), keyAlg: expect.stringMatching(/^EC/) } });
  });

  it('a TLS client without a certificate: no CN, the flags say so; another SNI', async () => {
    const socket = await tlsClient('other.echo.test', false);
    const client = `${socket.localAddress}:${socket.localPort}`;
    const banner = await bannerAndEcho(socket);
    expect(banner).toMatch(new RegExp(`^from ${client} sni=other\\.echo\\.test alpn=echo-test id=tls-${client} tls=TLSv1\\.[23] cn= cipher=\\S+$`));
    const line = await openedFor(client);
    expect(line.proxy).toMatchObject({ crc32c: true, authority: 'other.echo.test', ssl: { clientSsl: true, clientCertConnection: false, clientCertSession: false } });
    expect((line.proxy as { ssl: object }).ssl).not.toHaveProperty('cn');
  });

  it('plain TCP through haproxy: the unique ID and the checksum; the SSL TLV says "not TLS"', async () => {
    const socket = await openClient(haproxy?.ports.v2 as number);
    const client = `${socket.localAddress}:${socket.localPort}`;
    const banner = await bannerAndEcho(socket);
    expect(banner).toBe(`from ${client} sni= alpn= id=tcp-${client} tls= cn= cipher=`);
    const line = await openedFor(client);
    // haproxy sends the SSL TLV whenever `ssl` is asked for: here with no flags and no sub-TLVs
    expect(line.proxy).toEqual({ crc32c: true, uniqueId: `tcp-${client}`, ssl: { clientSsl: false, clientCertConnection: false, clientCertSession: false, verify: 0 } });
  });

  it('no header was refused', async () => {
    expect(sample(await scrape(running?.httpPort as number), 'echo_proxy_protocol_errors_total')).toBe(0);
  });
});
