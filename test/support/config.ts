// Configuration for tests: the service's defaults (from its settings table) for tests that build one
// part on its own, the documented settings, and random settings for property tests.
import fc from 'fast-check';
import { defaultConfig } from '../../src/config/parse.js';
import { SETTING_KEYS, SETTINGS } from '../../src/config/settings.js';
import { LOG_LEVELS } from '../../src/config/types.js';

const defaults = defaultConfig();

/** A UDP listener's options as the service sets them by default. */
export const UDP_LISTENER_DEFAULTS = {
  recvBufferSize: defaults.udp.recvBufferBytes,
  sendBufferSize: defaults.udp.sendBufferBytes,
  maxQueuedSends: defaults.udp.maxQueuedSends,
} as const;

/** ECHO_PROXY_TIMEOUT_MS's default. */
export const PROXY_TIMEOUT_MS = defaults.echo.proxyTimeoutMs;

/**
 * The settings as docs/configuration.md documents them (the service's defaults included), for the
 * parser's tests and the entry point's --help. For each: a valid non-default value, another valid
 * value, and where it lands in Config.
 */
export const DOCUMENTED_SETTINGS = [
  { env: 'ECHO_HOST', flag: '--host', fallback: '*', value: '127.0.0.1', other: '10.1.2.3', path: ['echo', 'host'] },
  { env: 'ECHO_PORT', flag: '--port', fallback: '7000', value: '7001', other: '0', path: ['echo', 'port'] },
  { env: 'HTTP_HOST', flag: '--http-host', fallback: '*', value: '::1', other: 'localhost', path: ['http', 'host'] },
  { env: 'HTTP_PORT', flag: '--http-port', fallback: '8080', value: '9100', other: '65535', path: ['http', 'port'] },
  { env: 'LOG_LEVEL', flag: '--log-level', fallback: 'info', value: 'debug', other: 'warn', path: ['logLevel'] },
  { env: 'SHUTDOWN_TIMEOUT_MS', flag: '--shutdown-timeout-ms', fallback: '25000', value: '30000', other: '1000', path: ['shutdown', 'timeoutMs'] },
  { env: 'SHUTDOWN_DELAY_MS', flag: '--shutdown-delay-ms', fallback: '0', value: '5000', other: '250', path: ['shutdown', 'delayMs'] },
  { env: 'SHUTDOWN_QUIET_MS', flag: '--shutdown-quiet-ms', fallback: '1000', value: '200', other: '0', path: ['shutdown', 'quietMs'] },
  { env: 'ECHO_MAX_CONNECTIONS', flag: '--max-connections', fallback: '0', value: '10000', other: '1', path: ['echo', 'maxConnections'] },
  { env: 'ECHO_WORKERS', flag: '--workers', fallback: '1', value: '4', other: '2', path: ['workers'] },
  { env: 'ECHO_IDLE_TIMEOUT_MS', flag: '--idle-timeout-ms', fallback: '0', value: '60000', other: '1', path: ['echo', 'idleTimeoutMs'] },
  // Hardening (docs/operations.md, "Limits and protections").
  { env: 'ECHO_MAX_CONNECTION_LIFETIME_MS', flag: '--max-connection-lifetime-ms', fallback: '0', value: '3600000', other: '1', path: ['echo', 'maxLifetimeMs'] },
  { env: 'ECHO_MAX_PENDING_BYTES', flag: '--max-pending-bytes', fallback: '65536', value: '16384', other: '1048576', path: ['echo', 'maxPendingBytes'] },
  { env: 'ECHO_TCP_KEEPALIVE_MS', flag: '--tcp-keepalive-ms', fallback: '120000', value: '30000', other: '0', path: ['echo', 'keepAliveMs'] },
  { env: 'HTTP_REQUEST_TIMEOUT_MS', flag: '--http-request-timeout-ms', fallback: '10000', value: '2000', other: '600000', path: ['http', 'requestTimeoutMs'] },
  // Off by default: watching every GC costs throughput (docs/metrics.md, "GC durations").
  { env: 'METRICS_GC_DURATION', flag: '--metrics-gc-duration', fallback: 'off', value: 'on', other: 'off', path: ['metrics', 'gcDuration'] },
] as const;

export interface SettingFlag {
  env: string;
  flag: string;
}
/** Every setting in the table: a new one is covered without touching the tests. */
export const SETTING_FLAGS: readonly SettingFlag[] = SETTING_KEYS.map((key) => SETTINGS[key]);

/** Values near and across every boundary, plus arbitrary text. */
const randomValue = fc.oneof(
  fc.integer({ min: -10, max: 70_000 }).map(String),
  fc.constantFrom('0', '1', '99', '100', '1023', '1024', '65535', '65536', '67108864', '67108865', '600000', '600001', '2147483647', '2147483648', '1e3', '0x10', '1.5', ' 7 ', '', 'auto', 'localhost', '127.0.0.1', '::1', 'not a host', 'abc==', 'a=b', 'on', 'off', ...LOG_LEVELS),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

export interface RandomSetting {
  knob: SettingFlag;
  value: string;
  asFlag: boolean;
  inlineFlag: boolean;
}

/** One of `knobs` with a random value, given as a variable, a `--flag value` or a `--flag=value`. */
export function randomSetting(knobs: readonly SettingFlag[] = SETTING_FLAGS): fc.Arbitrary<RandomSetting> {
  return fc.record({ knob: fc.constantFrom(...knobs), value: randomValue, asFlag: fc.boolean(), inlineFlag: fc.boolean() });
}

/** The argv and environment that give `settings`. */
export function configInputs(settings: readonly RandomSetting[]): { argv: string[]; env: Record<string, string> } {
  const argv: string[] = [];
  const env: Record<string, string> = {};
  for (const { knob, value, asFlag, inlineFlag } of settings) {
    if (!asFlag) env[knob.env] = value;
    else if (inlineFlag) argv.push(`${knob.flag}=${value}`);
    else argv.push(knob.flag, value);
  }
  return { argv, env };
}
