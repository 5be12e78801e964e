import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TcpBehaviour } from '../config/behaviour.js';
import { bindAddress } from '../config/types.js';
import type { TlsEndpoint } from '../tls/index.js';
import type { ProxyTlvDetails } from '../proxy/index.js';
import type { Logger } from 'pino';
import { observe } from '../metrics/bucket-histogram.js';
import { EchoConnection, type ConnectionIntro } from './connection.js';
import { createAcceptTrouble } from './accept-trouble.js';
import { descriptorBudget, procDescriptors, type DescriptorSource } from './descriptors.js';
import { createAcceptServer, setOptionsForAccepted, type InheritedOptions } from './server.js';
import type { AcceptErrorCode, ByteTotals, CloseReason, EchoStats, RejectReason } from './stats.js';
import { hostPort } from '../listeners/host-port.js';

export interface EchoListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  /** 0 or absent = no cap. */
  readonly maxLifetimeMs?: number;
  /** Test behaviours for this listener's connections; absent = the plain echo. */
  readonly behaviour?: TcpBehaviour;
  /** TCP keepalive on accepted connections: probes after this long without traffic; 0 or absent = off. */
  readonly keepAliveMs?: number;
  /** highWaterMark of accepted sockets (absent = Node's default). */
  readonly maxPendingBytes?: number;
  /** For tests: the process's descriptor limit and how many are open (default: read from /proc on Linux). */
  readonly descriptors?: DescriptorSource;
  /** TLS listeners: makes the certificate, key and handshake handling (files are read at listen()). */
  readonly tls?: () => Promise<TlsEndpoint>;
  /**
   * One of several processes serving this port (ECHO_WORKERS): bind a socket of its own with
   * SO_REUSEPORT, so the kernel spreads new connections evenly over the workers. Only for a fixed
   * port: on port 0 the workers share the primary's socket.
   */
  readonly reusePort?: boolean;
  /** A PROXY protocol v1/v2 header precedes each connection's bytes. */
  readonly proxy?: boolean;
  readonly proxyTimeoutMs: number;
  /** The banner line for a new client (by its address and PROXY v2 details), or undefined when banners are off. */
  readonly banner?: (client: string, proxy?: ProxyTlvDetails) => Buffer;
  readonly stats: EchoStats;
  readonly logger: Logger;
  readonly now: () => number;
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
  /** How many connections this listener takes before refusing (configured limit or descriptor budget); Infinity = no cap. */
  readonly connectionCap: number;
  /** The most one stalled connection can make the service hold, for the memory guard. */
  readonly maxHeldBytesPerConnection: number;
  /** The memory guard: refuse new connections (counted as `overload`) while true. */
  refuseNewConnections(refuse: boolean): void;
  /** The echoing connections, for the memory guard to choose from. */
  openConnections(): Iterable<EchoConnection>;
}

/** Node's default socket buffer (highWaterMark) where none is set, and the most one socket read returns. */
const DEFAULT_STREAM_BUFFER_BYTES = 64 * 1024;
const MAX_READ_BYTES = 64 * 1024;

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
    observe(stats.durations, durationSeconds);
    if (isIdle()) wakeIdle();
  };
  const wakeIdle = () => {
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const wake of waiters) wake();
  };

  const connectionOptions = {
    idleTimeoutMs: options.idleTimeoutMs,
    maxLifetimeMs: options.maxLifetimeMs ?? 0,
    stats,
    logger,
    now: options.now,
    onClosed,
    ...(options.behaviour ? { behaviour: options.behaviour } : {}),
  };

  const trouble = createAcceptTrouble(logger, () => connections.size);

  // highWaterMark: with the pause in onData, it bounds what a client that does not read costs.
  const serverOptions = { allowHalfOpen: true, ...(options.maxPendingBytes ? { highWaterMark: options.maxPendingBytes } : {}) };
  // An echo is a latency test tool: never hold a reply back for Nagle. Set once on the listening
  // socket where accepted sockets inherit it, else on each connection.
  let inherited: InheritedOptions = { noDelay: false, keepAlive: false };
  const keepAliveMs = options.keepAliveMs ?? 0;
  const startEcho = (socket: Socket, intro: ConnectionIntro) => {
    stats.accepted++;
    if (!inherited.noDelay) socket.setNoDelay(true);
    if (keepAliveMs > 0 && !inherited.keepAlive) socket.setKeepAlive(true, keepAliveMs);
    trouble.accepted(connections.size + 1);
    // The peer address costs a syscall: only the banner needs it here.
    const banner = options.banner?.(intro.remote ?? hostPort(socket.remoteAddress, socket.remotePort), intro.proxy);
    if (banner) socket.write(banner);
    const connection = new EchoConnection(socket, connectionOptions, banner ? { ...intro, bannerBytes: banner.length } : intro);
    connections.add(connection);
    if (drainQuietMs !== undefined) connection.beginDrain(drainQuietMs);
    // `proxy`: the PROXY v2 header's decoded TLVs, only where it had any.
    if (logger.isLevelEnabled('debug')) logger.debug({ event: 'connection_opened', remote: connection.remote, proxy: intro.proxy }, 'connection opened');
  };

  // While the memory guard refuses, new connections are closed as they are accepted.
  let refusing = false;
  let awaitingHeader: ReadonlySet<Socket> = new Set();
  const isIdle = () => connections.size === 0 && awaitingHeader.size === 0;
  const acceptOptions = {
    serverOptions,
    proxy: options.proxy === true,
    proxyTimeoutMs: options.proxyTimeoutMs,
    stats,
    logger,
    startEcho,
    refusing: () => refusing,
    headerSettled: () => {
      if (isIdle()) wakeIdle();
    },
  };

  // Built at listen(): a TLS listener reads its certificate files then.
  let server: Server = createServer();
  let connectionCap = options.maxConnections > 0 ? options.maxConnections : Infinity;
  let fdLimit: number | undefined;

  const applyDescriptorBudget = () => {
    const budget = descriptorBudget(options.descriptors ?? procDescriptors);
    if (!budget) return;
    fdLimit = budget.fdLimit;
    if (budget.connections < connectionCap) {
      if (options.maxConnections > 0) {
        logger.warn({ event: 'fd_budget', fdLimit, fdsInUse: budget.fdsInUse, connectionBudget: budget.connections, maxConnections: options.maxConnections }, 'ECHO_MAX_CONNECTIONS exceeds what the descriptor limit allows; raise the limit (ulimit -n)');
      }
      connectionCap = budget.connections;
    }
    logger.debug({ event: 'fd_budget', fdLimit, fdsInUse: budget.fdsInUse, connectionCap }, 'connection cap');
    server.maxConnections = connectionCap;
  };
  const onDrop = (data?: { remoteAddress?: string; remotePort?: number }) => {
    const reason: RejectReason = options.maxConnections > 0 && connections.size >= options.maxConnections ? 'max_connections' : 'fd_limit';
    stats.rejected[reason]++;
    if (reason === 'fd_limit') {
      trouble.starts({ reason, fdLimit, connectionCap }, 'file-descriptor budget used up: refusing new connections until some close').refused++;
    } else {
      trouble.refusedDuringBurst();
    }
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ event: 'connection_rejected', reason, remote: hostPort(data?.remoteAddress, data?.remotePort) }, 'connection rejected');
    }
  };
  // After listen() succeeded, accept errors must not bring the process down; the listener keeps
  // listening and the next accept that works ends the burst.
  const onServerError = (error: NodeJS.ErrnoException) => {
    const code: AcceptErrorCode = error.code === 'EMFILE' || error.code === 'ENFILE' ? error.code : 'other';
    stats.acceptErrors[code]++;
    trouble.starts({ err: error, code: error.code }, `echo listener cannot accept: ${error.code ?? error.message}`).errors++;
  };

  return {
    async listen() {
      ({ server, awaitingHeader } = createAcceptServer(acceptOptions, options.tls ? await options.tls() : undefined));
      if (options.maxConnections > 0) server.maxConnections = options.maxConnections;
      server.on('drop', onDrop);
      // Port 0 with a socket per worker would give each worker a different port.
      const reusePort = options.reusePort === true && options.port !== 0;
      server.listen({ host: bindAddress(options.host), port: options.port, ...(reusePort ? { reusePort } : {}) });
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error))]);
      server.on('error', onServerError);
      inherited = setOptionsForAccepted(server, keepAliveMs);
      applyDescriptorBudget();
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
      return connections.size + awaitingHeader.size;
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
      if (isIdle()) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    closeAll() {
      for (const socket of awaitingHeader) socket.destroy();
      for (const connection of connections) connection.forceClose();
    },
    get connectionCap() {
      return connectionCap;
    },
    // A stalled client fills the socket's read buffer while reading is paused, as well as its write
    // buffer (both ECHO_MAX_PENDING_BYTES), and one read of up to 64 KiB is in hand.
    maxHeldBytesPerConnection: 2 * (options.maxPendingBytes ?? DEFAULT_STREAM_BUFFER_BYTES) + MAX_READ_BYTES,
    refuseNewConnections(refuse) {
      refusing = refuse;
    },
    openConnections: () => connections,
  };
}
