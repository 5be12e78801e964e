// PROXY v2 TLVs through the whole service, built in this process: a tcp+proxy and a tls+proxy
// listener with an ECHO_BANNER of every proxy placeholder; what the balancer sent shows in the
// banner and in the debug `connection_opened` line, and a header with a bad CRC32C is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../../support/certs.js';
import { collectUntilEnd, openClient, readExactly } from '../../support/echo-client.js';
import { capturingLogger } from '../../support/logger.js';
import { listenerPorts, sample, scrape } from '../../support/metrics.js';
import { awsVpceValue, azureLinkIdValue, gcpPscValue, inet4Block, sslValue, v2Header, withCrc32c } from '../../support/proxy-encode.js';
import { startService, type RunningService } from '../../support/service.js';
import { openTls } from '../../support/tls.js';
import { waitFor, within } from '../../support/wait.js';

const BANNER =
  'echo for {client_addr} sni={proxy_authority} alpn={proxy_alpn} id={proxy_unique_id} tls={proxy_ssl_version} cn={proxy_ssl_cn} cipher={proxy_ssl_cipher} ' +
  'aws={proxy_aws_vpce_id} azure={proxy_azure_link_id} gcp={proxy_gcp_psc_id}';

const ascii = (text: string) => Buffer.from(text, 'latin1');

/** A v2 header from 203.0.113.50:`port` with every kind of TLV the service decodes, and a valid CRC32C. */
function fullHeader(port: number, authority = 'echo.example.com'): Buffer {
  return withCrc32c(
    v2Header({
      familyProtocol: 0x11,
      addresses: inet4Block('203.0.113.50', '10.0.0.1', port, 7000),
      tlvs: [
        { type: 0x03, value: Buffer.alloc(4) },
        { type: 0x01, value: ascii('h2') },
        { type: 0x02, value: Buffer.from(authority, 'utf8') },
        { type: 0x04, value: Buffer.alloc(3) },
        { type: 0x05, value: ascii(`uid-${port}`) },
        { type: 0x20, value: sslValue(0x07, 0, [[0x21, 'TLSv1.3'], [0x22, 'client-7'], [0x23, 'TLS_AES_256_GCM_SHA384'], [0x24, 'SHA256'], [0x25, 'EC256']]) },
        { type: 0x30, value: ascii('blue') },
        { type: 0xea, value: awsVpceValue('vpce-08d2bf15fac5001c9') },
        { type: 0xee, value: azureLinkIdValue(0x21000105) },
        { type: 0xe0, value: gcpPscValue(0x0123456789abcdefn) },
        { type: 0x99, value: ascii('unknown, kept raw') },
      ],
    }),
  );
}

const EXPECTED_DETAILS = (port: number) => ({
  crc32c: true,
  alpn: 'h2',
  authority: 'echo.example.com',
  uniqueId: `uid-${port}`,
  ssl: { clientSsl: true, clientCertConnection: true, clientCertSession: true, verify: 0, version: 'TLSv1.3', cn: 'client-7', cipher: 'TLS_AES_256_GCM_SHA384', sigAlg: 'SHA256', keyAlg: 'EC256' },
  netns: 'blue',
  awsVpceId: 'vpce-08d2bf15fac5001c9',
  azureLinkId: 0x21000105,
  gcpPscConnectionId: '81985529216486895',
});

const expectedBanner = (port: number) =>
  `echo for 203.0.113.50:${port} sni=echo.example.com alpn=h2 id=uid-${port} tls=TLSv1.3 cn=client-7 cipher=TLS_AES_256_GCM_SHA384 aws=vpce-08d2bf15fac5001c9 azure=553648389 gcp=81985529216486895\n`;

describe('PROXY v2 TLVs in the banner and the debug log (tcp+proxy, tls+proxy)', () => {
  let pki: TestPki;
  let running: RunningService;
  let ports: Map<string, number>;
  const { logger, lines } = capturingLogger('debug');
  const opened = (port: number) => lines.find((line) => line.event === 'connection_opened' && line.remote === `203.0.113.50:${port}`);

  beforeAll(async () => {
    pki = await createTestPki();
    running = await startService(
      {
        ECHO_LISTENERS: 'tcp+proxy://127.0.0.1:0,tls+proxy://127.0.0.1:0',
        ECHO_TLS_CERT: pki.server.certFile,
        ECHO_TLS_KEY: pki.server.keyFile,
        ECHO_BANNER: BANNER,
        LOG_LEVEL: 'debug',
      },
      logger,
    );
    ports = await listenerPorts(running.httpPort);
  });
  afterAll(async () => {
    await running?.stop();
    pki?.cleanup();
  });

  /** One session on tcp+proxy: header (and payload) sent, returns the banner line and the echo after it. */
  async function session(header: Buffer, payload = Buffer.from('ping\n')) {
    const client = await openClient(ports.get('tcp+proxy') as number);
    const received = collectUntilEnd(client);
    client.end(Buffer.concat([header, payload]));
    const text = (await within(received, 10_000, 'banner and echo')).toString('latin1');
    const newline = text.indexOf('\n');
    return { banner: text.slice(0, newline + 1), rest: text.slice(newline + 1) };
  }

  it('tcp+proxy: every decoded TLV in the banner; the echo after it unchanged', async () => {
    const { banner, rest } = await session(fullHeader(41001));
    expect(banner).toBe(expectedBanner(41001));
    expect(rest).toBe('ping\n');
  });

  it('tcp+proxy: the debug connection_opened line carries them as `proxy`', async () => {
    await session(fullHeader(41002));
    const line = await waitFor(() => opened(41002), { what: 'the connection_opened line' });
    expect(line.proxy).toEqual(EXPECTED_DETAILS(41002));
  });

  it('a header without TLVs: placeholders empty, no `proxy` in the log line', async () => {
    const { banner } = await session(v2Header({ familyProtocol: 0x11, addresses: inet4Block('203.0.113.50', '10.0.0.1', 41003, 7000) }));
    expect(banner).toBe('echo for 203.0.113.50:41003 sni= alpn= id= tls= cn= cipher= aws= azure= gcp=\n');
    const line = await waitFor(() => opened(41003), { what: 'the connection_opened line' });
    expect(line).not.toHaveProperty('proxy');
  });

  it('a balancer-supplied value cannot add a line to the banner; the log keeps it as sent', async () => {
    const { banner, rest } = await session(fullHeader(41004, 'evil.example\r\nX-Injected: 1'));
    expect(banner).toBe(expectedBanner(41004).replace('sni=echo.example.com', 'sni=evil.example??X-Injected: 1'));
    expect(rest).toBe('ping\n');
    const line = await waitFor(() => opened(41004), { what: 'the connection_opened line' });
    expect((line.proxy as { authority: string }).authority).toBe('evil.example\r\nX-Injected: 1');
  });

  it('a CRC32C that does not match: closed before any banner, counted as malformed', async () => {
    const key = 'echo_proxy_protocol_errors_total{listener="tcp+proxy://127.0.0.1:0",reason="malformed"}';
    const before = sample(await scrape(running.httpPort), key);
    const corrupt = fullHeader(41005);
    corrupt[16] = 198; // the source address changed after the checksum was computed
    const client = await openClient(ports.get('tcp+proxy') as number);
    const received = collectUntilEnd(client).catch(() => Buffer.alloc(0));
    client.write(Buffer.concat([corrupt, Buffer.from('ping')]));
    expect((await within(received, 10_000, 'the server to close')).length).toBe(0);
    await waitFor(async () => sample(await scrape(running.httpPort), key) === before + 1, { what: 'the malformed header to be counted' });
    const refusal = await waitFor(() => lines.find((line) => line.event === 'proxy_protocol_error' && String(line.detail).includes('CRC32C')), { what: 'the proxy_protocol_error line' });
    expect(refusal.reason).toBe('malformed');
  });

  it('tls+proxy: the header before the handshake, its TLVs in the banner over TLS and in the log', async () => {
    const socket = await openTls(ports.get('tls+proxy') as number, { ca: pki.caFile, servername: 'localhost', proxyHeader: fullHeader(41006) });
    const banner = (await readExactly(socket, expectedBanner(41006).length, 10_000, 'the banner')).toString('latin1');
    socket.destroy();
    expect(banner).toBe(expectedBanner(41006));
    const line = await waitFor(() => opened(41006), { what: 'the connection_opened line' });
    expect(line.proxy).toEqual(EXPECTED_DETAILS(41006));
  });
});
