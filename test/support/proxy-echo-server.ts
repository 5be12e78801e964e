import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { readProxyHeader, ProxyProtocolError, type ReadProxyHeaderOptions } from '../../src/proxy/read-header.js';
import type { ProxyHeader } from '../../src/proxy/parse.js';
import { PROXY_TIMEOUT_MS } from './config.js';

export interface Accepted {
  header: ProxyHeader;
  remainder: Buffer;
  /** the peer as the socket sees it (the balancer, when one is in front) */
  peer: { address: string; port: number };
}

export interface ProxyEchoServer {
  port: number;
  accepted: Accepted[];
  failures: ProxyProtocolError[];
  /** Sockets currently open (for leak checks). */
  readonly open: number;
  close(): Promise<void>;
}

/**
 * A tiny echo server behind a PROXY listener, the way the service will use readProxyHeader:
 * header first, then the remainder echoed, then the rest piped back; a failed header closes the
 * socket and is recorded.
 */
export async function startProxyEchoServer(options: Partial<ReadProxyHeaderOptions> = {}): Promise<ProxyEchoServer> {
  const accepted: Accepted[] = [];
  const failures: ProxyProtocolError[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    readProxyHeader(socket, { timeoutMs: PROXY_TIMEOUT_MS, ...options }).then(
      ({ header, remainder }) => {
        // listeners go on at once: the socket is paused and has none of readProxyHeader's left
        socket.on('error', () => {});
        accepted.push({ header, remainder, peer: { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? -1 } });
        if (remainder.length > 0) socket.write(remainder);
        socket.pipe(socket); // resumes the paused socket; ends our side after the client's FIN
      },
      (error: unknown) => {
        if (!(error instanceof ProxyProtocolError)) throw error;
        failures.push(error);
        socket.destroy();
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    failures,
    get open() {
      return sockets.size;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
