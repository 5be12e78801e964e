// Clients for memory attacks: a crowd that connects, stops reading and sends (the client that keeps
// reading meanwhile uses echo-client.ts's roundTrip).
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { within } from './wait.js';

export interface Crowd {
  readonly sockets: readonly Socket[];
  /** Every member stops reading and sends `bytes` as fast as its socket takes them (bounded). */
  flood(bytes: number): void;
  destroy(): void;
}

/** `count` connections to `port`, all connected. */
export async function connectCrowd(port: number, count: number, host = '127.0.0.1'): Promise<Crowd> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = connect({ port, host });
    socket.on('error', () => {}); // the service may close them: that is what is tested
    sockets.push(socket);
  }
  try {
    await within(Promise.all(sockets.map((socket) => once(socket, 'connect'))), 20_000, `${count} connections`);
  } catch (error) {
    for (const socket of sockets) socket.destroy();
    throw error;
  }
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  return {
    sockets,
    flood(bytes) {
      for (const socket of sockets) {
        socket.pause();
        let sent = 0;
        const pump = () => {
          while (sent < bytes && !socket.destroyed) {
            sent += chunk.length;
            if (!socket.write(chunk)) break;
          }
          if (sent < bytes && !socket.destroyed) socket.once('drain', pump);
        };
        pump();
      }
    },
    destroy() {
      for (const socket of sockets) socket.destroy();
    },
  };
}
