import { afterEach } from 'vitest';
import { pino, type Logger } from 'pino';
import { parseConfig } from '../../src/config/parse.js';
import type { Config } from '../../src/config/types.js';
import { Registry } from 'prom-client';
import { createService } from '../../src/process/service.js';
import type { Runnable } from '../../src/process/shell.js';

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

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Starts a whole service in this process on ephemeral loopback ports. */
export async function startService(env: Record<string, string> = {}, logger: Logger = silentLogger()): Promise<RunningService> {
  const registry = new Registry();
  const service = createService(testConfig(env), { logger, version: 'test', registry });
  const { echo, http } = await service.start();
  return { service, registry, echoPort: echo.port, httpPort: http.port, stop: () => service.shutdown('test finished') };
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
