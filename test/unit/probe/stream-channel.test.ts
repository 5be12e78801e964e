// The probe's TCP channel against real loopback servers: echo checked byte by byte, the banner,
// the PROXY header, and each way a server can get it wrong (a corrupt byte, extra bytes, bytes no
// message asked for, an early close, no echo, a reset, a refused connection). TLS: tls.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from '../../../src/probe/channel.js';
import { ProbeFailure } from '../../../src/probe/errors.js';
import { createMessagePattern } from '../../../src/probe/pattern.js';
import { BANNER_LINE_MAX_BYTES } from '../../../src/probe/stream-channel.js';
import { tcpChannels, type StreamSettings } from '../../../src/probe/tcp.js';
import { parseProxyHeader } from '../../../src/proxy/parse.js';
import { waitFor } from '../../support/wait.js';
import { corruptingEcho, plainEcho, startTcpServer, type TestTcpServer } from '../../support/probe-targets.js';

const servers: TestTcpServer[] = [];
const channels: Channel[] = [];
afterEach(async () => {
  for (const channel of channels.splice(0)) channel.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function server(onConnection: Parameters<typeof startTcpServer>[0]): Promise<TestTcpServer> {
  const started = await startTcpServer(onConnection);
  servers.push(started);
  return started;
}

async function open(port: number, settings: Partial<StreamSettings> = {}): Promise<Channel> {
  const channel = await tcpChannels({ host: '127.0.0.1', port, timeoutMs: 2000, proxy: undefined, bannerLines: 0, ...settings })(0);
  channels.push(channel);
  return channel;
}

async function failure(promise: Promise<unknown>): Promise<ProbeFailure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ProbeFailure) return error;
    throw error;
  }
  throw new Error('expected a ProbeFailure');
}

const pattern = createMessagePattern(1000);

describe('tcp channel', () => {
  it('echoes message after message, in order, then closes cleanly (half-close, the server ends)', async () => {
    const { port } = await server(plainEcho);
    const channel = await open(port);
    for (let sequence = 0; sequence < 20; sequence++) await channel.exchange(pattern.message(sequence), sequence);
    await channel.close();
    expect(channel.broken).toBe(true);
  });

  it('a large message comes back in many chunks and is checked whole', async () => {
    const { port } = await server(plainEcho);
    const channel = await open(port);
    const big = createMessagePattern(4 * 1024 * 1024);
    await channel.exchange(big.message(7), 7);
    await channel.close();
  });

  it('reads the banner lines first (CRLF or LF, in pieces), then echoes', async () => {
    const { port } = await server((socket) => {
      socket.write('tcp-echo pod-1\r\nfor 10.');
      setTimeout(() => socket.write('0.0.1:5555\n'), 20);
      plainEcho(socket);
    });
    const channel = await open(port, { bannerLines: 2 });
    expect(channel.banner).toBe('tcp-echo pod-1\nfor 10.0.0.1:5555');
    await channel.exchange(pattern.message(0), 0);
  });

  it(`a banner line over ${BANNER_LINE_MAX_BYTES} bytes fails as banner`, async () => {
    const { port } = await server((socket) => socket.write(Buffer.alloc(BANNER_LINE_MAX_BYTES + 1, 0x61)));
    expect((await failure(open(port, { bannerLines: 1 }))).kind).toBe('banner');
  });

  it('no banner in time: timeout; closed before it: closed', async () => {
    const silent = await server(() => undefined);
    expect((await failure(open(silent.port, { bannerLines: 1, timeoutMs: 100 }))).kind).toBe('timeout');
    const closing = await server((socket) => socket.end('half a line'));
    expect((await failure(open(closing.port, { bannerLines: 1 }))).kind).toBe('closed');
  });

  it('a corrupted byte: mismatch, with the message, offset, the byte sent and the byte received; the channel is broken', async () => {
    const { port } = await server(corruptingEcho(1000 + 123));
    const channel = await open(port);
    await channel.exchange(pattern.message(0), 0);
    const sent = pattern.message(1);
    const result = await failure(channel.exchange(sent, 1));
    expect(result.kind).toBe('mismatch');
    expect(result.mismatch).toMatchObject({ connection: 0, message: 1, offset: 123, expected: sent[123], actual: (sent[123] as number) ^ 0xff });
    expect(channel.broken).toBe(true);
    expect((await failure(channel.exchange(pattern.message(2), 2))).kind).toBe('mismatch');
  });

  it('an echo longer than the message: mismatch at the offset past its end', async () => {
    const { port } = await server((socket) => socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([chunk, Buffer.from('+extra')]))));
    const result = await failure((await open(port)).exchange(pattern.message(0), 0));
    expect(result.kind).toBe('mismatch');
    expect(result.mismatch).toMatchObject({ message: 0, offset: 1000, expected: undefined, actual: 0x2b, received: '+extra' });
  });

  it('bytes before the first message (a banner the probe was not told of): mismatch, with the hint', async () => {
    const { port } = await server((socket) => {
      socket.write('banner\n');
      plainEcho(socket);
    });
    const result = await failure((await open(port)).exchange(pattern.message(0), 0));
    expect(result.kind).toBe('mismatch');
    expect(result.message).toContain('--banner-lines');
    expect(result.mismatch?.received.startsWith('banner')).toBe(true);
  });

  it('bytes after the last echo, seen on close: mismatch', async () => {
    const { port } = await server((socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.on('end', () => socket.end('trailing'));
    });
    const channel = await open(port);
    await channel.exchange(pattern.message(0), 0);
    const result = await failure(channel.close());
    expect(result.kind).toBe('mismatch');
    expect(result.mismatch).toMatchObject({ message: -1, received: 'trailing' });
  });

  it('the server closes halfway through an echo: closed, saying how far it got', async () => {
    const { port } = await server((socket) => socket.once('data', (chunk: Buffer) => socket.end(chunk.subarray(0, 10))));
    const result = await failure((await open(port)).exchange(pattern.message(0), 0));
    expect(result.kind).toBe('closed');
    expect(result.message).toContain('after 10 of the 1000 bytes of message 0');
  });

  it('no echo in time: timeout', async () => {
    const { port } = await server(() => undefined);
    const result = await failure((await open(port, { timeoutMs: 100 })).exchange(pattern.message(0), 0));
    expect(result.kind).toBe('timeout');
  });

  it('a reset: reset', async () => {
    const { port } = await server((socket) => socket.once('data', () => socket.resetAndDestroy()));
    expect((await failure((await open(port)).exchange(pattern.message(0), 0))).kind).toBe('reset');
  });

  it('a closed port: refused', async () => {
    const gone = await startTcpServer(() => undefined);
    await gone.close();
    expect((await failure(open(gone.port))).kind).toBe('refused');
  });

  it('a server that keeps the connection open after the half-close: close() lets go without an error', async () => {
    const { port } = await server((socket) => socket.on('data', (chunk: Buffer) => socket.write(chunk)));
    const channel = await open(port, { timeoutMs: 100 });
    await channel.exchange(pattern.message(0), 0);
    await channel.close();
  });

  it.each([1, 2] as const)('PROXY v%i: the header comes first, naming the probe’s own address, or the one given', async (version) => {
    const arrivals: Array<{ first: Buffer; clientPort: number | undefined }> = [];
    const { port } = await server((socket) => {
      const clientPort = socket.remotePort;
      socket.once('data', (first: Buffer) => arrivals.push({ first, clientPort }));
      socket.on('end', () => socket.end());
    });
    for (const proxy of [
      { version, source: undefined, destination: undefined },
      { version, source: { address: '203.0.113.7', port: 4242 }, destination: { address: '198.51.100.1', port: 443 } },
    ]) {
      const channel = await open(port, { proxy });
      await waitFor(() => arrivals.length === channels.length);
      await channel.close();
    }
    const [own, given] = arrivals.map(({ first }) => parseProxyHeader(first));
    expect(own).toMatchObject({ status: 'done', header: { version, source: { address: '127.0.0.1', port: arrivals[0]?.clientPort }, destination: { address: '127.0.0.1', port } } });
    expect(given).toMatchObject({ status: 'done', header: { version, source: { address: '203.0.113.7', port: 4242 }, destination: { address: '198.51.100.1', port: 443 } } });
  });
});
