import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { Logger } from 'pino';
import { EchoConnection } from './connection.js';
import type { ByteTotals, CloseReason, EchoStats } from './stats.js';

export interface EchoListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly stats: EchoStats;
  readonly logger: Logger;
  readonly now: () => number;
  readonly recordDuration: (seconds: number) => void;
}

export interface EchoListener {
  listen(): Promise<AddressInfo>;
  /** True while bound and accepting. */
  readonly accepting: boolean;
  readonly address: AddressInfo | undefined;
  readonly activeConnections: number;
  /** Bytes of every connection so far, closed and open. */
  byteTotals(): ByteTotals;
  pendingWriteBytes(): number;
  /** Stop accepting; open connections are untouched. */
  stopAccepting(): void;
  /** Tell each open connection to close once it has gone quiet. */
  drain(quietMs: number): void;
  /** Resolves when no connection is open. */
  idle(): Promise<void>;
  /** Close every connection still open (the shutdown deadline). */
  closeAll(): void;
}

export function createEchoListener(options: EchoListenerOptions): EchoListener {
  const { stats, logger } = options;
  const connections = new Set<EchoConnection>();
  let idleWaiters: Array<() => void> = [];
  let accepting = false;
  let drainQuietMs: number | undefined;

  const onClosed = (connection: EchoConnection, reason: CloseReason, durationSeconds: number) => {
    connections.delete(connection);
    const { received, sent } = connection.bytes();
    stats.closedBytes.received += received;
    stats.closedBytes.sent += sent;
    stats.closed[reason]++;
    options.recordDuration(durationSeconds);
    if (connections.size === 0 && idleWaiters.length > 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const wake of waiters) wake();
    }
  };

  const connectionOptions = {
    idleTimeoutMs: options.idleTimeoutMs,
    stats,
    logger,
    now: options.now,
    onClosed,
  };

  // noDelay: an echo is a latency test tool; never hold a reply back for Nagle.
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
    stats.accepted++;
    const connection = new EchoConnection(socket, connectionOptions);
    connections.add(connection);
    if (drainQuietMs !== undefined) connection.beginDrain(drainQuietMs);
    if (logger.isLevelEnabled('debug')) logger.debug({ event: 'connection_opened', remote: connection.remote }, 'connection opened');
  });
  if (options.maxConnections > 0) server.maxConnections = options.maxConnections;

  server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
    stats.rejected.max_connections++;
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ event: 'connection_rejected', reason: 'max_connections', remote: `${data?.remoteAddress}:${data?.remotePort}` }, 'connection rejected');
    }
  });
  // After listen() succeeded, accept errors (EMFILE, ...) must not bring the process down.
  const onServerError = (error: Error) => logger.warn({ err: error, event: 'accept_error' }, 'echo listener error');

  return {
    async listen() {
      server.listen({ host: options.host, port: options.port });
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error))]);
      server.on('error', onServerError);
      accepting = true;
      return server.address() as AddressInfo;
    },
    get accepting() {
      return accepting && server.listening;
    },
    get address() {
      return (server.address() as AddressInfo | null) ?? undefined;
    },
    get activeConnections() {
      return connections.size;
    },
    byteTotals() {
      let received = stats.closedBytes.received;
      let sent = stats.closedBytes.sent;
      for (const connection of connections) {
        const bytes = connection.bytes();
        received += bytes.received;
        sent += bytes.sent;
      }
      return { received, sent };
    },
    pendingWriteBytes() {
      let pending = 0;
      for (const connection of connections) pending += connection.pendingWriteBytes();
      return pending;
    },
    stopAccepting() {
      accepting = false;
      // Closes the listening socket at once; server.close()'s callback would wait for every connection.
      if (server.listening) server.close();
    },
    drain(quietMs: number) {
      drainQuietMs = quietMs;
      for (const connection of connections) connection.beginDrain(quietMs);
    },
    idle() {
      if (connections.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    closeAll() {
      for (const connection of connections) connection.forceClose();
    },
  };
}
