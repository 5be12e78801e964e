import Fastify, { LogController, type FastifyError } from 'fastify';
import { once } from 'node:events';
import type { ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { bindAddress } from '../config/types.js';
import { descriptorHeadroom, procDescriptors } from '../tcp/descriptors.js';
import type { MetricsRenderer } from '../metrics/exposition.js';
import { createAdmission } from './admission.js';
import { registerAdmissionMetrics } from './admission-metrics.js';
import { healthRoutes, type HealthSource } from './health.js';
import { metricsRoute } from './metrics-route.js';
import { connectionsRoute, type ConnectionsSource } from './connections-route.js';
import { statusPageRoutes } from './status-page.js';

export interface SidecarOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly health: HealthSource;
  /** Deadline for headers, for a whole request and for an idle connection (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** When set, /metrics and /connections require `Authorization: Bearer <token>`. */
  readonly metricsToken?: string | undefined;
  readonly metrics: MetricsRenderer;
  /** Where the sidecar's own metrics (echo_http_*) are registered. */
  readonly registry: Registry;
  /** The open echo connections /connections lists: this process's, or its workers'. */
  readonly connections: ConnectionsSource;
  /** The process's descriptor limit (default: read from /proc/self/limits). */
  readonly descriptorLimit?: number | undefined;
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

/**
 * Probes and scrapes send a few hundred bytes of headers (a bearer token at most 1 KiB more); Node's
 * default allows 16 KiB. Every header byte parsed becomes a string to collect: a client that
 * pipelines requests with large headers makes garbage in proportion to this limit.
 */
const MAX_HEADER_BYTES = 4096;
const KEEP_ALIVE_TIMEOUT_MS = 5000;

/**
 * Probes and scrapes send one request and read the answer; nothing legitimate pipelines deeply. A
 * connection with more requests in flight is closed: what one connection can make the sidecar hold.
 */
const MAX_PIPELINED_REQUESTS = 4;
/**
 * Requests the sidecar handles per second, in bursts of up to 32 (30-50 us each: at most a tenth of a
 * core, and short event-loop turns); beyond it they wait. Probes and scrapes come a few a second, and
 * a connection's first request (a probe's) is handled at once whatever the rate.
 */
const REQUESTS_PER_SECOND = 2000;
const REQUEST_BURST = 32;

/**
 * Open connections: half the descriptors the echo listeners leave free (tcp/descriptors.ts), so that no
 * number of sidecar clients can exhaust the descriptors and lock the probes out; 128 for any limit
 * from 2,560 up. A new connection beyond it closes the oldest, so a fresh probe always gets in.
 */
export function sidecarConnectionCap(descriptorLimit: number | undefined): number {
  return descriptorLimit === undefined ? MAX_CONNECTIONS_WITHOUT_LIMIT : Math.floor(descriptorHeadroom(descriptorLimit) / 2);
}
const MAX_CONNECTIONS_WITHOUT_LIMIT = 128;

export function createSidecar({ host, port, logger, health, metrics, registry, requestTimeoutMs = 10_000, metricsToken, connections, descriptorLimit = procDescriptors.limit() }: SidecarOptions): Sidecar {
  const admission = createAdmission(
    { maxPipelined: MAX_PIPELINED_REQUESTS, maxConnections: sidecarConnectionCap(descriptorLimit), requestsPerSecond: REQUESTS_PER_SECOND, burst: REQUEST_BURST },
    logger,
  );
  registerAdmissionMetrics(registry, admission.stats);
  // Probes and scrapes are small and quick; nothing a client sends may hold the sidecar for long.
  // A slowloris (headers a byte at a time) is cut at headersTimeout, checked every
  // connectionsCheckingInterval; an idle connection at the socket timeout (Fastify's connectionTimeout).
  const http: ServerOptions = {
    headersTimeout: requestTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, requestTimeoutMs),
    maxHeaderSize: MAX_HEADER_BYTES,
  };
  const app = Fastify({
    loggerInstance: logger,
    // Probes every few seconds would drown the logs.
    logController: new LogController({ disableRequestLogging: true }),
    // What Fastify would build from its timeout options, on a server whose handler sees only admitted requests.
    serverFactory: (handler) => {
      const server = admission.createServer(http, handler);
      server.keepAliveTimeout = Math.min(KEEP_ALIVE_TIMEOUT_MS, requestTimeoutMs);
      server.requestTimeout = requestTimeoutMs;
      server.setTimeout(requestTimeoutMs);
      return server;
    },
    bodyLimit: 1024,
    routerOptions: { maxParamLength: 100 },
    return503OnClosing: false, // readiness must answer 503 itself, with the sidecar up to the end
  });

  app.register(healthRoutes, { health });
  app.register(metricsRoute, { metrics, token: metricsToken });
  app.register(connectionsRoute, { connections, token: metricsToken });
  app.register(statusPageRoutes);

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

  let address: AddressInfo | undefined;
  return {
    async listen() {
      // Listening on app.server directly: app.listen() logs a line per interface, and main logs one line for both listeners.
      await app.ready();
      app.server.listen({ host: bindAddress(host), port });
      await Promise.race([once(app.server, 'listening'), once(app.server, 'error').then(([error]) => Promise.reject(error))]);
      address = app.server.address() as AddressInfo;
      return address;
    },
    // Read once: /healthz shows it, and a getsockname() per request is a cost a flood can multiply.
    get address() {
      return address;
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
        // Fastify closes only a server it started listening itself (app.listen); this one was started
        // by listen() above, so stop it listening here (connections are Fastify's and the timer's).
        if (app.server.listening) app.server.close();
        await app.close();
      } finally {
        clearTimeout(timer);
        address = undefined;
      }
      return !cut;
    },
  };
}
