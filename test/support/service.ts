// The whole service built in this process (createService) on ephemeral loopback ports, and what it reports.
import { afterEach, expect } from 'vitest';
import type { Logger } from 'pino';
import { silentLogger } from './logger.js';
import { parseConfig } from '../../src/config/parse.js';
import type { Config } from '../../src/config/types.js';
import { Registry } from 'prom-client';
import { createService } from '../../src/process/service.js';
import type { Runnable } from '../../src/process/shell.js';
import { echoRoundTrip, patternedBytes } from './echo-client.js';
import { getMetrics, parseExposition, sample } from './metrics.js';
import { waitFor } from './wait.js';

export interface RunningService {
  service: Runnable;
  /** The service's metrics, readable after it stopped. */
  registry: Registry;
  echoPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

/** Config for tests: loopback, ephemeral ports, plus any env-style overrides. */
export function testConfig(env: Record<string, string> = {}): Config {
  const outcome = parseConfig([], { ECHO_HOST: '127.0.0.1', ECHO_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'silent', ...env });
  if (outcome.kind !== 'run') throw new Error('unexpected help');
  return outcome.config;
}

/** Starts a whole service in this process on ephemeral loopback ports. */
export async function startService(env: Record<string, string> = {}, logger: Logger = silentLogger()): Promise<RunningService> {
  const registry = new Registry();
  const service = createService(testConfig(env), { logger, version: 'test', registry });
  const { echo, http } = await service.start();
  return { service, registry, echoPort: echo.port, httpPort: http.port, stop: () => service.shutdown('test finished') };
}

/**
 * A service that has echoed one connection of each of 1, 1000, 70,000 and 300,000 bytes (371,001
 * bytes in all, each checked), every one counted as closed: every echo series has moved and the
 * duration histogram has observations.
 */
export async function startServiceAfterTraffic(env: Record<string, string> = {}): Promise<RunningService> {
  const running = await startService(env);
  const payloads = [1, 1000, 70_000, 300_000].map((size) => patternedBytes(size, size));
  const echoed = await Promise.all(payloads.map((payload) => echoRoundTrip(running.echoPort, payload)));
  echoed.forEach((bytes, i) => expect(bytes.equals(payloads[i] as Buffer)).toBe(true));
  await waitFor(async () => sample(parseExposition((await getMetrics(running.httpPort)).body), 'echo_connections_closed_total{reason="client_end"}') === payloads.length, {
    what: 'all connections to be counted as closed',
  });
  return running;
}

/** A startService that stops every service it started after each test of the calling file. */
export function startServicesPerTest(): (env?: Record<string, string>) => Promise<RunningService> {
  const running: RunningService[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((service) => service.stop()));
  });
  return async (env = {}) => {
    const service = await startService(env);
    running.push(service);
    return service;
  };
}

/** Whether the service's echo listeners take new clients, as /healthz reports it. */
export function echoAccepting(service: Runnable): boolean {
  const { listeners } = service.status() as { listeners: { echo: { accepting: boolean } } };
  return listeners.echo.accepting;
}

/** Clients the service is serving now, as /healthz reports it. */
export function activeConnections(service: Runnable): number {
  const { connections } = service.status() as { connections: { active: number } };
  return connections.active;
}
