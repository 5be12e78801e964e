// GET /connections: the open echo connections, read from their sockets when asked (tcp/connection-table.ts),
// so the echo path pays nothing for it. Bounded (?limit=, at most 1000) and sorted (?sort=age|bytes|idle).
import type { FastifyPluginAsync } from 'fastify';
import { CONNECTION_SORTS, type ConnectionsPage, type ConnectionsQuery } from '../tcp/connection-table.js';
import { bearerCheck, unauthorized } from './bearer.js';

/** This process's listing, or the merge of its workers' (ECHO_WORKERS > 1). */
export type ConnectionsSource = (query: ConnectionsQuery) => ConnectionsPage | Promise<ConnectionsPage>;

export interface ConnectionsRouteOptions {
  readonly connections: ConnectionsSource;
  readonly token?: string | undefined;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export const connectionsRoute: FastifyPluginAsync<ConnectionsRouteOptions> = async (app, { connections, token }) => {
  const authorized = bearerCheck(token);
  app.get<{ Querystring: ConnectionsQuery }>(
    '/connections',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT }, sort: { type: 'string', enum: [...CONNECTION_SORTS], default: 'age' } },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      if (!authorized(request.headers.authorization)) return unauthorized(reply, 'connections need Authorization: Bearer <token>');
      reply.header('cache-control', 'no-store');
      const { limit, sort } = request.query;
      const { total, connections: rows } = await connections({ sort, limit });
      return { total, sort, limit, connections: rows };
    },
  );
};
