// UDP for the tests: real clients (each a dgram socket bound to a loopback address), UDP echo
// listeners with the service's defaults, and the cleanup of both after each test.
import { afterEach, expect } from 'vitest';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createUdpEchoListener, type UdpEchoListener, type UdpEchoListenerOptions } from '../../src/udp/listener.js';
import { createUdpStats, type UdpStats } from '../../src/udp/stats.js';
import { UDP_LISTENER_DEFAULTS } from './config.js';
import { patternedBytes } from './echo-client.js';
import { silentLogger } from './logger.js';
import { within } from './wait.js';

export interface UdpClient {
  readonly socket: Socket;
  readonly address: AddressInfo;
  readonly serverPort: number;
  readonly serverHost: string;
  /** Replies not yet taken by next(). */
  readonly inbox: Array<{ data: Buffer; from: RemoteInfo }>;
  send(payload: Buffer): Promise<void>;
  /** The next reply, or a rejection after timeoutMs. */
  next(timeoutMs?: number): Promise<Buffer>;
  /** Sends and waits for one reply. */
  exchange(payload: Buffer, timeoutMs?: number): Promise<Buffer>;
  close(): Promise<void>;
}

export interface UdpClientOptions {
  /** Loopback address to send from (default 127.0.0.1). */
  host?: string;
  /** Port to send from (default 0: an ephemeral port, as real clients do). */
  port?: number;
  /** Where the echo listens (default: host). */
  serverHost?: string;
  recvBufferSize?: number;
}

export async function openUdpClient(serverPort: number, { host = '127.0.0.1', port = 0, serverHost, recvBufferSize = 0 }: UdpClientOptions = {}): Promise<UdpClient> {
  serverHost ??= host;
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const inbox: Array<{ data: Buffer; from: RemoteInfo }> = [];
  let waiter: (() => void) | undefined;
  socket.on('message', (data, from) => {
    inbox.push({ data, from });
    const wake = waiter;
    waiter = undefined;
    wake?.();
  });
  socket.bind(port, host);
  try {
    await once(socket, 'listening');
  } catch (error) {
    socket.close();
    throw error;
  }
  if (recvBufferSize > 0) socket.setRecvBufferSize(recvBufferSize);
  const client: UdpClient = {
    socket,
    address: socket.address(),
    serverPort,
    serverHost,
    inbox,
    send(payload) {
      return new Promise((resolve, reject) => socket.send(payload, serverPort, serverHost, (error) => (error ? reject(error) : resolve())));
    },
    async next(timeoutMs = 5000) {
      if (inbox.length === 0) await within(new Promise<void>((resolve) => (waiter = resolve)), timeoutMs, 'a UDP reply');
      const reply = inbox.shift();
      if (!reply) throw new Error('woken without a reply');
      if (reply.from.port !== serverPort) throw new Error(`reply from unexpected port ${reply.from.port}`);
      return reply.data;
    },
    async exchange(payload, timeoutMs) {
      await client.send(payload);
      return client.next(timeoutMs);
    },
    async close() {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
  return client;
}

/** Datagram `seq` of a numbered series: 4-byte sequence number, then `tag`, then patterned bytes; 8..1400 bytes. */
export function numberedDatagram(seq: number, tag = 0): Buffer {
  const size = 8 + ((seq * 131) % 1393);
  const payload = patternedBytes(size, seq * 7919 + tag + 1);
  payload.writeUInt32BE(seq, 0);
  payload.writeUInt32BE(tag, 4);
  return payload;
}

export interface PacedResult {
  received: number;
  bytes: number;
  /** Replies that were not the expected next datagram, byte for byte. */
  wrong: number;
}

/**
 * Sends `count` numbered datagrams with at most `window` unanswered at a time (a reply frees a slot),
 * and checks every reply is the next expected datagram, byte-exact and in order. Rejects after timeoutMs.
 */
export async function pacedExchange(client: UdpClient, count: number, { window = 64, tag = 0, timeoutMs = 30_000 } = {}): Promise<PacedResult> {
  const result: PacedResult = { received: 0, bytes: 0, wrong: 0 };
  let nextToSend = 0;
  const done = new Promise<void>((resolve, reject) => {
    const sendNext = () => {
      const payload = numberedDatagram(nextToSend++, tag);
      client.socket.send(payload, client.serverPort, client.serverHost, (error) => error && reject(error));
    };
    const onMessage = (data: Buffer) => {
      const expected = numberedDatagram(result.received, tag);
      if (!data.equals(expected)) result.wrong++;
      result.received++;
      result.bytes += data.length;
      if (nextToSend < count) sendNext();
      if (result.received === count) {
        client.socket.removeListener('message', onMessage);
        resolve();
      }
    };
    client.socket.on('message', onMessage);
    while (nextToSend < Math.min(window, count)) sendNext();
  });
  try {
    await within(done, timeoutMs, `${count} paced echoes (got ${result.received})`);
  } finally {
    client.inbox.length = 0; // the replies were consumed here
  }
  return result;
}

/** Whether this host has IPv6 loopback for UDP (binds a socket on ::1 and closes it). */
export async function canBindUdp6(): Promise<boolean> {
  const probe = createSocket('udp6');
  const available = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.bind(0, '::1', () => resolve(true));
  });
  probe.close();
  return available;
}

export interface StartedUdpListener {
  listener: UdpEchoListener;
  stats: UdpStats;
  port: number;
}

export interface UdpPerTest {
  /** A UDP echo listener on 127.0.0.1, port 0, with the service's default options but for `overrides`; listening. */
  startListener(overrides?: Partial<UdpEchoListenerOptions>): Promise<StartedUdpListener>;
  /** openUdpClient, closed after the test. */
  client(serverPort: number, options?: UdpClientOptions): Promise<UdpClient>;
  /** Closes `thing` after the test. */
  track<T extends { close(): Promise<void> }>(thing: T): T;
  /** Checks that the listener on `port` still echoes a new client's 1400-byte datagram byte-exact. */
  stillEchoes(port: number): Promise<void>;
}

/** UDP listeners and clients that are closed after each test of the calling file. */
export function udpPerTest(): UdpPerTest {
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((thing) => thing.close()));
  });
  const track = <T extends { close(): Promise<void> }>(thing: T): T => {
    opened.push(thing);
    return thing;
  };
  const client = async (serverPort: number, options?: UdpClientOptions) => track(await openUdpClient(serverPort, options));
  return {
    track,
    client,
    async startListener(overrides = {}) {
      const stats = createUdpStats();
      const listener = track(createUdpEchoListener({ ...UDP_LISTENER_DEFAULTS, host: '127.0.0.1', port: 0, logger: silentLogger(), stats, ...overrides }));
      const { port } = await listener.listen();
      return { listener, stats: overrides.stats ?? stats, port };
    },
    async stillEchoes(port) {
      const probe = await client(port);
      const payload = patternedBytes(1400, port);
      expect((await probe.exchange(payload)).equals(payload)).toBe(true);
    },
  };
}
