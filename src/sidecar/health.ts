import type { FastifyPluginAsync } from 'fastify';

export interface HealthSource {
  /** The process can serve: its event loop is turning. */
  live(): boolean;
  /** The echo listener is bound and accepting and no shutdown has begun. */
  ready(): boolean;
  /** Detail for humans at /healthz. */
  detail(): Record<string, unknown>;
}

const noStore = { 'cache-control': 'no-store' };

/** /livez, /readyz and /healthz, Kubernetes style: probes read the status code, humans read the body. */
export const healthRoutes: FastifyPluginAsync<{ health: HealthSource }> = async (app, { health }) => {
  app.get('/livez', async (_request, reply) => {
    const live = health.live();
    return reply.code(live ? 200 : 503).headers(noStore).send({ status: live ? 'ok' : 'event loop stalled' });
  });
  app.get('/readyz', async (_request, reply) => {
    const ready = health.ready();
    return reply.code(ready ? 200 : 503).headers(noStore).send({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/healthz', async (_request, reply) => {
    return reply.code(health.ready() ? 200 : 503).headers(noStore).send(health.detail());
  });
};
