// Admission control for the sidecar's HTTP server: whatever clients send, the connections it holds and
// the requests it takes on at once stay bounded, and so do the memory they cost and the event-loop
// time one turn can spend on them. Connections that go past a limit are closed, counted by reason and
// logged at debug.
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
}

export interface AdmissionStats {
  /** Connections closed by the sidecar, by reason. */
  readonly shed: Readonly<Record<ShedReason, number>>;
  readonly connections: number;
  /** Requests parsed whose response has not closed yet, over all connections. */
  readonly inFlight: number;
}

export interface Admission {
  readonly stats: AdmissionStats;
  /** The HTTP server (for Fastify's serverFactory): `handler` sees only the requests admitted. */
  createServer(options: ServerOptions, handler: RequestListener): Server;
}

interface Connection {
  /** Requests parsed whose response has not closed yet. */
  inFlight: number;
  shed: boolean;
  /** Requests are admitted as the parser hands them over (else in the request handler). */
  atParser: boolean;
}

/** Node's HTTP parser: a request whose onIncoming returns this is a parse error, and parsing stops there. */
interface HttpParser {
  onIncoming: ((request: IncomingMessage, keepAlive: boolean) => number) | null;
}
const STOP_PARSING = -1;

export function createAdmission(limits: AdmissionLimits, logger: Logger): Admission {
  // Insertion order is accept order: the first entry is the oldest connection.
  const open = new Map<Socket, Connection>();
  const shed: Record<ShedReason, number> = { pipelined: 0, max_connections: 0 };
  let inFlight = 0;

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
    const connection: Connection = { inFlight: 0, shed: false, atParser: false };
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
    },
    createServer(options, handler) {
      const server = createServer({ ...options, ServerResponse: CountedResponse as typeof ServerResponse }, (request, response) => {
        const socket = request.socket as Socket;
        const connection = open.get(socket);
        if (connection === undefined || connection.shed) return;
        if (!connection.atParser) {
          if (!admit(socket, connection)) return;
          (response as CountedResponse).counted = true;
        }
        handler(request, response);
      });
      // After http's own 'connection' listener, which gives the socket its parser.
      server.on('connection', onConnection);
      return server;
    },
  };
}
