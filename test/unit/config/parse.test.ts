// Configuration: parseConfig (every setting from its variable and its flag, the boundaries, every
// kind of invalid value). The built entry point's --help, exit codes and ports in use:
// test/service/config.test.ts.
import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { ConfigError, parseConfig } from '../../../src/config/parse.js';
import type { Config } from '../../../src/config/types.js';
import { DOCUMENTED_SETTINGS as SETTINGS } from '../../support/config.js';

function run(argv: string[], env: Record<string, string | undefined> = {}): Config {
  const outcome = parseConfig(argv, env);
  if (outcome.kind !== 'run') throw new Error('expected a config, got help');
  return outcome.config;
}

function configError(argv: string[], env: Record<string, string | undefined> = {}): ConfigError {
  try {
    parseConfig(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for argv ${JSON.stringify(argv)} env ${JSON.stringify(env)}`);
}

function read(config: Config, path: readonly string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config);
}

function withValue(config: Config, path: readonly string[], value: unknown): Config {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  const parent = path.slice(0, -1).reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, copy);
  parent[path[path.length - 1] as string] = value;
  return copy as unknown as Config;
}

/** What a raw value becomes in Config: numbers for numeric settings, booleans for on/off switches, strings otherwise. */
const typed = (raw: string, fallbackExample: string) => (/^\d+$/.test(fallbackExample) ? Number(raw) : /^(on|off)$/.test(fallbackExample) ? raw === 'on' : raw);

describe('parseConfig', () => {
  it('defaults match docs/configuration.md', () => {
    expect(run([], {})).toEqual({
      listeners: [{ name: 'tcp://*:7000', scheme: 'tcp', transport: 'tcp', tls: false, proxy: false, host: '*', port: 7000, origin: 'ECHO_HOST/--host, ECHO_PORT/--port' }],
      tls: undefined,
      udp: { maxDatagramBytes: 0, recvBufferBytes: 4194304, sendBufferBytes: 1048576, maxQueuedSends: 1024, sourceRatePerSecond: 0, sourceBurst: 1000 },
      echo: { host: '*', port: 7000, maxConnections: 0, idleTimeoutMs: 0, maxLifetimeMs: 0, maxPendingBytes: 65536, keepAliveMs: 120_000, proxyTimeoutMs: 5000, banner: '' },
      http: { host: '*', port: 8080, origin: 'HTTP_HOST/--http-host, HTTP_PORT/--http-port', requestTimeoutMs: 10_000, metricsToken: undefined },
      memoryBudget: { kind: 'auto' },
      metrics: { gcDuration: false },
      logLevel: 'info',
      workers: 1,
      shutdown: { timeoutMs: 25_000, delayMs: 0, quietMs: 1000 },
    });
  });

  it('ECHO_WORKERS=auto means one worker per available CPU; 0 is not a worker count', () => {
    expect(run([], { ECHO_WORKERS: 'auto' }).workers).toBe(availableParallelism());
    expect(run(['--workers', '3'], { ECHO_WORKERS: 'auto' }).workers).toBe(3);
    expect(() => run([], { ECHO_WORKERS: '0' })).toThrow(/ECHO_WORKERS="0": an integer from 1 to 256, or auto/);
    expect(() => run(['--workers=many'], {})).toThrow(/--workers="many"/);
  });

  describe.each(SETTINGS)('$env / $flag', (setting) => {
    const expected = typed(setting.value, setting.fallback);
    it('defaults to the documented value', () => {
      expect(read(run([], {}), setting.path)).toEqual(typed(setting.fallback, setting.fallback));
    });
    it('is read from the environment', () => {
      expect(read(run([], { [setting.env]: setting.value }), setting.path)).toEqual(expected);
    });
    it('is read from `--flag value`', () => {
      expect(read(run([setting.flag, setting.value], {}), setting.path)).toEqual(expected);
    });
    it('is read from `--flag=value`', () => {
      expect(read(run([`${setting.flag}=${setting.value}`], {}), setting.path)).toEqual(expected);
    });
    it('the flag wins over the environment', () => {
      expect(read(run([setting.flag, setting.value], { [setting.env]: setting.other }), setting.path)).toEqual(expected);
      expect(read(run([`${setting.flag}=${setting.other}`], { [setting.env]: setting.value }), setting.path)).toEqual(typed(setting.other, setting.fallback));
    });
    it('changes that setting and nothing else (ECHO_HOST/ECHO_PORT also name the default listener, HTTP_* the sidecar\'s origin)', () => {
      const { listeners: _changed, http: { origin: _origin, ...http }, ...rest } = run([setting.flag, setting.value], {});
      const { listeners: _default, http: { origin: _defaultOrigin, ...expectedHttp }, ...expectedRest } = withValue(run([], {}), setting.path, expected);
      expect({ ...rest, http }).toEqual({ ...expectedRest, http: expectedHttp });
    });
  });

  it('remembers which settings each listener came from, as the operator gave them', () => {
    expect(run(['--port', '7100'], { ECHO_HOST: '127.0.0.1' }).listeners[0]?.origin).toBe('ECHO_HOST, --port');
    expect(run([], { ECHO_LISTENERS: 'tcp://127.0.0.1:1,udp://127.0.0.1:2' }).listeners.map((l) => l.origin)).toEqual(['ECHO_LISTENERS', 'ECHO_LISTENERS']);
    expect(run(['--listeners=tcp://127.0.0.1:1'], { ECHO_LISTENERS: 'udp://127.0.0.1:2' }).listeners[0]?.origin).toBe('--listeners');
    expect(run(['--http-port', '9'], {}).http.origin).toBe('HTTP_HOST/--http-host, --http-port');
  });

  it('reads several flags and variables together', () => {
    const config = run(['--port', '7100', '--http-port=8100', '--log-level', 'warn'], { ECHO_HOST: '127.0.0.1', SHUTDOWN_DELAY_MS: '500', ECHO_PORT: '1' });
    expect(config.echo).toMatchObject({ host: '127.0.0.1', port: 7100 });
    expect(config.http.port).toBe(8100);
    expect(config.logLevel).toBe('warn');
    expect(config.shutdown.delayMs).toBe(500);
  });

  it('accepts the boundaries: port 0 and 65535, timers 0 and 2^31-1', () => {
    expect(run(['--port', '0']).echo.port).toBe(0);
    expect(run(['--port', '65535']).echo.port).toBe(65535);
    expect(run([], { SHUTDOWN_TIMEOUT_MS: '0' }).shutdown.timeoutMs).toBe(0);
    expect(run([], { ECHO_IDLE_TIMEOUT_MS: String(2 ** 31 - 1) }).echo.idleTimeoutMs).toBe(2 ** 31 - 1);
  });

  it.each([['--help'], ['-h'], ['--port', '1', '--help']])('answers help for %s', (...argv) => {
    const outcome = parseConfig(argv, {});
    expect(outcome.kind).toBe('help');
  });

  const INVALID: Array<{ what: string; argv: string[]; env: Record<string, string>; setting: string; value: string; allowed: RegExp }> = [
    { what: 'non-numeric port', argv: [], env: { ECHO_PORT: 'http' }, setting: 'ECHO_PORT', value: 'http', allowed: /0 to 65535/ },
    { what: 'port 65536', argv: ['--port', '65536'], env: {}, setting: '--port', value: '65536', allowed: /0 to 65535/ },
    { what: 'fractional port', argv: ['--http-port=80.5'], env: {}, setting: '--http-port', value: '80.5', allowed: /0 to 65535/ },
    { what: 'negative timeout', argv: ['--shutdown-timeout-ms=-1'], env: {}, setting: '--shutdown-timeout-ms', value: '-1', allowed: /milliseconds from 0/ },
    { what: 'timer beyond setTimeout', argv: [], env: { ECHO_IDLE_TIMEOUT_MS: String(2 ** 31) }, setting: 'ECHO_IDLE_TIMEOUT_MS', value: String(2 ** 31), allowed: /milliseconds from 0 to 2147483647/ },
    { what: 'unknown flag', argv: ['--colour', 'blue'], env: {}, setting: 'option', value: '--colour', allowed: /--host.*--port.*--help/ },
    { what: 'unknown log level', argv: [], env: { LOG_LEVEL: 'verbose' }, setting: 'LOG_LEVEL', value: 'verbose', allowed: /one of fatal, error, warn, info, debug, trace, silent/ },
    { what: 'empty variable', argv: [], env: { HTTP_PORT: '' }, setting: 'HTTP_PORT', value: '', allowed: /0 to 65535/ },
    { what: 'empty --flag=', argv: ['--port='], env: {}, setting: '--port', value: '', allowed: /0 to 65535/ },
    { what: 'flag without its value', argv: ['--shutdown-delay-ms'], env: {}, setting: '--shutdown-delay-ms', value: '', allowed: /missing value/ },
    { what: 'bad host', argv: ['--host', 'two words'], env: {}, setting: '--host', value: 'two words', allowed: /an IP address or a hostname/ },
    { what: 'a switch that is neither on nor off', argv: [], env: { METRICS_GC_DURATION: 'true' }, setting: 'METRICS_GC_DURATION', value: 'true', allowed: /on or off/ },
    { what: 'delay longer than the deadline', argv: ['--shutdown-delay-ms', '30000'], env: {}, setting: '--shutdown-delay-ms', value: '30000', allowed: /must not exceed SHUTDOWN_TIMEOUT_MS/ },
  ];

  it.each(INVALID)('rejects $what with one line naming the setting, the value and what is allowed', ({ argv, env, setting, value, allowed }) => {
    const error = configError(argv, env);
    expect(error.setting).toContain(setting);
    expect(error.value).toBe(value);
    expect(error.message).toContain(setting);
    expect(error.message).toContain(JSON.stringify(value));
    expect(error.message).toMatch(allowed);
    expect(error.message).not.toContain('\n');
  });

  it.each([
    { env: { ECHO_MAX_PENDING_BYTES: '1023' }, setting: 'ECHO_MAX_PENDING_BYTES', allowed: /bytes from 1024 to 67108864/ },
    { env: { ECHO_MAX_PENDING_BYTES: String(64 * 1024 * 1024 + 1) }, setting: 'ECHO_MAX_PENDING_BYTES', allowed: /bytes from 1024/ },
    { env: { HTTP_REQUEST_TIMEOUT_MS: '99' }, setting: 'HTTP_REQUEST_TIMEOUT_MS', allowed: /milliseconds from 100 to 600000/ },
    { env: { HTTP_REQUEST_TIMEOUT_MS: '0' }, setting: 'HTTP_REQUEST_TIMEOUT_MS', allowed: /from 100/ },
    { env: { ECHO_MAX_CONNECTION_LIFETIME_MS: '1h' }, setting: 'ECHO_MAX_CONNECTION_LIFETIME_MS', allowed: /milliseconds from 0/ },
    ...['31Mi', '33M', '1.5Gi', '512mb', '512 Mi', '1Ti', 'max', '-1', '', '0'].map((value) => ({ env: { ECHO_MEMORY_BUDGET: value }, setting: 'ECHO_MEMORY_BUDGET', allowed: /auto, off, or at least 32Mi: a whole number of bytes, optionally with a unit/ })),
  ])('rejects $setting=$env with one line naming it', ({ env, setting, allowed }) => {
    const error = configError([], env);
    expect(error.setting).toBe(setting);
    expect(error.message).toMatch(allowed);
    expect(error.message).not.toContain('\n');
  });

  it('ECHO_MEMORY_BUDGET: auto, off, or a size (powers of 1024 or of 1000)', () => {
    expect(run([], {}).memoryBudget).toEqual({ kind: 'auto' });
    expect(run([], { ECHO_MEMORY_BUDGET: 'off' }).memoryBudget).toEqual({ kind: 'off' });
    expect(run([], { ECHO_MEMORY_BUDGET: '384Mi' }).memoryBudget).toEqual({ kind: 'bytes', bytes: 384 * 1024 * 1024 });
    expect(run(['--memory-budget', '2Gi'], { ECHO_MEMORY_BUDGET: 'off' }).memoryBudget).toEqual({ kind: 'bytes', bytes: 2 * 1024 ** 3 });
    expect(run(['--memory-budget=33554432'], {}).memoryBudget).toEqual({ kind: 'bytes', bytes: 32 * 1024 * 1024 });
    expect(run([], { ECHO_MEMORY_BUDGET: '40960Ki' }).memoryBudget).toEqual({ kind: 'bytes', bytes: 40 * 1024 * 1024 });
    expect(run([], { ECHO_MEMORY_BUDGET: '512M' }).memoryBudget).toEqual({ kind: 'bytes', bytes: 512e6 });
    expect(run([], { ECHO_MEMORY_BUDGET: '384MiB' }).memoryBudget).toEqual({ kind: 'bytes', bytes: 384 * 1024 * 1024 });
  });

  it('METRICS_TOKEN: unset or empty means open; a bearer token is kept as given', () => {
    expect(run([], { METRICS_TOKEN: '' }).http.metricsToken).toBeUndefined();
    expect(run([], { METRICS_TOKEN: 'abc-DEF_123.~+/==' }).http.metricsToken).toBe('abc-DEF_123.~+/==');
    expect(run(['--metrics-token', 'flag'], { METRICS_TOKEN: 'env' }).http.metricsToken).toBe('flag');
  });

  it('a bad METRICS_TOKEN is named but never shown: the message says only how long it was', () => {
    const secret = 'not a token: has spaces';
    const error = configError([], { METRICS_TOKEN: secret });
    expect(error.setting).toBe('METRICS_TOKEN');
    expect(error.message).not.toContain('has spaces');
    expect(error.message).toContain(`${secret.length} characters, not shown`);
    expect(configError([], { METRICS_TOKEN: 'x'.repeat(1025) }).message).toMatch(/up to 1024 characters/);
  });

  it('a bad variable is reported even when a good flag overrides another setting', () => {
    expect(configError(['--port', '7000'], { HTTP_PORT: 'x' }).setting).toBe('HTTP_PORT');
  });

  it('a good flag overrides a bad variable of the same setting', () => {
    expect(run(['--port', '7000'], { ECHO_PORT: 'x' }).echo.port).toBe(7000);
  });
});

