// GET /connections: the open echo connections, read from their sockets when asked, so the echo
// path pays nothing for it. Bounded (?limit=, at most 1000) and sorted (?sort=age|bytes|idle).
import type { FastifyPluginAsync } from 'fastify';
import type { ProxyTlvDetails } from '../proxy/index.js';
import type { SocketView } from '../tcp/connection-view.js';
import type { ByteTotals } from '../tcp/stats.js';
import { bearerCheck, unauthorized } from './bearer.js';

/** What the route reads of a connection (an EchoConnection). */
export interface ViewableConnection {
  readonly openedAt: number;
  readonly remote: string;
  readonly stalled: boolean;
  readonly proxyDetails: ProxyTlvDetails | undefined;
  bytes(): ByteTotals;
  pendingWriteBytes(): number;
  view(): SocketView;
}

export interface OpenConnection {
  readonly listener: string;
  readonly connection: ViewableConnection;
}

/** The open connections of this process; absent where they live in other processes (ECHO_WORKERS > 1). */
export type ConnectionsSource = () => Iterable<OpenConnection>;

export interface ConnectionsRouteOptions {
  readonly connections: ConnectionsSource | undefined;
  readonly now: () => number;
  readonly token?: string | undefined;
}

const SORTS = ['age', 'bytes', 'idle'] as const;
type Sort = (typeof SORTS)[number];
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** When a view last saw a connection's byte count move; kept per connection only once a view has looked. */
interface LastSeen {
  bytes: number;
  at: number;
  /** The first view already found bytes: when they came is unknown until the count moves again. */
  known: boolean;
}

interface Row {
  readonly listener: string;
  readonly connection: ViewableConnection;
  readonly bytes: ByteTotals;
  readonly ageMs: number;
  /** null: not known yet (see LastSeen.known). */
  readonly idleMs: number | null;
}

const order: Record<Sort, (a: Row, b: Row) => number> = {
  age: (a, b) => b.ageMs - a.ageMs,
  bytes: (a, b) => b.bytes.received + b.bytes.sent - (a.bytes.received + a.bytes.sent),
  // Unknown idle times last.
  idle: (a, b) => (b.idleMs ?? -1) - (a.idleMs ?? -1),
};

const seconds = (ms: number) => Math.round(ms) / 1000;

export const connectionsRoute: FastifyPluginAsync<ConnectionsRouteOptions> = async (app, { connections, now, token }) => {
  const authorized = bearerCheck(token);
  // Time since the last byte, without a look at the per-chunk path: the socket's byte counts are
  // compared with what the previous view saw. Its resolution is the time between views.
  const lastSeen = new WeakMap<ViewableConnection, LastSeen>();
  const idleMs = (connection: ViewableConnection, { received, sent }: ByteTotals, at: number): number | null => {
    const bytes = received + sent;
    const seen = lastSeen.get(connection);
    if (seen === undefined) {
      lastSeen.set(connection, { bytes, at: bytes === 0 ? connection.openedAt : at, known: bytes === 0 });
      return bytes === 0 ? at - connection.openedAt : null;
    }
    if (seen.bytes !== bytes) {
      seen.bytes = bytes;
      seen.at = at;
      seen.known = true;
    }
    return seen.known ? at - seen.at : null;
  };

  app.get<{ Querystring: { limit: number; sort: Sort } }>(
    '/connections',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT }, sort: { type: 'string', enum: [...SORTS], default: 'age' } },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      if (!authorized(request.headers.authorization)) return unauthorized(reply, 'connections need Authorization: Bearer <token>');
      reply.header('cache-control', 'no-store');
      if (connections === undefined) {
        return reply.code(501).send({ error: 'Not Implemented', message: 'connections live in the worker processes (ECHO_WORKERS > 1): /connections lists those of a single process only' });
      }
      const { limit, sort } = request.query;
      const at = now();
      // Cheap numbers for every connection (to sort on); addresses and TLS details only for those shown.
      const rows: Row[] = [];
      for (const { listener, connection } of connections()) {
        const bytes = connection.bytes();
        rows.push({ listener, connection, bytes, ageMs: at - connection.openedAt, idleMs: idleMs(connection, bytes, at) });
      }
      rows.sort(order[sort]);
      return {
        total: rows.length,
        sort,
        limit,
        connections: rows.slice(0, limit).map(({ listener, connection, bytes, ageMs, idleMs }) => {
          const { peer, local, tls } = connection.view();
          return {
            listener,
            client: connection.remote,
            peer,
            local,
            ...(tls ? { tls } : {}),
            ...(connection.proxyDetails ? { proxy: connection.proxyDetails } : {}),
            bytesIn: bytes.received,
            bytesOut: bytes.sent,
            ageSeconds: seconds(ageMs),
            idleSeconds: idleMs === null ? null : seconds(idleMs),
            readingPaused: connection.stalled,
            pendingWriteBytes: connection.pendingWriteBytes(),
          };
        }),
      };
    },
  );
};
