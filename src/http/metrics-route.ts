import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../metrics.js';

export const metricsRoute: FastifyPluginAsync<{ metrics: Metrics }> = async (app, { metrics }) => {
  app.get('/metrics', async (request, reply) => {
    const { contentType, body } = await metrics.render(request.headers.accept);
    return reply.type(contentType).header('cache-control', 'no-store').send(body);
  });
};
