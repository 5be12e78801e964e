import { afterEach } from 'vitest';
import { pino, type Logger } from 'pino';
import { parseConfig, type Config } from '../../src/config/parse.js';
import { createService, type Service } from '../../src/process/service.js';

export interface RunningService {
  service: Service;
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
  const service = createService(testConfig(env), { logger, version: 'test' });
  const { echo, http } = await service.start();
  return { service, echoPort: echo.port, httpPort: http.port, stop: () => service.shutdown('test finished') };
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
