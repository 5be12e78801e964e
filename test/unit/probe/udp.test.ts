// The probe's UDP channel against loopback servers: datagram echoes, loss as a timeout that
// leaves the socket in use (a late reply is stray, not a mismatch), corrupt or short replies,
// ICMP port unreachable as refused, a host name resolved.
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from '../../../src/probe/channel.js';
import { ProbeFailure } from '../../../src/probe/errors.js';
import { createMessagePattern } from '../../../src/probe/pattern.js';
import { udpChannels } from '../../../src/probe/udp.js';
import { startUdpServer, type TestUdpServer } from '../../support/probe-targets.js';

const servers: TestUdpServer[] = [];
const channels: Channel[] = [];
afterEach(async () => {
  for (const channel of channels.splice(0)) channel.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function server(reply: Parameters<typeof startUdpServer>[0]): Promise<TestUdpServer> {
  const started = await startUdpServer(reply);
  servers.push(started);
  return started;
}

async function open(port: number, { timeoutMs = 2000, host = '127.0.0.1' } = {}): Promise<{ channel: Channel; strays: () => number }> {
  let strays = 0;
  const channel = await udpChannels({ host, port, timeoutMs, onStrayReply: () => strays++, lookup: async () => ({ address: '127.0.0.1', family: 4 }) })(0);
  channels.push(channel);
  return { channel, strays: () => strays };
}

async function failure(promise: Promise<unknown>): Promise<ProbeFailure> {
  const error = await promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof ProbeFailure)) throw new Error(`expected a ProbeFailure, got ${String(error)}`);
  return error;
}

const pattern = createMessagePattern(512);

describe('udp channel', () => {
  it('each datagram echoed whole; a host name is looked up', async () => {
    const { port, received } = await server((datagram) => datagram);
    const { channel } = await open(port, { host: 'echo.test' });
    for (let sequence = 0; sequence < 10; sequence++) await channel.exchange(pattern.message(sequence), sequence);
    expect(received).toHaveLength(10);
    await channel.close();
    expect(channel.broken).toBe(true);
  });

  it('a lost datagram: timeout, the socket stays; its late reply is stray, the next echo still counts', async () => {
    let held: Buffer | undefined;
    const { port } = await server((datagram, index) => {
      if (index === 0) {
        held = datagram;
        return undefined;
      }
      const replies = held ? [held, datagram] : [datagram];
      held = undefined;
      return replies;
    });
    const { channel, strays } = await open(port, { timeoutMs: 100 });
    expect((await failure(channel.exchange(pattern.message(0), 0))).kind).toBe('timeout');
    expect(channel.broken).toBe(false);
    await channel.exchange(pattern.message(1), 1);
    expect(strays()).toBe(1);
  });

  it('a corrupt datagram: mismatch at the byte; a short one: mismatch saying so', async () => {
    const { port } = await server((datagram, index) => {
      const copy = Buffer.from(datagram);
      if (index === 0) copy[17] = (copy[17] as number) ^ 0x01;
      return index === 0 ? copy : copy.subarray(0, 100);
    });
    const { channel } = await open(port);
    const sent = pattern.message(0);
    const corrupt = await failure(channel.exchange(sent, 0));
    expect(corrupt).toMatchObject({ kind: 'mismatch', mismatch: { message: 0, offset: 17, expected: sent[17], actual: (sent[17] as number) ^ 0x01 } });
    const short = await failure(channel.exchange(pattern.message(1), 1));
    expect(short.kind).toBe('mismatch');
    expect(short.message).toContain('is 100 bytes, not 512');
    expect(short.mismatch?.offset).toBe(100);
  });

  it('nothing listening: refused (ICMP port unreachable), and the socket stays usable', async () => {
    const gone = await startUdpServer(() => undefined);
    await gone.close();
    const { channel } = await open(gone.port);
    expect((await failure(channel.exchange(pattern.message(0), 0))).kind).toBe('refused');
    expect(channel.broken).toBe(false);
  });

  it('a name that does not resolve: dns', async () => {
    const lookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' });
    };
    const result = await failure(udpChannels({ host: 'nowhere.invalid', port: 7, timeoutMs: 100, onStrayReply: () => undefined, lookup })(0));
    expect(result.kind).toBe('dns');
  });
});
