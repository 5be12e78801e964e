// Servers for the probe's tests that the service never is: TCP servers with a handler of the
// test's choosing (one that corrupts a byte, adds bytes, sends unasked, stops echoing, closes or
// resets), and a UDP server that answers as told. All on 127.0.0.1, port 0; each closes
// everything it has open.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface TestTcpServer {
  readonly port: number;
  /** Sockets accepted so far, in order. */
  readonly accepted: Socket[];
  close(): Promise<void>;
}

export async function startTcpServer(onConnection: (socket: Socket) => void): Promise<TestTcpServer> {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    accepted.push(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    async close() {
      for (const socket of accepted) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Echoes every byte, except that the byte at `offset` of the connection's stream comes back with its bits flipped. */
export function corruptingEcho(offset: number): (socket: Socket) => void {
  return (socket) => {
    let seen = 0;
    socket.on('data', (chunk: Buffer) => {
      const copy = Buffer.from(chunk);
      if (offset >= seen && offset < seen + copy.length) copy[offset - seen] = (copy[offset - seen] as number) ^ 0xff;
      seen += copy.length;
      socket.write(copy);
    });
    socket.on('end', () => socket.end());
  };
}

/** A plain echo with half-close: the server ends once the client has. */
export function plainEcho(socket: Socket): void {
  socket.pipe(socket);
}

export interface TestUdpServer {
  readonly port: number;
  /** Datagrams received so far. */
  readonly received: Buffer[];
  close(): Promise<void>;
}

/** A UDP server that answers each datagram with what `reply` returns for it (nothing: no reply). */
export async function startUdpServer(reply: (datagram: Buffer, index: number) => Buffer | Buffer[] | undefined): Promise<TestUdpServer> {
  const socket: UdpSocket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (datagram: Buffer, from: RemoteInfo) => {
    const answer = reply(datagram, received.length);
    received.push(datagram);
    for (const out of answer === undefined ? [] : Array.isArray(answer) ? answer : [answer]) socket.send(out, from.port, from.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    port: socket.address().port,
    received,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
