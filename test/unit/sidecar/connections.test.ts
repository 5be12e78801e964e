// GET /connections over real sockets, against the whole service built in this process: a tcp, a
// tcp+proxy and a tls listener (mTLS); what each open connection shows, ?limit= and ?sort=, the token.
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../../support/certs.js';
import { echoOnce, openClient } from '../../support/echo-client.js';
import { httpRequest, listenerPorts } from '../../support/metrics.js';
import { inet4Block, v1Header, v2Header } from '../../support/proxy-encode.js';
import { startService, startServicesPerTest, type RunningService } from '../../support/service.js';
import { openTls } from '../../support/tls.js';
import { waitFor } from '../../support/wait.js';

interface Listed {
  listener: string;
  client: string;
  peer: string;
  local: string;
  tls?: { protocol: string; cipher: string; servername: string | null; alpn: string | null; clientCertificate: string | null };
  proxy?: Record<string, unknown>;
  bytesIn: number;
  bytesOut: number;
  ageSeconds: number;
  idleSeconds: number | null;
  readingPaused: boolean;
  pendingWriteBytes: number;
}
interface Listing {
  total: number;
  sort: string;
  limit: number;
  connections: Listed[];
}

async function list(httpPort: number, query = '', headers: Record<string, string> = {}): Promise<Listing> {
  const response = await httpRequest(httpPort, `/connections${query}`, { headers });
  expect(response.status, response.body).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(response.body) as Listing;
}

const address = (socket: Socket) => `${socket.localAddress}:${socket.localPort}`;

describe('GET /connections (tcp, tcp+proxy, tls with client certificates)', () => {
  let pki: TestPki;
  let running: RunningService;
  let ports: Map<string, number>;
  const clients: Socket[] = [];
  const listenerName = new Map<string, string>();

  beforeAll(async () => {
    pki = await createTestPki();
    running = await startService({
      ECHO_LISTENERS: 'tcp://127.0.0.1:0,tcp+proxy://127.0.0.1:0,tls://127.0.0.1:0',
      ECHO_TLS_CERT: pki.server.certFile,
      ECHO_TLS_KEY: pki.server.keyFile,
      ECHO_TLS_CLIENT_CA: pki.caFile,
    });
    ports = await listenerPorts(running.httpPort);
    const health = JSON.parse((await httpRequest(running.httpPort, '/healthz')).body) as { listeners: { all: Array<{ name: string; scheme: string }> } };
    for (const { name, scheme } of health.listeners.all) listenerName.set(scheme, name);
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.destroy();
  });
  afterAll(async () => {
    await running?.stop();
    pki?.cleanup();
  });

  const open = async (scheme: string) => {
    const client = await openClient(ports.get(scheme) as number);
    clients.push(client);
    return client;
  };
  const settled = (count: number) => waitFor(async () => ((await list(running.httpPort)).total === count ? true : undefined), { what: `${count} connections listed` });

  it('a PROXY v1 client shows the address from its header, with the socket peer beside it', async () => {
    const client = await open('tcp+proxy');
    const echoPort = ports.get('tcp+proxy') as number;
    client.write(v1Header('TCP4', '198.51.100.23', '10.0.0.1', 40123, 7000));
    await echoOnce(client, Buffer.from('hello\n'));
    const { total, connections } = await list(running.httpPort);
    expect(total).toBe(1);
    expect(connections[0]).toMatchObject({
      listener: listenerName.get('tcp+proxy'),
      client: '198.51.100.23:40123',
      peer: address(client),
      local: `127.0.0.1:${echoPort}`,
      bytesIn: 6,
      bytesOut: 6,
      readingPaused: false,
      pendingWriteBytes: 0,
    });
    expect(connections[0]).not.toHaveProperty('tls');
    expect(connections[0]).not.toHaveProperty('proxy'); // v1 has no TLVs
    expect(connections[0]?.ageSeconds).toBeGreaterThanOrEqual(0);
  });

  it('a PROXY v2 client shows its TLVs', async () => {
    const client = await open('tcp+proxy');
    const header = v2Header({ familyProtocol: 0x11, addresses: inet4Block('203.0.113.9', '10.0.0.1', 50001, 7000), tlvs: [{ type: 0x02, value: Buffer.from('echo.example.com') }] });
    client.write(header);
    await echoOnce(client, Buffer.from('v2\n'));
    const [listed] = (await list(running.httpPort)).connections;
    expect(listed).toMatchObject({ client: '203.0.113.9:50001', peer: address(client), proxy: { authority: 'echo.example.com' } });
  });

  it('a tls client shows protocol, cipher, SNI, ALPN and its certificate subject', async () => {
    const port = ports.get('tls') as number;
    const client = await openTls(port, { ca: pki.caFile, client: pki.client, servername: 'localhost' });
    clients.push(client);
    await echoOnce(client, Buffer.from('secret\n'));
    const [listed] = (await list(running.httpPort)).connections;
    expect(listed).toMatchObject({ listener: listenerName.get('tls'), client: address(client), peer: address(client), local: `127.0.0.1:${port}`, bytesIn: 7, bytesOut: 7 });
    expect(listed?.tls).toMatchObject({ protocol: 'TLSv1.3', servername: 'localhost', alpn: null });
    expect(listed?.tls?.cipher).toMatch(/^TLS_/);
    expect(listed?.tls?.clientCertificate).toContain('CN=tcp-echo test client');
  });

  it('?limit= bounds the list, total counts them all; ?sort= orders by age, bytes or idle time', async () => {
    const oldest = await open('tcp');
    await echoOnce(oldest, Buffer.from('a'));
    await new Promise((resolve) => setTimeout(resolve, 30));
    const biggest = await open('tcp');
    await echoOnce(biggest, Buffer.alloc(5000, 1));
    await new Promise((resolve) => setTimeout(resolve, 30));
    const newest = await open('tcp');
    await settled(3);

    const byAge = await list(running.httpPort);
    expect(byAge).toMatchObject({ total: 3, sort: 'age', limit: 100 });
    expect(byAge.connections.map((c) => c.peer)).toEqual([oldest, biggest, newest].map(address));

    const limited = await list(running.httpPort, '?limit=2&sort=bytes');
    expect(limited.total).toBe(3);
    expect(limited.connections.map((c) => c.peer)).toEqual([biggest, oldest].map(address));

    // Idle: the newest never sent a byte (idle since it opened). The others had bytes when a view
    // first saw them: their idle time is unknown (null, listed last) until a view sees their
    // counts move. Traffic on the oldest makes its idle time known, and short.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await echoOnce(oldest, Buffer.from('b'));
    await list(running.httpPort); // sees the change
    const byIdle = await list(running.httpPort, '?sort=idle');
    expect(byIdle.connections.map((c) => c.peer)).toEqual([newest, oldest, biggest].map(address));
    const [newestListed, oldestListed, biggestListed] = byIdle.connections as [Listed, Listed, Listed];
    expect(newestListed.idleSeconds).toBeGreaterThanOrEqual(0.05);
    expect(oldestListed.idleSeconds).toBeLessThan(newestListed.idleSeconds as number);
    expect(biggestListed.idleSeconds).toBeNull();
  });

  it('a client that does not read its echo shows as paused, with the bytes waiting', async () => {
    const client = await open('tcp');
    client.pause();
    const chunk = Buffer.alloc(1 << 20, 7);
    for (let i = 0; i < 16; i++) client.write(chunk);
    const paused = await waitFor(async () => (await list(running.httpPort)).connections.find((c) => c.peer === address(client) && c.readingPaused), { what: 'reading paused', timeoutMs: 10_000 });
    expect(paused.pendingWriteBytes).toBeGreaterThan(0);
  });

  it('bad ?limit= and ?sort= are a 400', async () => {
    for (const query of ['?limit=0', '?limit=1001', '?limit=x', '?sort=name']) {
      const response = await httpRequest(running.httpPort, `/connections${query}`);
      expect(response.status, query).toBe(400);
    }
  });
});

describe('GET /connections behind METRICS_TOKEN', () => {
  const start = startServicesPerTest();

  it('401 without the token, 200 with it', async () => {
    const { httpPort } = await start({ METRICS_TOKEN: 's3cret-token' });
    expect((await httpRequest(httpPort, '/connections')).status).toBe(401);
    expect((await httpRequest(httpPort, '/connections', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await list(httpPort, '', { authorization: 'Bearer s3cret-token' })).total).toBe(0);
  });
});
