import Fastify, { LogController, type FastifyError } from 'fastify';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { MetricsRenderer } from '../metrics.js';
import { healthRoutes, type HealthSource } from './health.js';
import { metricsRoute } from './metrics-route.js';

export interface SidecarOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly health: HealthSource;
  /** Deadline for headers, for a whole request and for an idle connection (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** When set, /metrics requires `Authorization: Bearer <token>`. */
  readonly metricsToken?: string | undefined;
  readonly metrics: MetricsRenderer;
}

export interface Sidecar {
  listen(): Promise<AddressInfo>;
  readonly address: AddressInfo | undefined;
  /**
   * Stops listening and closes. In-flight requests get `graceMs` to finish; connections still open
   * then (a client holding one without a complete request) are cut. Resolves true if none had to be.
   */
  close(graceMs?: number): Promise<boolean>;
}

/** Probes and scrapes send a few hundred bytes of headers; Node's default allows 16 KiB. */
const MAX_HEADER_BYTES = 8192;
const KEEP_ALIVE_TIMEOUT_MS = 5000;

export function createSidecar({ host, port, logger, health, metrics, requestTimeoutMs = 10_000, metricsToken }: SidecarOptions): Sidecar {
  const app = Fastify({
    loggerInstance: logger,
    // Probes every few seconds would drown the logs.
    logController: new LogController({ disableRequestLogging: true }),
    // Probes and scrapes are small and quick; nothing a client sends may hold the sidecar for long.
    // A slowloris (headers a byte at a time) is cut at headersTimeout, checked every
    // connectionsCheckingInterval; an idle connection at connectionTimeout.
    connectionTimeout: requestTimeoutMs,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: Math.min(KEEP_ALIVE_TIMEOUT_MS, requestTimeoutMs),
    http: {
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, requestTimeoutMs),
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    bodyLimit: 1024,
    routerOptions: { maxParamLength: 100 },
    return503OnClosing: false, // readiness must answer 503 itself, with the sidecar up to the end
  });

  app.register(healthRoutes, { health });
  app.register(metricsRoute, { metrics, token: metricsToken });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'sidecar request failed');
    else request.log.debug({ err: error }, 'bad sidecar request');
    // Never echo internals or stack traces to the client.
    reply.code(status).send({ error: status >= 500 ? 'Internal Server Error' : 'Bad Request', message: status >= 500 ? 'internal error' : error.message });
  });

  return {
    async listen() {
      // Listening on app.server directly: app.listen() logs a line per interface, and main logs one line for both listeners.
      await app.ready();
      app.server.listen({ host, port });
      await Promise.race([once(app.server, 'listening'), once(app.server, 'error').then(([error]) => Promise.reject(error))]);
      return app.server.address() as AddressInfo;
    },
    get address() {
      return (app.server.address() as AddressInfo | null) ?? undefined;
    },
    async close(graceMs = Infinity) {
      let cut = false;
      const timer = Number.isFinite(graceMs)
        ? setTimeout(() => {
            cut = true;
            app.server.closeAllConnections();
          }, graceMs)
        : undefined;
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
      }
      return !cut;
    },
  };
}
