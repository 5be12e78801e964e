// Parsing is pure (argv and env in, Config or ConfigError out): flags over environment variables
// over the defaults in the settings table.
import { parsePort, SETTING_KEYS, SETTINGS, type Setting, type SettingKey, type SettingValues } from './settings.js';
import { parseBehaviour, type ListenerBehaviour } from './behaviour.js';
import { LISTENER_SCHEMES, type Config, type ListenerScheme, type ListenerSpec, type TlsFiles } from './types.js';

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

export function helpText(): string {
  const rows = SETTING_KEYS.map((key) => {
    const s: Setting<unknown> = SETTINGS[key];
    return `  ${`${s.flag} <value>`.padEnd(38)} ${s.env.padEnd(32)} ${(s.fallback || '(empty)').padEnd(16)} ${s.meaning}`;
  });
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
    'tcp-echo probe --help: the client that tests an echo path end to end (docs/probe.md).',
    '',
  ].join('\n');
}

type Env = Readonly<Record<string, string | undefined>>;
type Given = { readonly raw: string; readonly name: string };

/** Flags as given: `--port 7000` or `--port=7000`; undefined for --help. */
function readFlags(argv: readonly string[]): Map<SettingKey, Given> | undefined {
  const given = new Map<SettingKey, Given>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return undefined;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const key = SETTING_KEYS.find((k) => SETTINGS[k].flag === name);
    if (!key) throw new ConfigError('command-line option', arg, `not a known option; the options are ${SETTING_KEYS.map((k) => SETTINGS[k].flag).join(', ')}, --help`);
    const raw = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new ConfigError(name, '', `missing value: ${SETTINGS[key].allowed}`);
    given.set(key, { raw, name });
  }
  return given;
}

/** Every setting's value, with the name the operator used for it and where it came from. */
interface Resolved {
  readonly values: SettingValues;
  /** The variable or flag that set it, else its variable (what an error line names). */
  readonly names: Readonly<Record<SettingKey, string>>;
  /** The variable or flag that set it, else both ways to set it (what a start error names). */
  readonly origins: Readonly<Record<SettingKey, string>>;
}

function resolve(flags: ReadonlyMap<SettingKey, Given>, env: Env): Resolved {
  const values: Partial<Record<SettingKey, unknown>> = {};
  const names: Partial<Record<SettingKey, string>> = {};
  const origins: Partial<Record<SettingKey, string>> = {};
  for (const key of SETTING_KEYS) {
    const s: Setting<unknown> = SETTINGS[key];
    const fromEnv = env[s.env];
    const given = flags.get(key) ?? (fromEnv !== undefined ? { raw: fromEnv, name: s.env } : undefined);
    const raw = given?.raw ?? s.fallback;
    names[key] = given?.name ?? s.env;
    origins[key] = given?.name ?? `${s.env}/${s.flag}`;
    const parsed = s.parse(raw.trim());
    if (parsed === undefined) throw new ConfigError(names[key], s.secret ? `<${raw.length} characters, not shown>` : raw, s.allowed);
    values[key] = parsed;
  }
  // Every key was set above, each by its own setting's parser.
  return { values: values as SettingValues, names: names as Record<SettingKey, string>, origins: origins as Record<SettingKey, string> };
}

export function parseConfig(argv: readonly string[], env: Env): ParseOutcome {
  const flags = readFlags(argv);
  if (!flags) return { kind: 'help', text: helpText() };
  const { values, names, origins } = resolve(flags, env);

  const listeners = parseListeners(values.listeners, names.listeners, origins.listeners) ?? [listenerSpec('tcp', values.host, values.port, `${origins.host}, ${origins.port}`)];
  const config: Config = {
    listeners,
    tls: listeners.some((l) => l.tls) ? tlsFiles(values, names) : undefined,
    udp: {
      maxDatagramBytes: values.udpMaxDatagramBytes,
      recvBufferBytes: values.udpRecvBufferBytes,
      sendBufferBytes: values.udpSendBufferBytes,
      maxQueuedSends: values.udpMaxQueuedSends,
      sourceRatePerSecond: values.udpSourceRate,
      sourceBurst: values.udpSourceBurst,
    },
    echo: {
      host: values.host,
      port: values.port,
      maxConnections: values.maxConnections,
      idleTimeoutMs: values.idleTimeoutMs,
      maxLifetimeMs: values.maxLifetimeMs,
      maxPendingBytes: values.maxPendingBytes,
      keepAliveMs: values.keepAliveMs,
      proxyTimeoutMs: values.proxyTimeoutMs,
      banner: values.banner,
    },
    http: {
      host: values.httpHost,
      port: values.httpPort,
      origin: `${origins.httpHost}, ${origins.httpPort}`,
      requestTimeoutMs: values.httpRequestTimeoutMs,
      metricsToken: values.metricsToken || undefined,
    },
    memoryBudget: values.memoryBudget,
    metrics: { gcDuration: values.metricsGcDuration },
    logLevel: values.logLevel,
    workers: values.workers,
    shutdown: { timeoutMs: values.shutdownTimeoutMs, delayMs: values.shutdownDelayMs, quietMs: values.shutdownQuietMs },
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

/** The configuration with every setting at its default: what tests and tools start from. */
export function defaultConfig(): Config {
  const outcome = parseConfig([], {});
  if (outcome.kind !== 'run') throw new Error('unreachable: no --help given');
  return outcome.config;
}

const LISTENER_PATTERN = /^([a-z+]+):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+|\*):(\d+)(?:\?([A-Za-z0-9_=&.%-]*))?$/;
const MAX_LISTENERS = 32;

function listenerSpec(scheme: ListenerScheme, host: string, port: number, origin: string, query = '', behaviour?: ListenerBehaviour): ListenerSpec {
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    // Options are part of the name (and so of the `listener` label): a listener per entry, as configured.
    name: `${scheme}://${hostPart}:${port}${query ? `?${query}` : ''}`,
    ...(behaviour ? { behaviour } : {}),
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
    const scheme = LISTENER_SCHEMES.find((known) => known === match?.[1]);
    const portNumber = parsePort(match?.[3] ?? '');
    if (!match || !scheme || portNumber === undefined) {
      throw new ConfigError(setting, raw, `entry ${JSON.stringify(entry)} is not scheme://host:port with scheme ${LISTENER_SCHEMES.join(', ')} and port 0-65535`);
    }
    const host = (match[2] as string).replace(/^\[(.*)\]$/, '$1');
    const query = match[4] ?? '';
    let behaviour: ListenerBehaviour | undefined;
    try {
      behaviour = parseBehaviour(query, scheme === 'udp' ? 'udp' : 'tcp');
    } catch (error) {
      throw new ConfigError(setting, raw, `entry ${JSON.stringify(entry)}: ${(error as Error).message}`);
    }
    return listenerSpec(scheme, host, portNumber, origin, query, behaviour);
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

function tlsFiles(values: SettingValues, names: Readonly<Record<SettingKey, string>>): TlsFiles {
  if (!values.tlsCert) throw new ConfigError(names.tlsCert, '', 'a tls listener needs a PEM certificate file');
  if (!values.tlsKey) throw new ConfigError(names.tlsKey, '', 'a tls listener needs a PEM private key file');
  return { certFile: values.tlsCert, keyFile: values.tlsKey, clientCaFile: values.tlsClientCa || undefined, handshakeTimeoutMs: values.tlsHandshakeTimeoutMs };
}
