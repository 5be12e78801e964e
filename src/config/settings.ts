// Every setting, once: its environment variable, flag, default, help line and parser. Parsing,
// --help, error lines and the settings other modules name all read this table.
import { availableParallelism } from 'node:os';
import { ANY_HOST, LOG_LEVELS, LISTENER_SCHEMES, type LogLevel, type MemoryBudgetSetting } from './types.js';
import { BYTES_SYNTAX, MAX_TIMER_MS, parseBytes, wholeNumberFrom } from './units.js';

export interface Setting<T> {
  readonly env: string;
  readonly flag: string;
  /** The default, as an operator would write it. */
  readonly fallback: string;
  /** The --help line. */
  readonly meaning: string;
  /** The value, or undefined when `raw` is not allowed. */
  readonly parse: (raw: string) => T | undefined;
  /** What is allowed, for the error line. */
  readonly allowed: string;
  /** Never echo the value back (a ConfigError says how long it was instead). */
  readonly secret?: boolean;
}

const setting = <T>(definition: Setting<T>): Setting<T> => definition;

const wholeNumber = (max: number) => wholeNumberFrom(0, max);
export const parsePort = wholeNumber(65535);
const milliseconds = wholeNumber(MAX_TIMER_MS);
const hostname = (raw: string) => (raw === ANY_HOST || (/^[A-Za-z0-9.:_-]+$/.test(raw) && raw.length <= 253) ? raw : undefined);
const logLevel = (raw: string) => LOG_LEVELS.find((level): level is LogLevel => level === raw);
// TCP_KEEPIDLE is whole seconds, at most 32767 on Linux.
const MAX_KEEPALIVE_MS = 32_767_000;
const keepAliveMs = (raw: string) => {
  const n = wholeNumber(MAX_KEEPALIVE_MS)(raw);
  return n === 0 || (n !== undefined && n >= 1000) ? n : undefined;
};
const onOff = (raw: string) => (raw === 'on' ? true : raw === 'off' ? false : undefined);
const anyText = (max: number) => (raw: string) => (raw.length <= max && !/[\0\r\n]/.test(raw) ? raw : undefined);
// RFC 6750 b64token: what fits in `Authorization: Bearer <token>` unquoted. Empty = no token.
const bearerToken = (raw: string) => (raw === '' || (/^[A-Za-z0-9\-._~+/]+=*$/.test(raw) && raw.length <= 1024) ? raw : undefined);

const MIN_PENDING_BYTES = 1024;
const MAX_PENDING_BYTES = 64 * 1024 * 1024;
const MIN_MEMORY_BUDGET = 32 * 1024 * 1024;
const memoryBudget = (raw: string): MemoryBudgetSetting | undefined => {
  if (raw === 'auto' || raw === 'off') return { kind: raw };
  const bytes = parseBytes(raw);
  return bytes !== undefined && bytes >= MIN_MEMORY_BUDGET ? { kind: 'bytes', bytes } : undefined;
};
const MAX_WORKERS = 256;
const workerCount = (raw: string) => (raw === 'auto' ? availableParallelism() : wholeNumberFrom(1, MAX_WORKERS)(raw));

const PORT_ALLOWED = 'an integer from 0 to 65535 (0 = ephemeral)';
const MS_ALLOWED = `an integer number of milliseconds from 0 to ${MAX_TIMER_MS}`;
const HOST_ALLOWED = `${ANY_HOST} (every address family the host has), an IP address or a hostname`;
export const LISTENERS_ALLOWED = `empty (use ECHO_HOST/ECHO_PORT), or a comma-separated list of scheme://host:port[?options] with scheme ${LISTENER_SCHEMES.join(', ')}`;

export const SETTINGS = {
  // `*` listens on every address family the host has, so probes and clients reach the pod on an
  // IPv6-only or dual-stack cluster as well as on IPv4; 0.0.0.0 or :: pins one family.
  host: setting({ env: 'ECHO_HOST', flag: '--host', fallback: ANY_HOST, meaning: 'echo listener address (* = every address family: :: with IPv4-mapped, else 0.0.0.0)', parse: hostname, allowed: HOST_ALLOWED }),
  port: setting({ env: 'ECHO_PORT', flag: '--port', fallback: '7000', meaning: 'echo listener port (0 = ephemeral)', parse: parsePort, allowed: PORT_ALLOWED }),
  httpHost: setting({ env: 'HTTP_HOST', flag: '--http-host', fallback: ANY_HOST, meaning: 'sidecar (health, metrics) address (* = every address family)', parse: hostname, allowed: HOST_ALLOWED }),
  httpPort: setting({ env: 'HTTP_PORT', flag: '--http-port', fallback: '8080', meaning: 'sidecar port (0 = ephemeral)', parse: parsePort, allowed: PORT_ALLOWED }),
  logLevel: setting({ env: 'LOG_LEVEL', flag: '--log-level', fallback: 'info', meaning: 'log level', parse: logLevel, allowed: `one of ${LOG_LEVELS.join(', ')}` }),
  shutdownTimeoutMs: setting({ env: 'SHUTDOWN_TIMEOUT_MS', flag: '--shutdown-timeout-ms', fallback: '25000', meaning: 'drain deadline after SIGTERM', parse: milliseconds, allowed: MS_ALLOWED }),
  shutdownDelayMs: setting({ env: 'SHUTDOWN_DELAY_MS', flag: '--shutdown-delay-ms', fallback: '0', meaning: 'after SIGTERM, keep accepting this long with readiness 503', parse: milliseconds, allowed: MS_ALLOWED }),
  shutdownQuietMs: setting({ env: 'SHUTDOWN_QUIET_MS', flag: '--shutdown-quiet-ms', fallback: '1000', meaning: 'while draining, close a connection quiet this long with nothing buffered', parse: milliseconds, allowed: MS_ALLOWED }),
  maxConnections: setting({ env: 'ECHO_MAX_CONNECTIONS', flag: '--max-connections', fallback: '0', meaning: 'connections above it are refused and counted (0 = no limit)', parse: wholeNumber(1_000_000_000), allowed: 'an integer from 0 (no limit) to 1000000000' }),
  workers: setting({ env: 'ECHO_WORKERS', flag: '--workers', fallback: '1', meaning: 'echo worker processes sharing the port (auto = one per CPU)', parse: workerCount, allowed: `an integer from 1 to ${MAX_WORKERS}, or auto (one per available CPU)` }),
  idleTimeoutMs: setting({ env: 'ECHO_IDLE_TIMEOUT_MS', flag: '--idle-timeout-ms', fallback: '0', meaning: 'close a connection silent this long (0 = off)', parse: milliseconds, allowed: MS_ALLOWED }),
  maxLifetimeMs: setting({ env: 'ECHO_MAX_CONNECTION_LIFETIME_MS', flag: '--max-connection-lifetime-ms', fallback: '0', meaning: 'stop reading, flush and close a connection open this long (0 = off)', parse: milliseconds, allowed: MS_ALLOWED }),
  // On by default, and well inside the idle cuts of cloud load balancers (Azure 4 min, AWS NLB 350 s):
  // an idle client behind one keeps its connection, and a client that vanished without a FIN or RST
  // is found and its connection closed instead of held forever. 0 reproduces the idle cuts.
  keepAliveMs: setting({ env: 'ECHO_TCP_KEEPALIVE_MS', flag: '--tcp-keepalive-ms', fallback: '120000', meaning: 'TCP keepalive probes after this long without traffic on a connection (0 = off)', parse: keepAliveMs, allowed: `0 (off), or an integer number of milliseconds from 1000 to ${MAX_KEEPALIVE_MS} (whole seconds count)` }),
  maxPendingBytes: setting({ env: 'ECHO_MAX_PENDING_BYTES', flag: '--max-pending-bytes', fallback: '65536', meaning: 'per-connection buffer high-water mark; reading pauses above it', parse: wholeNumberFrom(MIN_PENDING_BYTES, MAX_PENDING_BYTES), allowed: `an integer number of bytes from ${MIN_PENDING_BYTES} to ${MAX_PENDING_BYTES}` }),
  listeners: setting({ env: 'ECHO_LISTENERS', flag: '--listeners', fallback: '', meaning: 'several listeners: scheme://host:port[?options],... (tcp, tcp+proxy, tls, tls+proxy, udp; options: delay, rate, close_after, reset_after, discard, stall, loss); empty = tcp://ECHO_HOST:ECHO_PORT', parse: anyText(4096), allowed: LISTENERS_ALLOWED }),
  tlsCert: setting({ env: 'ECHO_TLS_CERT', flag: '--tls-cert', fallback: '', meaning: 'PEM certificate (chain) file for tls listeners; reloaded when it changes and on SIGHUP', parse: anyText(4096), allowed: 'a file path' }),
  tlsKey: setting({ env: 'ECHO_TLS_KEY', flag: '--tls-key', fallback: '', meaning: 'PEM private key file for tls listeners; reloaded when it changes and on SIGHUP', parse: anyText(4096), allowed: 'a file path' }),
  tlsClientCa: setting({ env: 'ECHO_TLS_CLIENT_CA', flag: '--tls-client-ca', fallback: '', meaning: 'PEM CA file: tls listeners require client certificates it signed (mTLS)', parse: anyText(4096), allowed: 'a file path' }),
  tlsHandshakeTimeoutMs: setting({ env: 'ECHO_TLS_HANDSHAKE_TIMEOUT_MS', flag: '--tls-handshake-timeout-ms', fallback: '10000', meaning: "tls listeners: deadline for a client's handshake", parse: wholeNumberFrom(1, 600_000), allowed: 'an integer number of milliseconds from 1 to 600000' }),
  udpMaxDatagramBytes: setting({ env: 'ECHO_UDP_MAX_DATAGRAM_BYTES', flag: '--udp-max-datagram-bytes', fallback: '0', meaning: 'udp listeners: larger datagrams are dropped and counted (0 = protocol maximum)', parse: wholeNumber(65527), allowed: 'an integer from 0 (protocol maximum) to 65527' }),
  // 4 MiB of receive buffer absorbs a few thousand datagrams while the event loop is busy (a GC pause,
  // a scrape); the kernel default (208 KiB) overflows after a couple of hundred. It costs memory only
  // while datagrams wait.
  udpRecvBufferBytes: setting({ env: 'ECHO_UDP_RECV_BUFFER_BYTES', flag: '--udp-recv-buffer-bytes', fallback: '4194304', meaning: 'udp listeners: SO_RCVBUF asked for (0 = kernel default; capped by net.core.rmem_max)', parse: wholeNumber(1 << 30), allowed: 'an integer number of bytes from 0 to 1073741824' }),
  udpSendBufferBytes: setting({ env: 'ECHO_UDP_SEND_BUFFER_BYTES', flag: '--udp-send-buffer-bytes', fallback: '1048576', meaning: 'udp listeners: SO_SNDBUF asked for (0 = kernel default; capped by net.core.wmem_max)', parse: wholeNumber(1 << 30), allowed: 'an integer number of bytes from 0 to 1073741824' }),
  udpMaxQueuedSends: setting({ env: 'ECHO_UDP_MAX_QUEUED_SENDS', flag: '--udp-max-queued-sends', fallback: '1024', meaning: 'udp listeners: replies held while the send buffer is full', parse: wholeNumberFrom(1, 1_000_000), allowed: 'an integer from 1 to 1000000' }),
  udpSourceRate: setting({ env: 'ECHO_UDP_SOURCE_RATE', flag: '--udp-source-rate', fallback: '0', meaning: 'udp listeners: echoes per second for one source address (IPv6: /64), per process; 0 = no limit', parse: wholeNumber(10_000_000), allowed: 'an integer number of datagrams per second from 0 (no limit) to 10000000' }),
  udpSourceBurst: setting({ env: 'ECHO_UDP_SOURCE_BURST', flag: '--udp-source-burst', fallback: '1000', meaning: 'udp listeners: echoes a quiet source may have at once, with ECHO_UDP_SOURCE_RATE', parse: wholeNumberFrom(1, 10_000_000), allowed: 'an integer number of datagrams from 1 to 10000000' }),
  proxyTimeoutMs: setting({ env: 'ECHO_PROXY_TIMEOUT_MS', flag: '--proxy-timeout-ms', fallback: '5000', meaning: '+proxy listeners: deadline for the PROXY header', parse: wholeNumberFrom(1, 600_000), allowed: 'an integer number of milliseconds from 1 to 600000' }),
  banner: setting({ env: 'ECHO_BANNER', flag: '--banner', fallback: '', meaning: 'line sent on connect: {hostname} {client_addr} {listener} {env:NAME} {proxy_authority} and the other {proxy_*} fields; empty = off', parse: anyText(1024), allowed: 'up to 1024 characters, one line' }),
  // At least one sidecar request must fit; beyond 10 minutes a probe deadline means nothing.
  httpRequestTimeoutMs: setting({ env: 'HTTP_REQUEST_TIMEOUT_MS', flag: '--http-request-timeout-ms', fallback: '10000', meaning: 'sidecar: deadline for a request, and for an idle connection', parse: wholeNumberFrom(100, 600_000), allowed: 'an integer number of milliseconds from 100 to 600000' }),
  memoryBudget: setting({ env: 'ECHO_MEMORY_BUDGET', flag: '--memory-budget', fallback: 'auto', meaning: 'memory guard budget: auto = 60% of the cgroup memory limit (off without one), off, or bytes (384Mi, 400M)', parse: memoryBudget, allowed: `auto, off, or at least 32Mi: ${BYTES_SYNTAX} (e.g. 384Mi)` }),
  metricsGcDuration: setting({ env: 'METRICS_GC_DURATION', flag: '--metrics-gc-duration', fallback: 'off', meaning: 'export nodejs_gc_duration_seconds (watching every GC adds to tail latency at full load)', parse: onOff, allowed: 'on or off' }),
  metricsToken: setting({ env: 'METRICS_TOKEN', flag: '--metrics-token', fallback: '', meaning: '/metrics requires `Authorization: Bearer <token>` (empty = open)', parse: bearerToken, allowed: 'empty, or a bearer token of up to 1024 characters from A-Z a-z 0-9 - . _ ~ + / (then = padding)', secret: true }),
};

export type SettingKey = keyof typeof SETTINGS;
/** Each setting's parsed value, typed by its parser. */
export type SettingValues = { readonly [K in SettingKey]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never };

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];
