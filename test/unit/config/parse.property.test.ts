// parseConfig under random environment and flag values (fast-check): a valid Config (or help), or a
// ConfigError whose message is one line, nothing else. The entry point under the same:
// test/service/faults/config-input.test.ts.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError, parseConfig } from '../../../src/config/parse.js';
import { LOG_LEVELS } from '../../../src/config/types.js';
import { configInputs, randomSetting } from '../../support/config.js';

describe('configuration under random input', () => {
  it('parses to a valid Config or throws a one-line ConfigError, nothing else', () => {
    fc.assert(
      fc.property(fc.array(randomSetting(), { maxLength: 6 }), fc.array(fc.string({ maxLength: 12 }), { maxLength: 2 }), (settings, stray) => {
        const { argv, env } = configInputs(settings);
        try {
          const outcome = parseConfig([...argv, ...stray], env);
          if (outcome.kind === 'help') return;
          const { config } = outcome;
          expect(Number.isInteger(config.echo.port) && config.echo.port >= 0 && config.echo.port <= 65535).toBe(true);
          expect(config.echo.maxPendingBytes).toBeGreaterThanOrEqual(1024);
          expect(config.http.requestTimeoutMs).toBeGreaterThanOrEqual(100);
          expect(config.shutdown.delayMs).toBeLessThanOrEqual(config.shutdown.timeoutMs);
          expect(config.workers).toBeGreaterThanOrEqual(1);
          expect(LOG_LEVELS).toContain(config.logLevel);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          const message = (error as ConfigError).message;
          expect(message).not.toMatch(/[\r\n]/);
          expect(message.startsWith('invalid configuration: ')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['ECHO_PROXY_TIMEOUT_MS', 'an integer number of milliseconds from 1 '],
    ['ECHO_TLS_HANDSHAKE_TIMEOUT_MS', 'an integer number of milliseconds from 1 '],
    ['ECHO_UDP_MAX_QUEUED_SENDS', 'an integer from 1 '],
  ])('%s=0 (a setting its part cannot use) is refused as configuration', (env, allowed) => {
    expect(() => parseConfig([], { [env]: '0' })).toThrow(`invalid configuration: ${env}="0": ${allowed}`);
  });
});
