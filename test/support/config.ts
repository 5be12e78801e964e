// The service's defaults, from the settings table, for tests that build one part on its own.
import { defaultConfig } from '../../src/config/parse.js';

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
  { env: 'ECHO_HOST', flag: '--host', fallback: '0.0.0.0', value: '127.0.0.1', other: '10.1.2.3', path: ['echo', 'host'] },
  { env: 'ECHO_PORT', flag: '--port', fallback: '7000', value: '7001', other: '0', path: ['echo', 'port'] },
  { env: 'HTTP_HOST', flag: '--http-host', fallback: '0.0.0.0', value: '::1', other: 'localhost', path: ['http', 'host'] },
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
  { env: 'HTTP_REQUEST_TIMEOUT_MS', flag: '--http-request-timeout-ms', fallback: '10000', value: '2000', other: '600000', path: ['http', 'requestTimeoutMs'] },
  // Off by default: watching every GC costs throughput (docs/metrics.md, "GC durations").
  { env: 'METRICS_GC_DURATION', flag: '--metrics-gc-duration', fallback: 'off', value: 'on', other: 'off', path: ['metrics', 'gcDuration'] },
] as const;
