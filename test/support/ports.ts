// Ports for tests that must name one before a process binds it, and ports held busy on purpose.
import { afterEach } from 'vitest';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';

/**
 * A port free on the host right now, for a process that needs a fixed one (compose, SO_REUSEPORT
 * workers, a second listener). It is taken below the kernel's ephemeral range: between this check
 * and the bind (a container build can take a minute), client sockets of other tests (thousands at
 * once in the fault suite) would otherwise grab it.
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const high = Math.min((ephemeralLow ?? 32768) - 1, 65535);
  const low = Math.max(10000, high - 20000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '0.0.0.0', () => resolve(true));
    });
    if (bound) {
      server.close();
      await once(server, 'close');
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}

/** Distinct free ports (see freePort). */
export async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Ports on 127.0.0.1 held busy, each until the end of the test that took it (the calling file gets an
 * afterEach): tcp() listens (and closes whatever connects), udp() binds.
 */
export function busyPortsPerTest(): { tcp(): Promise<number>; udp(): Promise<number> } {
  const held: Array<Server | UdpSocket> = [];
  afterEach(async () => {
    await Promise.all(held.splice(0).map((handle) => new Promise<void>((resolve) => handle.close(() => resolve()))));
  });
  return {
    async tcp() {
      const server = createServer((socket) => socket.destroy());
      held.push(server);
      server.listen({ host: '127.0.0.1', port: 0 });
      await once(server, 'listening');
      return (server.address() as AddressInfo).port;
    },
    async udp() {
      const socket = createSocket('udp4');
      held.push(socket);
      socket.bind(0, '127.0.0.1');
      await once(socket, 'listening');
      return socket.address().port;
    },
  };
}
