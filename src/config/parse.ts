// Configuration: environment variables, each overridable by a command-line flag.
// Parsing is pure (argv and env in, Config or ConfigError out) so tests can drive it directly.
import { availableParallelism } from 'node:os';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LISTENER_SCHEMES = ['tcp', 'tcp+proxy', 'tls', 'tls+proxy', 'udp'] as const;
export type ListenerScheme = (typeof LISTENER_SCHEMES)[number];

/** One echo listener. `name` is its `listener` label in metrics, logs and /healthz. */
export interface ListenerSpec {
  readonly name: string;
  readonly scheme: ListenerScheme;
  readonly transport: 'tcp' | 'udp';
  readonly tls: boolean;
  /** A PROXY protocol v1/v2 header precedes each connection's bytes. */
  readonly proxy: boolean;
  readonly host: string;
  readonly port: number;
  /** The settings this listener came from, as the operator gave them (named when it cannot bind). */
  readonly origin: string;
}

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, clients must present a certificate signed by it (mTLS). */
  readonly clientCaFile: string | undefined;
  /** A client that has not finished its handshake by then is cut (counted as `timeout`). */
  readonly handshakeTimeoutMs: number;
}

export interface UdpSettings {
  /** Larger datagrams are dropped and counted; 0 = the protocol maximum (echo everything). */
  readonly maxDatagramBytes: number;
  /** SO_RCVBUF / SO_SNDBUF asked for (0 = kernel default). */
  readonly recvBufferBytes: number;
  readonly sendBufferBytes: number;
  /** Replies held while the kernel send buffer is full; beyond it datagrams are dropped. */
  readonly maxQueuedSends: number;
  /** Echoes per second for one source (IPv4 address, IPv6 /64) in one process; 0 = no limit. */
  readonly sourceRatePerSecond: number;
  /** Echoes a quiet source may have at once (the token bucket's size). */
  readonly sourceBurst: number;
}

/** ECHO_MEMORY_BUDGET: `auto` derives it from the cgroup's memory limit at start (src/overload/budget.ts). */
export type MemoryBudgetSetting = { readonly kind: 'auto' } | { readonly kind: 'off' } | { readonly kind: 'bytes'; readonly bytes: number };

export interface Config {
  /** Every echo listener; ECHO_HOST/ECHO_PORT make the one-listener default `tcp://host:port`. */
  readonly listeners: readonly ListenerSpec[];
  /** Certificate and key for tls listeners (required when there is one). */
  readonly tls: TlsFiles | undefined;
  readonly udp: UdpSettings;
  readonly echo: {
    readonly host: string;
    readonly port: number;
    /** 0 = no limit */
    readonly maxConnections: number;
    /** 0 = off */
    readonly idleTimeoutMs: number;
    /** 0 = off; a connection open this long stops being read, is flushed and closed. */
    readonly maxLifetimeMs: number;
    /** highWaterMark of accepted sockets: bounds what a client that does not read can make the server hold. */
    readonly maxPendingBytes: number;
    /** On +proxy listeners: how long a client may take to send its PROXY header. */
    readonly proxyTimeoutMs: number;
    /** A line sent on connect, from a template; empty = off (the echo stays byte-exact). */
    readonly banner: string;
  };
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** The settings the sidecar's address came from, as the operator gave them. */
    readonly origin: string;
    /** Deadline for a sidecar request's headers and whole request, and for an idle sidecar connection. */
    readonly requestTimeoutMs: number;
    /** When set, /metrics requires `Authorization: Bearer <token>`; probes stay open. */
    readonly metricsToken: string | undefined;
  };
  /** The memory guard's budget for the whole service (shared out over the workers). */
  readonly memoryBudget: MemoryBudgetSetting;
  readonly metrics: {
    /** Export nodejs_gc_duration_seconds: watching every garbage collection costs the echo path (runtime-metrics.ts). */
    readonly gcDuration: boolean;
  };
  readonly logLevel: LogLevel;
  /** Echo worker processes; 1 = everything in one process. */
  readonly workers: number;
  readonly shutdown: {
    /** Deadline for the whole shutdown, counted from the signal. */
    readonly timeoutMs: number;
    /** Keep accepting (readiness 503) this long so load balancers deregister first. */
    readonly delayMs: number;
    /** While draining, a connection quiet this long with nothing buffered is closed. */
    readonly quietMs: number;
  };
}

/** A setting with a value that is not allowed. The message is the one line an operator sees. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    readonly value: string,
    readonly allowed: string,
  ) {
    super(`invalid configuration: ${setting}=${JSON.stringify(value)}: ${allowed}`);
    this.name = 'ConfigError';
  }
}

export type ParseOutcome = { kind: 'run'; config: Config } | { kind: 'help'; text: string };

type Key =
  | 'host'
  | 'port'
  | 'httpHost'
  | 'httpPort'
  | 'logLevel'
  | 'shutdownTimeoutMs'
  | 'shutdownDelayMs'
  | 'shutdownQuietMs'
  | 'maxConnections'
  | 'idleTimeoutMs'
  | 'maxLifetimeMs'
  | 'listeners'
  | 'tlsCert'
  | 'tlsKey'
  | 'tlsClientCa'
  | 'proxyTimeoutMs'
  | 'tlsHandshakeTimeoutMs'
  | 'udpMaxDatagramBytes'
  | 'udpRecvBufferBytes'
  | 'udpSendBufferBytes'
  | 'udpMaxQueuedSends'
  | 'udpSourceRate'
  | 'udpSourceBurst'
  | 'banner'
  | 'maxPendingBytes'
  | 'httpRequestTimeoutMs'
  | 'metricsToken'
  | 'metricsGcDuration'
  | 'memoryBudget'
  | 'workers';

interface Setting<T> {
  readonly key: Key;
  readonly env: string;
  readonly flag: string;
  readonly fallback: string;
  readonly meaning: string;
  readonly parse: (raw: string) => T | undefined;
  readonly allowed: string;
  /** Never echo the value back (a ConfigError says how long it was instead). */
  readonly secret?: boolean;
}

const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's ceiling; larger values fire at once

const wholeNumber = (max: number) => (raw: string) => {
  if (!/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n <= max ? n : undefined;
};
const port = wholeNumber(65535);
const milliseconds = wholeNumber(MAX_TIMER_MS);
const hostname = (raw: string) =>
  /^[A-Za-z0-9.:_-]+$/.test(raw) && raw.length <= 253 ? raw : undefined;
const logLevel = (raw: string) => (LOG_LEVELS as readonly string[]).includes(raw) ? (raw as LogLevel) : undefined;

// At least one sidecar request must fit; beyond 10 minutes a probe deadline means nothing.
const httpTimeout = (raw: string) => {
  const n = wholeNumber(600_000)(raw);
  return n !== undefined && n >= 100 ? n : undefined;
};
const MIN_PENDING_BYTES = 1024;
const MAX_PENDING_BYTES = 64 * 1024 * 1024;
const pendingBytes = (raw: string) => {
  const n = wholeNumber(MAX_PENDING_BYTES)(raw);
  return n !== undefined && n >= MIN_PENDING_BYTES ? n : undefined;
};
// RFC 6750 b64token: what fits in `Authorization: Bearer <token>` unquoted. Empty = no token.
const bearerToken = (raw: string) => (raw === '' || (/^[A-Za-z0-9\-._~+/]+=*$/.test(raw) && raw.length <= 1024) ? raw : undefined);

const MIN_MEMORY_BUDGET = 32 * 1024 * 1024;
const BINARY_SUFFIXES: Readonly<Record<string, number>> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
const memoryBudget = (raw: string): MemoryBudgetSetting | undefined => {
  if (raw === 'auto' || raw === 'off') return { kind: raw };
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(raw);
  const bytes = match ? Number(match[1]) * (BINARY_SUFFIXES[match[2] ?? ''] as number) : NaN;
  return Number.isSafeInteger(bytes) && bytes >= MIN_MEMORY_BUDGET ? { kind: 'bytes', bytes } : undefined;
};

const onOff = (raw: string) => (raw === 'on' ? true : raw === 'off' ? false : undefined);

const MAX_WORKERS = 256;
const workerCount = (raw: string) => (raw === 'auto' ? availableParallelism() : raw === '0' ? undefined : wholeNumber(MAX_WORKERS)(raw));

const positiveMs = (raw: string) => {
  const n = wholeNumber(600_000)(raw);
  return n !== undefined && n >= 1 ? n : undefined;
};
const countFrom1 = (max: number) => (raw: string) => {
  const n = wholeNumber(max)(raw);
  return n !== undefined && n >= 1 ? n : undefined;
};
const anyText = (max: number) => (raw: string) => (raw.length <= max && !/[\0\r\n]/.test(raw) ? raw : undefined);
const LISTENERS_ALLOWED = `empty (use ECHO_HOST/ECHO_PORT), or a comma-separated list of scheme://host:port with scheme ${LISTENER_SCHEMES.join(', ')}`;

const PORT_ALLOWED = 'an integer from 0 to 65535 (0 = ephemeral)';
const MS_ALLOWED = `an integer number of milliseconds from 0 to ${MAX_TIMER_MS}`;
const HOST_ALLOWED = 'an IP address or hostname';

const SETTINGS: readonly Setting<string | number | boolean | MemoryBudgetSetting>[] = [
  { key: 'host', env: 'ECHO_HOST', flag: '--host', fallback: '0.0.0.0', meaning: 'echo listener address', parse: hostname, allowed: HOST_ALLOWED },
  { key: 'port', env: 'ECHO_PORT', flag: '--port', fallback: '7000', meaning: 'echo listener port (0 = ephemeral)', parse: port, allowed: PORT_ALLOWED },
  { key: 'httpHost', env: 'HTTP_HOST', flag: '--http-host', fallback: '0.0.0.0', meaning: 'sidecar (health, metrics) address', parse: hostname, allowed: HOST_ALLOWED },
  { key: 'httpPort', env: 'HTTP_PORT', flag: '--http-port', fallback: '8080', meaning: 'sidecar port (0 = ephemeral)', parse: port, allowed: PORT_ALLOWED },
  { key: 'logLevel', env: 'LOG_LEVEL', flag: '--log-level', fallback: 'info', meaning: 'log level', parse: logLevel, allowed: `one of ${LOG_LEVELS.join(', ')}` },
  { key: 'shutdownTimeoutMs', env: 'SHUTDOWN_TIMEOUT_MS', flag: '--shutdown-timeout-ms', fallback: '25000', meaning: 'drain deadline after SIGTERM', parse: milliseconds, allowed: MS_ALLOWED },
  { key: 'shutdownDelayMs', env: 'SHUTDOWN_DELAY_MS', flag: '--shutdown-delay-ms', fallback: '0', meaning: 'after SIGTERM, keep accepting this long with readiness 503', parse: milliseconds, allowed: MS_ALLOWED },
  { key: 'shutdownQuietMs', env: 'SHUTDOWN_QUIET_MS', flag: '--shutdown-quiet-ms', fallback: '1000', meaning: 'while draining, close a connection quiet this long with nothing buffered', parse: milliseconds, allowed: MS_ALLOWED },
  { key: 'maxConnections', env: 'ECHO_MAX_CONNECTIONS', flag: '--max-connections', fallback: '0', meaning: 'connections above it are refused and counted (0 = no limit)', parse: wholeNumber(1_000_000_000), allowed: 'an integer from 0 (no limit) to 1000000000' },
  { key: 'workers', env: 'ECHO_WORKERS', flag: '--workers', fallback: '1', meaning: 'echo worker processes sharing the port (auto = one per CPU)', parse: workerCount, allowed: `an integer from 1 to ${MAX_WORKERS}, or auto (one per available CPU)` },
  { key: 'idleTimeoutMs', env: 'ECHO_IDLE_TIMEOUT_MS', flag: '--idle-timeout-ms', fallback: '0', meaning: 'close a connection silent this long (0 = off)', parse: milliseconds, allowed: MS_ALLOWED },
  { key: 'maxLifetimeMs', env: 'ECHO_MAX_CONNECTION_LIFETIME_MS', flag: '--max-connection-lifetime-ms', fallback: '0', meaning: 'stop reading, flush and close a connection open this long (0 = off)', parse: milliseconds, allowed: MS_ALLOWED },
  { key: 'maxPendingBytes', env: 'ECHO_MAX_PENDING_BYTES', flag: '--max-pending-bytes', fallback: '65536', meaning: 'per-connection buffer high-water mark; reading pauses above it', parse: pendingBytes, allowed: `an integer number of bytes from ${MIN_PENDING_BYTES} to ${MAX_PENDING_BYTES}` },
  { key: 'listeners', env: 'ECHO_LISTENERS', flag: '--listeners', fallback: '', meaning: 'several listeners: scheme://host:port,... (tcp, tcp+proxy, tls, tls+proxy, udp); empty = tcp://ECHO_HOST:ECHO_PORT', parse: anyText(4096), allowed: LISTENERS_ALLOWED },
  { key: 'tlsCert', env: 'ECHO_TLS_CERT', flag: '--tls-cert', fallback: '', meaning: 'PEM certificate (chain) file for tls listeners; reloaded on SIGHUP', parse: anyText(4096), allowed: 'a file path' },
  { key: 'tlsKey', env: 'ECHO_TLS_KEY', flag: '--tls-key', fallback: '', meaning: 'PEM private key file for tls listeners; reloaded on SIGHUP', parse: anyText(4096), allowed: 'a file path' },
  { key: 'tlsClientCa', env: 'ECHO_TLS_CLIENT_CA', flag: '--tls-client-ca', fallback: '', meaning: 'PEM CA file: tls listeners require client certificates it signed (mTLS)', parse: anyText(4096), allowed: 'a file path' },
  { key: 'tlsHandshakeTimeoutMs', env: 'ECHO_TLS_HANDSHAKE_TIMEOUT_MS', flag: '--tls-handshake-timeout-ms', fallback: '10000', meaning: 'tls listeners: deadline for a client\'s handshake', parse: positiveMs, allowed: 'an integer number of milliseconds from 1 to 600000' },
  { key: 'udpMaxDatagramBytes', env: 'ECHO_UDP_MAX_DATAGRAM_BYTES', flag: '--udp-max-datagram-bytes', fallback: '0', meaning: 'udp listeners: larger datagrams are dropped and counted (0 = protocol maximum)', parse: wholeNumber(65527), allowed: 'an integer from 0 (protocol maximum) to 65527' },
  { key: 'udpRecvBufferBytes', env: 'ECHO_UDP_RECV_BUFFER_BYTES', flag: '--udp-recv-buffer-bytes', fallback: '4194304', meaning: 'udp listeners: SO_RCVBUF asked for (0 = kernel default; capped by net.core.rmem_max)', parse: wholeNumber(1 << 30), allowed: 'an integer number of bytes from 0 to 1073741824' },
  { key: 'udpSendBufferBytes', env: 'ECHO_UDP_SEND_BUFFER_BYTES', flag: '--udp-send-buffer-bytes', fallback: '1048576', meaning: 'udp listeners: SO_SNDBUF asked for (0 = kernel default; capped by net.core.wmem_max)', parse: wholeNumber(1 << 30), allowed: 'an integer number of bytes from 0 to 1073741824' },
  { key: 'udpMaxQueuedSends', env: 'ECHO_UDP_MAX_QUEUED_SENDS', flag: '--udp-max-queued-sends', fallback: '1024', meaning: 'udp listeners: replies held while the send buffer is full', parse: wholeNumber(1_000_000), allowed: 'an integer from 0 to 1000000' },
  { key: 'udpSourceRate', env: 'ECHO_UDP_SOURCE_RATE', flag: '--udp-source-rate', fallback: '0', meaning: 'udp listeners: echoes per second for one source address (IPv6: /64), per process; 0 = no limit', parse: wholeNumber(10_000_000), allowed: 'an integer number of datagrams per second from 0 (no limit) to 10000000' },
  { key: 'udpSourceBurst', env: 'ECHO_UDP_SOURCE_BURST', flag: '--udp-source-burst', fallback: '1000', meaning: 'udp listeners: echoes a quiet source may have at once, with ECHO_UDP_SOURCE_RATE', parse: countFrom1(10_000_000), allowed: 'an integer number of datagrams from 1 to 10000000' },
  { key: 'proxyTimeoutMs', env: 'ECHO_PROXY_TIMEOUT_MS', flag: '--proxy-timeout-ms', fallback: '5000', meaning: '+proxy listeners: deadline for the PROXY header', parse: milliseconds, allowed: MS_ALLOWED },
  { key: 'banner', env: 'ECHO_BANNER', flag: '--banner', fallback: '', meaning: 'line sent on connect: {hostname} {client_addr} {listener} {env:NAME}; empty = off', parse: anyText(1024), allowed: 'up to 1024 characters, one line' },
  { key: 'httpRequestTimeoutMs', env: 'HTTP_REQUEST_TIMEOUT_MS', flag: '--http-request-timeout-ms', fallback: '10000', meaning: 'sidecar: deadline for a request, and for an idle connection', parse: httpTimeout, allowed: 'an integer number of milliseconds from 100 to 600000' },
  { key: 'memoryBudget', env: 'ECHO_MEMORY_BUDGET', flag: '--memory-budget', fallback: 'auto', meaning: 'memory guard budget: auto = 60% of the cgroup memory limit (off without one), off, or bytes (Ki/Mi/Gi suffix)', parse: memoryBudget, allowed: 'auto, off, or a number of bytes of at least 32Mi, optionally with the suffix Ki, Mi or Gi (e.g. 384Mi)' },
  { key: 'metricsGcDuration', env: 'METRICS_GC_DURATION', flag: '--metrics-gc-duration', fallback: 'off', meaning: 'export nodejs_gc_duration_seconds (watching every GC adds to tail latency at full load)', parse: onOff, allowed: 'on or off' },
  { key: 'metricsToken', env: 'METRICS_TOKEN', flag: '--metrics-token', fallback: '', meaning: '/metrics requires `Authorization: Bearer <token>` (empty = open)', parse: bearerToken, allowed: 'empty, or a bearer token of up to 1024 characters from A-Z a-z 0-9 - . _ ~ + / (then = padding)', secret: true },
];

export function helpText(): string {
  const rows = SETTINGS.map(
    (s) => `  ${`${s.flag} <value>`.padEnd(38)} ${s.env.padEnd(32)} ${(s.fallback || '(empty)').padEnd(16)} ${s.meaning}`,
  );
  return [
    'Usage: tcp-echo [options]',
    '',
    'A TCP echo service with a health and Prometheus metrics sidecar.',
    'Every option can also be set by its environment variable; a flag wins over the variable.',
    '',
    `  ${'flag'.padEnd(38)} ${'environment'.padEnd(32)} ${'default'.padEnd(16)} meaning`,
    ...rows,
    `  ${'--help, -h'.padEnd(38)} ${''.padEnd(32)} ${''.padEnd(16)} print this help and exit`,
    '',
  ].join('\n');
}

type Env = Readonly<Record<string, string | undefined>>;

/** Parses flags (`--port 7000` or `--port=7000`) over environment variables over defaults. */
export function parseConfig(argv: readonly string[], env: Env): ParseOutcome {
  const fromFlags = new Map<Key, { raw: string; name: string }>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return { kind: 'help', text: helpText() };
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const setting = SETTINGS.find((s) => s.flag === name);
    if (!setting) throw new ConfigError('command-line option', arg, `not a known option; the options are ${SETTINGS.map((s) => s.flag).join(', ')}, --help`);
    let raw: string | undefined;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else {
      raw = argv[i + 1];
      i++;
    }
    if (raw === undefined) throw new ConfigError(setting.flag, '', `missing value: ${setting.allowed}`);
    fromFlags.set(setting.key, { raw, name: setting.flag });
  }

  const values = {} as Record<Key, string | number | boolean | MemoryBudgetSetting>;
  const names = {} as Record<Key, string>;
  /** Where a value came from: the variable or flag the operator used, else both ways to set it. */
  const origins = {} as Record<Key, string>;
  for (const s of SETTINGS) {
    const given = fromFlags.get(s.key) ?? (env[s.env] !== undefined ? { raw: env[s.env] as string, name: s.env } : undefined);
    const raw = given?.raw ?? s.fallback;
    names[s.key] = given?.name ?? s.env;
    origins[s.key] = given?.name ?? `${s.env}/${s.flag}`;
    const parsed = s.parse(raw.trim());
    if (parsed === undefined) throw new ConfigError(names[s.key], s.secret ? `<${raw.length} characters, not shown>` : raw, s.allowed);
    values[s.key] = parsed;
  }

  const listeners = parseListeners(values.listeners as string, names.listeners, origins.listeners) ?? [
    listenerSpec('tcp', values.host as string, values.port as number, `${origins.host}, ${origins.port}`),
  ];
  const tls = listeners.some((l) => l.tls) ? tlsFiles(values, names) : undefined;

  const config: Config = {
    listeners,
    tls,
    udp: {
      maxDatagramBytes: values.udpMaxDatagramBytes as number,
      recvBufferBytes: values.udpRecvBufferBytes as number,
      sendBufferBytes: values.udpSendBufferBytes as number,
      maxQueuedSends: values.udpMaxQueuedSends as number,
      sourceRatePerSecond: values.udpSourceRate as number,
      sourceBurst: values.udpSourceBurst as number,
    },
    echo: {
      host: values.host as string,
      port: values.port as number,
      maxConnections: values.maxConnections as number,
      idleTimeoutMs: values.idleTimeoutMs as number,
      maxLifetimeMs: values.maxLifetimeMs as number,
      maxPendingBytes: values.maxPendingBytes as number,
      proxyTimeoutMs: values.proxyTimeoutMs as number,
      banner: values.banner as string,
    },
    http: {
      host: values.httpHost as string,
      port: values.httpPort as number,
      origin: `${origins.httpHost}, ${origins.httpPort}`,
      requestTimeoutMs: values.httpRequestTimeoutMs as number,
      metricsToken: (values.metricsToken as string) || undefined,
    },
    memoryBudget: values.memoryBudget as MemoryBudgetSetting,
    metrics: { gcDuration: values.metricsGcDuration as boolean },
    logLevel: values.logLevel as LogLevel,
    workers: values.workers as number,
    shutdown: {
      timeoutMs: values.shutdownTimeoutMs as number,
      delayMs: values.shutdownDelayMs as number,
      quietMs: values.shutdownQuietMs as number,
    },
  };
  if (config.shutdown.delayMs > config.shutdown.timeoutMs) {
    throw new ConfigError(
      names.shutdownDelayMs,
      String(config.shutdown.delayMs),
      `must not exceed ${names.shutdownTimeoutMs} (${config.shutdown.timeoutMs}): the deadline counts from the signal`,
    );
  }
  return { kind: 'run', config };
}

const LISTENER_PATTERN = /^([a-z+]+):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d+)$/;
const MAX_LISTENERS = 32;

function listenerSpec(scheme: ListenerScheme, host: string, port: number, origin: string): ListenerSpec {
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    name: `${scheme}://${hostPart}:${port}`,
    scheme,
    transport: scheme === 'udp' ? 'udp' : 'tcp',
    tls: scheme.startsWith('tls'),
    proxy: scheme.endsWith('+proxy'),
    host,
    port,
    origin,
  };
}

/** ECHO_LISTENERS: `scheme://host:port,...`; undefined when empty. */
function parseListeners(raw: string, setting: string, origin: string): ListenerSpec[] | undefined {
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length === 0) return undefined;
  if (entries.length > MAX_LISTENERS) throw new ConfigError(setting, raw, `at most ${MAX_LISTENERS} listeners`);
  const specs = entries.map((entry) => {
    const match = LISTENER_PATTERN.exec(entry);
    const scheme = match?.[1] as ListenerScheme | undefined;
    const portNumber = port(match?.[3] ?? '');
    if (!match || !scheme || !LISTENER_SCHEMES.includes(scheme) || portNumber === undefined) {
      throw new ConfigError(setting, raw, `entry ${JSON.stringify(entry)} is not scheme://host:port with scheme ${LISTENER_SCHEMES.join(', ')} and port 0-65535`);
    }
    const host = (match[2] as string).replace(/^\[(.*)\]$/, '$1');
    return listenerSpec(scheme, host, portNumber, origin);
  });
  const seen = new Set<string>();
  for (const spec of specs) {
    // Two TCP-family listeners cannot share an address; TCP and UDP on one port can.
    const key = `${spec.transport}|${spec.host}|${spec.port}`;
    if (spec.port !== 0 && seen.has(key)) throw new ConfigError(setting, raw, `${spec.name} listens on the same ${spec.transport} address as another entry`);
    seen.add(key);
  }
  const names = specs.map((spec) => spec.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw new ConfigError(setting, raw, `${duplicate} is listed twice`);
  return specs;
}

function tlsFiles(values: Record<Key, string | number | boolean | MemoryBudgetSetting>, names: Record<Key, string>): TlsFiles {
  const certFile = values.tlsCert as string;
  const keyFile = values.tlsKey as string;
  if (!certFile) throw new ConfigError(names.tlsCert, '', 'a tls listener needs a PEM certificate file');
  if (!keyFile) throw new ConfigError(names.tlsKey, '', 'a tls listener needs a PEM private key file');
  return { certFile, keyFile, clientCaFile: (values.tlsClientCa as string) || undefined, handshakeTimeoutMs: values.tlsHandshakeTimeoutMs as number };
}
