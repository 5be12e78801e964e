import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { readProxyHeader, ProxyProtocolError, type ProxyHeaderRead } from '../../../src/proxy/read-header.js';
import { PROXY_TIMEOUT_MS } from '../../support/config.js';
import { collectUntilEnd, openClient, patternedBytes } from '../../support/echo-client.js';
import { waitFor, within } from '../../support/wait.js';
import { inet4Block, v1Header, v2Header, withCrc32c } from '../../support/proxy-encode.js';
import { startProxyEchoServer, type ProxyEchoServer } from '../../support/proxy-echo-server.js';

const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Sends `chunks` (each its own write, a turn of the event loop apart), half-closes, returns the echo. */
async function session(port: number, chunks: Buffer[]): Promise<{ echoed: Buffer; client: Socket }> {
  const client = await openClient(port);
  const echoed = collectUntilEnd(client);
  for (const chunk of chunks) {
    if (!client.write(chunk)) await once(client, 'drain');
    await nextTick();
  }
  client.end();
  return { echoed: await within(echoed, 20_000, 'the echo'), client };
}

/** Resolves when the server has closed the client's connection; with whatever it sent first. */
async function serverCloses(client: Socket): Promise<Buffer> {
  const received: Buffer[] = [];
  client.on('data', (chunk: Buffer) => received.push(chunk));
  client.on('error', () => {});
  if (!client.destroyed) await within(once(client, 'close'), 10_000, 'the server to close the connection');
  return Buffer.concat(received);
}

describe('readProxyHeader + echo over real sockets', () => {
  let server: ProxyEchoServer;
  beforeAll(async () => {
    server = await startProxyEchoServer({ timeoutMs: 5000 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('v1: header and payload in one write; the header is not echoed, the payload is, exactly', async () => {
    const payload = Buffer.from('hello through a PROXY v1 listener\n');
    const client = await openClient(server.port);
    const echoed = collectUntilEnd(client);
    client.end(Buffer.concat([v1Header('TCP4', '203.0.113.9', '127.0.0.1', 40000, 7001), payload]));
    expect((await within(echoed, 10_000, 'echo')).equals(payload)).toBe(true);
    const record = server.accepted.find((a) => a.header.family === 'inet4' && a.header.source.port === 40000);
    expect(record?.header).toMatchObject({ version: 1, family: 'inet4', source: { address: '203.0.113.9', port: 40000 }, destination: { address: '127.0.0.1', port: 7001 } });
    // header and payload arrived in one chunk on loopback: the payload came back as the remainder
    expect(record?.remainder.equals(payload)).toBe(true);
  });

  it('v2 with TLVs: header and payload in one write', async () => {
    const header = v2Header({ familyProtocol: 0x11, addresses: inet4Block('198.51.100.1', '127.0.0.1', 40001, 7001), tlvs: [{ type: 0x02, value: Buffer.from('echo.example') }] });
    const payload = patternedBytes(1000, 1);
    const { echoed } = await session(server.port, [Buffer.concat([header, payload])]);
    expect(echoed.equals(payload)).toBe(true);
    const record = server.accepted.find((a) => a.header.family === 'inet4' && a.header.source.port === 40001);
    expect(record?.header.tlvs).toEqual([{ type: 0x02, value: Buffer.from('echo.example') }]);
    expect(record?.header.details).toEqual({ authority: 'echo.example' });
  });

  it('v2 with a good CRC32C, split across writes: accepted and decoded', async () => {
    const header = withCrc32c(v2Header({ familyProtocol: 0x11, addresses: inet4Block('198.51.100.4', '127.0.0.1', 40004, 7001), tlvs: [{ type: 0x03, value: Buffer.alloc(4) }, { type: 0x05, value: Buffer.from('id-40004') }] }));
    const { echoed } = await session(server.port, [header.subarray(0, 20), header.subarray(20), Buffer.from('after')]);
    expect(echoed.toString()).toBe('after');
    const record = server.accepted.find((a) => a.header.family === 'inet4' && a.header.source.port === 40004);
    expect(record?.header.details).toEqual({ crc32c: true, uniqueId: 'id-40004' });
  });

  it('v2 LOCAL (a balancer health check): accepted, no address, echo works', async () => {
    const before = server.accepted.length;
    const { echoed } = await session(server.port, [Buffer.concat([v2Header({ command: 'local' }), Buffer.from('ping')])]);
    expect(echoed.toString()).toBe('ping');
    const record = server.accepted.slice(before).find((a) => a.header.command === 'local');
    expect(record?.header).toMatchObject({ version: 2, family: 'unspec', source: undefined });
    expect(record?.peer.address).toBe('127.0.0.1');
  });

  it('a header split over many writes, payload in the same write as the header tail and after', async () => {
    const header = v1Header('TCP6', '2001:db8::7', '::1', 40002, 7001);
    const payload = patternedBytes(5000, 2);
    const chunks = [header.subarray(0, 1), header.subarray(1, 7), header.subarray(7, 30), Buffer.concat([header.subarray(30), payload.subarray(0, 10)]), payload.subarray(10)];
    const { echoed } = await session(server.port, chunks);
    expect(echoed.equals(payload)).toBe(true);
    expect(server.accepted.find((a) => a.header.family === 'inet6' && a.header.source.port === 40002)?.header.source).toEqual({ address: '2001:db8::7', port: 40002 });
  });

  it('loses no byte when a large stream follows the header at once (8 MiB, one burst, then FIN)', async () => {
    const header = v2Header({ familyProtocol: 0x11, addresses: inet4Block('192.0.2.3', '127.0.0.1', 40003, 7001) });
    const payload = patternedBytes(8 * 1024 * 1024, 3);
    const client = await openClient(server.port);
    const echoed = collectUntilEnd(client);
    client.write(header);
    client.end(payload); // no waiting: the payload races the header's parsing
    const result = await within(echoed, 30_000, 'echo of 8 MiB');
    expect(result.length).toBe(payload.length);
    expect(result.equals(payload)).toBe(true);
  });

  it('200 concurrent clients, each with its own header and payload, each echoed exactly', async () => {
    const clients = Array.from({ length: 200 }, (_, i) => ({
      header: i % 2 ? v1Header('TCP4', `10.0.${i >> 8}.${i & 0xff}`, '127.0.0.1', 41000 + i, 7001) : v2Header({ familyProtocol: 0x11, addresses: inet4Block(`10.0.${i >> 8}.${i & 0xff}`, '127.0.0.1', 41000 + i, 7001) }),
      payload: patternedBytes(100 + i * 31, i + 10),
    }));
    const results = await Promise.all(clients.map(({ header, payload }) => session(server.port, [Buffer.concat([header, payload.subarray(0, 7)]), payload.subarray(7)])));
    results.forEach(({ echoed }, i) => expect(echoed.equals((clients[i] as { payload: Buffer }).payload), `client ${i}`).toBe(true));
    for (let i = 0; i < 200; i++) {
      const record = server.accepted.find((a) => a.header.family === 'inet4' && a.header.source.port === 41000 + i);
      expect(record?.header.source, `client ${i}`).toEqual({ address: `10.0.${i >> 8}.${i & 0xff}`, port: 41000 + i });
    }
  });

  it('a client without a header is refused at its first bytes, nothing echoed, counted as malformed', async () => {
    const before = server.failures.length;
    const client = await openClient(server.port);
    client.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await serverCloses(client)).length).toBe(0);
    const failure = server.failures[before];
    expect(failure).toBeInstanceOf(ProxyProtocolError);
    expect(failure).toMatchObject({ reason: 'malformed', parseReason: 'bad_signature' });
  });

  it.each([
    ['an invalid v1 address', Buffer.from('PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\nDATA'), 'invalid_address'],
    ['a v2 header over the bound', v2Header({ command: 'local', trailing: Buffer.alloc(5000) }), 'too_long'],
    ['a v1 line with no CRLF', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}`), 'too_long'],
    ['a v2 version 3', Buffer.concat([v2Header({ version: 3 }), Buffer.from('DATA')]), 'bad_version'],
    ['a v2 CRC32C that does not match', Buffer.concat([withCrc32c(v2Header({ familyProtocol: 0x11, addresses: inet4Block('198.51.100.2', '127.0.0.1', 40002, 7001), tlvs: [{ type: 0x03, value: Buffer.alloc(4) }] }), 1), Buffer.from('DATA')]), 'bad_checksum'],
    ['a v2 SSL TLV whose sub-TLV overruns it', v2Header({ familyProtocol: 0x11, addresses: inet4Block('198.51.100.3', '127.0.0.1', 40003, 7001), tlvs: [{ type: 0x20, value: Buffer.from([1, 0, 0, 0, 0, 0x21, 0, 9, 0x54]) }] }), 'invalid_tlv'],
  ])('%s: closed, counted, nothing echoed', async (_name, bytes, parseReason) => {
    const before = server.failures.length;
    const client = await openClient(server.port);
    client.write(bytes);
    expect((await serverCloses(client)).length).toBe(0);
    expect(server.failures[before]).toMatchObject({ reason: 'malformed', parseReason });
  });

  it('a bare connect-then-close is "closed" with 0 bytes (a TCP probe, for the caller to treat as normal)', async () => {
    const before = server.failures.length;
    const client = await openClient(server.port);
    client.end();
    await serverCloses(client);
    await waitFor(() => server.failures.length > before, { what: 'the failure record' });
    expect(server.failures[before]).toMatchObject({ reason: 'closed', bytesReceived: 0 });
  });

  it('FIN in the middle of a header is "closed" with the bytes received', async () => {
    const before = server.failures.length;
    const client = await openClient(server.port);
    client.end('PROXY TCP4 1.2.3.4');
    await serverCloses(client);
    await waitFor(() => server.failures.length > before, { what: 'the failure record' });
    expect(server.failures[before]).toMatchObject({ reason: 'closed', bytesReceived: 18 });
  });

  it('a reset in the middle of a header is "error" or "closed", never a crash', async () => {
    const before = server.failures.length;
    const client = await openClient(server.port);
    client.write(v2Header({ command: 'local' }).subarray(0, 10));
    await waitFor(() => server.open > 0, { what: 'the server side' });
    await nextTick();
    client.resetAndDestroy();
    await waitFor(() => server.failures.length > before, { what: 'the failure record' });
    expect(['error', 'closed']).toContain(server.failures[before]?.reason);
  });

  it('no sockets are left open', async () => {
    await waitFor(() => server.open === 0, { what: 'all server sockets to close' });
  });
});

describe('the deadline', () => {
  let server: ProxyEchoServer;
  beforeAll(async () => {
    server = await startProxyEchoServer({ timeoutMs: 300 });
  });
  afterAll(async () => {
    await server.close();
  });

  it.each([
    ['a silent client', Buffer.alloc(0)],
    ['a partial v1 header', Buffer.from('PROXY TCP4 1.2.3.4 ')],
    ['a partial v2 header', v2Header({ familyProtocol: 0x11, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1, 2) }).subarray(0, 20)],
  ])('%s is closed after timeoutMs', async (_name, bytes) => {
    const before = server.failures.length;
    const started = Date.now();
    const client = await openClient(server.port);
    if (bytes.length) client.write(bytes);
    expect((await serverCloses(client)).length).toBe(0);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(5000);
    expect(server.failures[before]).toMatchObject({ reason: 'timeout', bytesReceived: bytes.length });
  });

  it('refuses a nonsensical timeout', () => {
    const socket = connect({ port: 1, host: '127.0.0.1' });
    socket.on('error', () => {});
    expect(() => readProxyHeader(socket, { timeoutMs: 0 })).toThrow(RangeError);
    expect(() => readProxyHeader(socket, { timeoutMs: Number.NaN })).toThrow(RangeError);
    socket.destroy();
  });
});

describe('what the socket looks like afterwards', () => {
  let server: Server;
  let port: number;
  let next: (socket: Socket) => void;
  beforeAll(async () => {
    server = createServer({ allowHalfOpen: true }, (socket) => next(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.close();
    await within(once(server, 'close'), 10_000, 'server close');
  });
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
  });

  async function accept(): Promise<{ socket: Socket; client: Socket }> {
    const accepted = new Promise<Socket>((resolve) => (next = resolve));
    const client = await openClient(port);
    sockets.push(client);
    const socket = await within(accepted, 5000, 'accept');
    sockets.push(socket);
    socket.on('error', () => {});
    return { socket, client };
  }

  const counts = (socket: Socket) => Object.fromEntries(['data', 'end', 'error', 'close', 'readable'].map((event) => [event, socket.listenerCount(event)]));

  it('resolved: its listeners are gone, the socket is paused, later bytes wait in it until resume()', async () => {
    const { socket, client } = await accept();
    const listenersBefore = counts(socket);
    const reading = readProxyHeader(socket, { timeoutMs: 5000 });
    client.write(Buffer.concat([v1Header('TCP4', '1.2.3.4', '5.6.7.8', 1, 2), Buffer.from('first')]));
    const { header, remainder }: ProxyHeaderRead = await within(reading, 5000, 'header');
    expect(header.version).toBe(1);
    expect(remainder.toString()).toBe('first');
    expect(counts(socket)).toEqual(listenersBefore);
    expect(socket.readableFlowing).toBe(false);

    client.write('second');
    client.end();
    await waitFor(() => socket.readableLength >= 6, { what: 'the later bytes to be buffered in the paused socket' });
    // attaching 'data' to a paused socket does not start it: nothing is delivered before resume()
    const later: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => later.push(chunk));
    await nextTick();
    expect(later.length).toBe(0);
    const ended = once(socket, 'end');
    socket.resume();
    await within(ended, 5000, 'end');
    expect(Buffer.concat(later).toString()).toBe('second');
  });

  it('rejected: its listeners are gone too, the socket left for the caller to destroy', async () => {
    const { socket, client } = await accept();
    const listenersBefore = counts(socket);
    const reading = readProxyHeader(socket, { timeoutMs: 5000 });
    client.write('nope');
    const error = await within(reading.then(() => undefined, (e: unknown) => e), 5000, 'rejection');
    expect(error).toBeInstanceOf(ProxyProtocolError);
    expect(error).toMatchObject({ name: 'ProxyProtocolError', reason: 'malformed', parseReason: 'bad_signature', bytesReceived: 4 });
    expect(counts(socket)).toEqual(listenersBefore);
    expect(socket.destroyed).toBe(false);
    socket.destroy();
  });

  it('a socket already destroyed rejects as closed', async () => {
    const { socket } = await accept();
    socket.destroy();
    await expect(readProxyHeader(socket, { timeoutMs: PROXY_TIMEOUT_MS })).rejects.toMatchObject({ reason: 'closed' });
  });

  it('header bytes that arrived before the call are not lost', async () => {
    const { socket, client } = await accept();
    client.write(Buffer.concat([v2Header({ command: 'local' }), Buffer.from('early')]));
    await waitFor(() => socket.readableLength > 0, { what: 'bytes to be buffered before anyone reads' });
    const { header, remainder } = await within(readProxyHeader(socket, { timeoutMs: PROXY_TIMEOUT_MS }), 5000, 'header');
    expect(header.command).toBe('local');
    expect(remainder.toString()).toBe('early');
  });
});
