import type { FastifyPluginAsync } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MetricsRenderer } from '../metrics/exposition.js';
import { singleFlight } from './single-flight.js';

export const metricsRoute: FastifyPluginAsync<{ metrics: MetricsRenderer; token?: string | undefined }> = async (app, { metrics, token }) => {
  const authorized = token ? bearerCheck(token) : () => true;
  const render = singleFlight((accept) => metrics.render(accept));
  app.get('/metrics', async (request, reply) => {
    // Before any work: a request without the token never waits for or starts a render.
    if (!authorized(request.headers.authorization)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').header('cache-control', 'no-store').send({ error: 'Unauthorized', message: 'metrics need Authorization: Bearer <token>' });
    }
    const { contentType, body } = await render(request.headers.accept);
    return reply.type(contentType).header('cache-control', 'no-store').send(body);
  });
};

/**
 * Compares `Authorization: Bearer <token>` in constant time: digests of both sides are compared,
 * so neither the content nor the length of the token leaks through timing.
 */
function bearerCheck(token: string): (header: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (header) => {
    const match = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}
