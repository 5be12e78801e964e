// The listening server of a TCP echo listener, built for its kind: plain, +proxy (a PROXY header
// first), tls, or tls+proxy (the header on the raw socket, then the handshake). Every kind accepts
// on a plain TCP server, so the memory guard's refusal comes before any header or handshake.
import { createServer, type Server, type ServerOpts, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { proxiedRemote, ProxyProtocolError, readProxyHeader, type ProxyHeader } from '../proxy/index.js';
import { acceptedSocketOf, type TlsEndpoint } from '../tls/index.js';
import type { ConnectionIntro } from './connection.js';
import { hostPort } from '../listeners/host-port.js';
import type { EchoStats } from './stats.js';

export interface AcceptServerOptions {
  readonly serverOptions: ServerOpts;
  /** A PROXY protocol v1/v2 header precedes each connection's bytes. */
  readonly proxy: boolean;
  readonly proxyTimeoutMs: number;
  readonly stats: EchoStats;
  readonly logger: Logger;
  /** A client is ready to be echoed (after its PROXY header and TLS handshake, where the kind has them). */
  readonly startEcho: (socket: Socket, intro: ConnectionIntro) => void;
  /** While true, new connections are closed as they are accepted (counted as `overload`). */
  readonly refusing: () => boolean;
  /** A socket waiting for its PROXY header closed instead. */
  readonly headerSettled: () => void;
}

export interface AcceptServer {
  readonly server: Server;
  /** Sockets still sending their PROXY header: open, not yet echoing; shutdown must see them too. */
  readonly awaitingHeader: ReadonlySet<Socket>;
}

export function createAcceptServer(options: AcceptServerOptions, tlsEndpoint: TlsEndpoint | undefined): AcceptServer {
  const { serverOptions, stats, logger, startEcho } = options;
  const awaitingHeader = new Set<Socket>();
  const headers = new WeakMap<Socket, ProxyHeader>();

  const afterProxyHeader = (socket: Socket, then: (header: ProxyHeader, remainder: Buffer) => void) => {
    awaitingHeader.add(socket);
    readProxyHeader(socket, { timeoutMs: options.proxyTimeoutMs }).then(
      ({ header, remainder }) => {
        awaitingHeader.delete(socket);
        if (socket.destroyed) options.headerSettled();
        else then(header, remainder);
      },
      (error: unknown) => {
        awaitingHeader.delete(socket);
        socket.destroy();
        const proxyError = error instanceof ProxyProtocolError ? error : undefined;
        // A bare connect-then-close (a balancer's TCP probe) is normal, not an error.
        const probe = proxyError?.reason === 'closed' && proxyError.bytesReceived === 0;
        if (!probe) {
          stats.proxyErrors[proxyError?.reason ?? 'error']++;
          if (logger.isLevelEnabled('debug')) {
            logger.debug({ event: 'proxy_protocol_error', reason: proxyError?.reason, detail: proxyError?.message, remote: hostPort(socket.remoteAddress, socket.remotePort) }, 'PROXY header missing or malformed');
          }
        }
        options.headerSettled();
      },
    );
  };

  const refuse = (socket: Socket) => {
    stats.rejected.overload++;
    if (logger.isLevelEnabled('debug')) logger.debug({ event: 'connection_rejected', reason: 'overload', remote: hostPort(socket.remoteAddress, socket.remotePort) }, 'connection rejected');
    socket.destroy();
  };
  const serverFor = (handle: (socket: Socket) => void) => createServer(serverOptions, (socket: Socket) => (options.refusing() ? refuse(socket) : handle(socket)));

  const build = (): Server => {
    if (tlsEndpoint) {
      // Accepted as plain TCP, then handed to a TLS server that never listens itself; on +proxy
      // listeners the PROXY header comes first, read on the raw socket (whatever followed it put back).
      const tlsServer = tlsEndpoint.createServer(serverOptions, (tlsSocket: TLSSocket) => {
        const raw = acceptedSocketOf(tlsSocket);
        const header = raw ? headers.get(raw) : undefined;
        startEcho(tlsSocket, { remote: header ? proxiedRemote(header) : undefined, proxy: header?.details });
      });
      if (!options.proxy) return serverFor((socket) => tlsServer.emit('connection', socket));
      return serverFor((socket) =>
        afterProxyHeader(socket, (header, remainder) => {
          headers.set(socket, header);
          if (remainder.length > 0) socket.unshift(remainder);
          tlsServer.emit('connection', socket);
        }),
      );
    }
    if (options.proxy) {
      return serverFor((socket) =>
        afterProxyHeader(socket, (header, remainder) => startEcho(socket, { headerBytes: header.length, remote: proxiedRemote(header), initial: remainder, proxy: header.details })),
      );
    }
    return serverFor((socket) => startEcho(socket, {}));
  };
  return { server: build(), awaitingHeader };
}

/** Which options accepted sockets inherit from the listening socket (the rest are set per connection). */
export interface InheritedOptions {
  readonly noDelay: boolean;
  readonly keepAlive: boolean;
}

interface ListeningHandle {
  setNoDelay?: (enable: boolean) => number;
  setKeepAlive?: (enable: boolean, delaySeconds: number) => number;
}

/**
 * Linux copies TCP_NODELAY, SO_KEEPALIVE and the keepalive idle time from a listening socket to every
 * socket it accepts (and starts the keepalive timer): set on the listener, they save setsockopt calls
 * per connection (measurable under connection churn). Node has no public call for it, so this
 * reaches the listening handle; where that is not possible the caller sets them per connection.
 * `keepAliveMs` 0 leaves keepalive off.
 */
export function setOptionsForAccepted(server: Server, keepAliveMs: number): InheritedOptions {
  if (process.platform !== 'linux') return { noDelay: false, keepAlive: false };
  const handle = (server as Server & { _handle?: ListeningHandle })._handle;
  return {
    noDelay: handle?.setNoDelay?.(true) === 0,
    keepAlive: keepAliveMs > 0 && handle?.setKeepAlive?.(true, Math.floor(keepAliveMs / 1000)) === 0,
  };
}
