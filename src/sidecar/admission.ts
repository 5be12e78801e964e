// Admission control for the sidecar's HTTP server: whatever clients send, the connections it holds,
// the requests it holds and the requests it handles per second stay bounded, and so do the memory
// and CPU they cost and the length of an event-loop turn. Connections that go past a limit are
// closed, counted by reason and logged at debug; requests beyond the rate wait their turn.
import { createServer, ServerResponse, type IncomingMessage, type RequestListener, type Server, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

/**
 * Why the sidecar closed a connection: `pipelined` (a request beyond the limit in flight on it),
 * `max_connections` (the oldest connection, closed to make room for a new one).
 */
export const SHED_REASONS = ['pipelined', 'max_connections'] as const;
export type ShedReason = (typeof SHED_REASONS)[number];

export interface AdmissionLimits {
  /** Open connections; a new one beyond it closes the oldest, so a fresh probe always gets in. */
  readonly maxConnections: number;
  /** Requests one connection may have in flight (sent before reading the answers); one more closes it. */
  readonly maxPipelined: number;
  /**
   * Requests handled per second, in bursts of up to `burst` (a token bucket); beyond it they wait, in
   * the order they came. A connection's first request is handled at once: that is how a probe comes.
   */
  readonly requestsPerSecond: number;
  readonly burst: number;
}

export interface AdmissionStats {
  /** Connections closed by the sidecar, by reason. */
  readonly shed: Readonly<Record<ShedReason, number>>;
  readonly connections: number;
  /** Requests parsed whose response has not closed yet, over all connections. */
  readonly inFlight: number;
  /** Requests that waited for the request rate. */
  readonly delayed: number;
}

export interface Admission {
  readonly stats: AdmissionStats;
  /** The HTTP server (for Fastify's serverFactory): `handler` sees only the requests admitted. */
  createServer(options: ServerOptions, handler: RequestListener): Server;
}

interface Connection {
  /** Requests parsed whose response has not closed yet (waiting ones included). */
  inFlight: number;
  /** Requests handed to the route so far. */
  handled: number;
  shed: boolean;
  /** Requests are admitted as the parser hands them over (else in the request handler). */
  atParser: boolean;
}

interface Delayed {
  readonly connection: Connection;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
}

/** Node's HTTP parser: a request whose onIncoming returns this is a parse error, and parsing stops there. */
interface HttpParser {
  onIncoming: ((request: IncomingMessage, keepAlive: boolean) => number) | null;
}
const STOP_PARSING = -1;
const DELAYED_CHECK_MS = 10;

export function createAdmission(limits: AdmissionLimits, logger: Logger, now: () => number = () => performance.now()): Admission {
  // Insertion order is accept order: the first entry is the oldest connection.
  const open = new Map<Socket, Connection>();
  const shed: Record<ShedReason, number> = { pipelined: 0, max_connections: 0 };
  let inFlight = 0;
  let delayedCount = 0;
  // At most maxConnections x maxPipelined entries: each is a request in flight on an open connection.
  let delayed: Delayed[] = [];
  let tokens = limits.burst;
  let refilledAt = now();
  let timer: NodeJS.Timeout | undefined;
  let route: RequestListener = () => undefined;

  const refill = () => {
    const t = now();
    tokens = Math.min(limits.burst, tokens + ((t - refilledAt) * limits.requestsPerSecond) / 1000);
    refilledAt = t;
  };

  const handle = (connection: Connection, request: IncomingMessage, response: ServerResponse) => {
    connection.handled++;
    route(request, response);
  };

  const handleDelayed = () => {
    timer = undefined;
    refill();
    let next = 0;
    for (; next < delayed.length && tokens >= 1; next++) {
      const { connection, request, response } = delayed[next] as Delayed;
      if (connection.shed || request.socket?.destroyed) continue;
      tokens--;
      handle(connection, request, response);
    }
    delayed = delayed.slice(next);
    if (delayed.length > 0) timer = setTimeout(handleDelayed, DELAYED_CHECK_MS);
  };

  const forget = (socket: Socket, connection: Connection) => {
    if (!open.delete(socket)) return;
    inFlight -= connection.inFlight;
    connection.inFlight = 0;
  };

  const close = (socket: Socket, connection: Connection, reason: ShedReason) => {
    connection.shed = true;
    shed[reason]++;
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ event: 'http_connection_shed', reason, inFlight: connection.inFlight, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort }, 'sidecar connection closed');
    }
    forget(socket, connection);
    socket.destroy();
  };

  const admit = (socket: Socket, connection: Connection): boolean => {
    if (connection.shed) return false;
    if (connection.inFlight >= limits.maxPipelined) {
      close(socket, connection, 'pipelined');
      return false;
    }
    connection.inFlight++;
    inFlight++;
    return true;
  };

  const dispatch = (connection: Connection, request: IncomingMessage, response: ServerResponse) => {
    if (connection.shed) return;
    refill();
    if (connection.handled === 0 || (tokens >= 1 && delayed.length === 0)) {
      // First requests go on even with the bucket empty, and push it into a debt of at most one burst:
      // a flood of new connections delays the others, but only for a moment once it stops.
      tokens = Math.max(-limits.burst, tokens - 1);
      handle(connection, request, response);
      return;
    }
    delayedCount++;
    delayed.push({ connection, request, response });
    timer ??= setTimeout(handleDelayed, DELAYED_CHECK_MS);
  };

  function release(this: CountedResponse) {
    const connection = open.get(this.req.socket as Socket);
    if (!this.counted || connection === undefined) return;
    connection.inFlight--;
    inFlight--;
  }

  /** Node creates one for every request it parsed, including those it answers itself (400 without Host, 417). */
  class CountedResponse extends ServerResponse {
    /** Its request went through admit(): at the parser every one does, else only those the handler admitted. */
    counted: boolean;
    constructor(request: IncomingMessage) {
      super(request);
      this.counted = open.get(request.socket as Socket)?.atParser === true;
      this.once('close', release);
    }
  }

  const onConnection = (socket: Socket) => {
    const connection: Connection = { inFlight: 0, handled: 0, shed: false, atParser: false };
    open.set(socket, connection);
    socket.once('close', () => forget(socket, connection));
    if (open.size > limits.maxConnections) {
      const [oldest, record] = open.entries().next().value as [Socket, Connection];
      close(oldest, record, 'max_connections');
    }
    // Node parses a whole read (up to 64 KiB: some 2,000 small pipelined requests) in one go and emits
    // every request in it; destroying the socket does not stop that. Refusing a request where the
    // parser hands it over does: the parse fails there and the rest of the read is dropped unparsed.
    const parser = (socket as Socket & { parser?: HttpParser | null }).parser;
    const onIncoming = parser?.onIncoming;
    if (parser && typeof onIncoming === 'function') {
      connection.atParser = true;
      parser.onIncoming = (request, keepAlive) => (admit(socket, connection) ? onIncoming(request, keepAlive) : STOP_PARSING);
    }
  };

  return {
    stats: {
      shed,
      get connections() {
        return open.size;
      },
      get inFlight() {
        return inFlight;
      },
      get delayed() {
        return delayedCount;
      },
    },
    createServer(options, handler) {
      route = handler;
      const server = createServer({ ...options, ServerResponse: CountedResponse as typeof ServerResponse }, (request, response) => {
        const socket = request.socket as Socket;
        const connection = open.get(socket);
        if (connection === undefined || connection.shed) return;
        if (!connection.atParser) {
          if (!admit(socket, connection)) return;
          (response as CountedResponse).counted = true;
        }
        // Node hands over every request of a read before it runs microtasks: requests go on only once the
        // whole read is parsed, so those of a connection closed for pipelining cost no routing.
        queueMicrotask(() => dispatch(connection, request, response));
      });
      // After http's own 'connection' listener, which gives the socket its parser.
      server.on('connection', onConnection);
      server.once('close', () => clearTimeout(timer));
      return server;
    },
  };
}
