import type { FastifyPluginAsync } from 'fastify';
import type { MetricsRenderer } from '../metrics/exposition.js';
import { bearerCheck, unauthorized } from './bearer.js';
import { singleFlight } from './single-flight.js';

export const metricsRoute: FastifyPluginAsync<{ metrics: MetricsRenderer; token?: string | undefined }> = async (app, { metrics, token }) => {
  const authorized = bearerCheck(token);
  const render = singleFlight((accept) => metrics.render(accept));
  app.get('/metrics', async (request, reply) => {
    // Before any work: a request without the token never waits for or starts a render.
    if (!authorized(request.headers.authorization)) return unauthorized(reply, 'metrics need Authorization: Bearer <token>');
    const { contentType, body } = await render(request.headers.accept);
    return reply.type(contentType).header('cache-control', 'no-store').send(body);
  });
};
