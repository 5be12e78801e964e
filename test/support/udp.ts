// Real UDP clients for the UDP echo tests: each is a dgram socket bound to a loopback address.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { patternedBytes } from './echo-client.js';
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
