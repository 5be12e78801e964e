// `tcp-echo probe` arguments: one table of options (flag, default, help line, parser), the target,
// the checks between options, and --help generated from the table. Pure: argv in, options or a
// ProbeArgumentError (one line naming the option) out.
import { isIP } from 'node:net';
import type { Endpoint, ProxyVersion } from './proxy-header.js';
import { MAX_DATAGRAM_BYTES } from './udp.js';
import { BYTES_SYNTAX, MAX_TIMER_MS, parseBytes, parseDuration, wholeNumberFrom } from '../config/units.js';

/** An argument that is not allowed. The message is the one line the user sees (exit 2). */
export class ProbeArgumentError extends Error {
  constructor(
    readonly option: string,
    readonly value: string | undefined,
    readonly allowed: string,
  ) {
    super(`invalid argument: ${option}${value === undefined ? '' : `=${JSON.stringify(value)}`}: ${allowed}`);
    this.name = 'ProbeArgumentError';
  }
}

export type Transport = 'tcp' | 'tls' | 'udp';

export interface ProbeTarget {
  readonly transport: Transport;
  readonly host: string;
  readonly port: number;
  /** As given, e.g. tcp://127.0.0.1:7000. */
  readonly text: string;
}

export type ErrorBudget = { readonly kind: 'count'; readonly max: number } | { readonly kind: 'fraction'; readonly max: number };

export interface TlsOptions {
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly insecure: boolean;
  readonly servername: string | undefined;
}

export interface ProbeOptions {
  readonly target: ProbeTarget;
  readonly size: number;
  /** undefined: as many as --duration allows. */
  readonly count: number | undefined;
  readonly durationMs: number | undefined;
  /** Messages per second across all connections; 0: unpaced. */
  readonly ratePerSecond: number;
  readonly concurrency: number;
  /** 0: one connection per slot for the whole run. */
  readonly messagesPerConnection: number;
  readonly timeoutMs: number;
  readonly bannerLines: number;
  readonly proxy: { readonly version: ProxyVersion; readonly source: Endpoint | undefined; readonly destination: Endpoint | undefined } | undefined;
  readonly errorBudget: ErrorBudget;
  readonly tls: TlsOptions;
  readonly json: boolean;
  /** undefined: only when stderr is a terminal. */
  readonly progress: true | undefined;
}

export type ProbeArgsOutcome = { readonly kind: 'help'; readonly text: string } | { readonly kind: 'run'; readonly options: ProbeOptions };

export const DEFAULT_COUNT = 100;
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const MAX_COUNT = 1_000_000_000;
const MAX_CONCURRENCY = 10_000;
const MAX_RATE = 1_000_000;
const MAX_BANNER_LINES = 100;
const MAX_DURATION_MS = 24 * 3600 * 1000;

interface OptionDefinition<T> {
  readonly flag: string;
  /** The value's placeholder in --help; undefined for a switch (no value). */
  readonly placeholder: string | undefined;
  /** The default, as a user would read it. */
  readonly fallback: string;
  readonly meaning: string;
  /** What is allowed, for the error line. */
  readonly allowed: string;
  readonly parse: (raw: string) => T | undefined;
}

const option = <T>(definition: OptionDefinition<T>): OptionDefinition<T> => definition;
const switchOption = (flag: string, fallback: string, meaning: string) => option({ flag, placeholder: undefined, fallback, meaning, allowed: 'takes no value', parse: () => true as const });

const bytes = (raw: string) => {
  const n = parseBytes(raw);
  return n !== undefined && n >= 1 && n <= MAX_MESSAGE_BYTES ? n : undefined;
};

const duration = (max: number) => (raw: string) => {
  const ms = parseDuration(raw, 's');
  return ms !== undefined && ms >= 1 && ms <= max ? ms : undefined;
};

const rate = (raw: string) => {
  if (!/^\d+(\.\d+)?$/.test(raw)) return undefined;
  const n = Number(raw);
  return n <= MAX_RATE ? n : undefined;
};

const errorBudget = (raw: string): ErrorBudget | undefined => {
  if (/^\d+$/.test(raw)) return { kind: 'count', max: Number(raw) };
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(raw);
  const fraction = percent ? Number(percent[1]) / 100 : /^\d*\.\d+$/.test(raw) ? Number(raw) : NaN;
  return fraction >= 0 && fraction <= 1 ? { kind: 'fraction', max: fraction } : undefined;
};

const proxyVersion = (raw: string): ProxyVersion | undefined => (raw === 'v1' ? 1 : raw === 'v2' ? 2 : undefined);

/** ADDRESS:PORT, an IPv6 address in brackets. */
const endpoint = (raw: string): Endpoint | undefined => {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d+)$/.exec(raw);
  const address = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (address === undefined || !(port <= 65535)) return undefined;
  return (match?.[1] !== undefined ? isIP(address) === 6 : isIP(address) === 4) ? { address, port } : undefined;
};

const filePath = (raw: string) => (raw !== '' ? raw : undefined);
const serverName = (raw: string) => (/^[A-Za-z0-9.-]{1,253}$/.test(raw) ? raw : undefined);

const OPTIONS = {
  size: option({ flag: '--size', placeholder: 'BYTES', fallback: '64', meaning: 'bytes per message (1200, 1Ki, 4MiB); for udp, one datagram', allowed: `from 1 to ${MAX_MESSAGE_BYTES} (64Mi): ${BYTES_SYNTAX}`, parse: bytes }),
  count: option({ flag: '--count', placeholder: 'N', fallback: String(DEFAULT_COUNT), meaning: `messages in all (without --duration; with it, no limit unless given)`, allowed: `an integer from 1 to ${MAX_COUNT}`, parse: wholeNumberFrom(1, MAX_COUNT) }),
  duration: option({ flag: '--duration', placeholder: 'TIME', fallback: '(none)', meaning: 'run this long (500ms, 30s, 5m, 1h; a bare number is seconds); with --count, whichever ends first', allowed: 'a duration from 1ms to 24h: a number with the unit ms, s, m or h (a bare number is seconds)', parse: duration(MAX_DURATION_MS) }),
  rate: option({ flag: '--rate', placeholder: 'N', fallback: '0', meaning: 'messages per second across all connections (0 = each as soon as the one before on its connection is back)', allowed: `a number from 0 to ${MAX_RATE}`, parse: rate }),
  concurrency: option({ flag: '--concurrency', placeholder: 'N', fallback: '1', meaning: 'connections (udp: sockets) at once, each one message at a time', allowed: `an integer from 1 to ${MAX_CONCURRENCY}`, parse: wholeNumberFrom(1, MAX_CONCURRENCY) }),
  messagesPerConnection: option({ flag: '--messages-per-connection', placeholder: 'N', fallback: '0', meaning: 'close a connection after N messages and open a new one (0 = keep it)', allowed: `an integer from 0 to ${MAX_COUNT}`, parse: wholeNumberFrom(0, MAX_COUNT) }),
  timeout: option({ flag: '--timeout', placeholder: 'TIME', fallback: '5s', meaning: 'deadline for a connection, a TLS handshake, the banner and each echo', allowed: 'a duration from 1ms to 24 days: a number with the unit ms, s, m or h (a bare number is seconds)', parse: duration(MAX_TIMER_MS) }),
  bannerLines: option({ flag: '--banner-lines', placeholder: 'N', fallback: '0', meaning: 'lines the server sends first (ECHO_BANNER): read and reported, not checked as echo', allowed: `an integer from 0 to ${MAX_BANNER_LINES}`, parse: wholeNumberFrom(0, MAX_BANNER_LINES) }),
  proxy: option({ flag: '--proxy', placeholder: 'v1|v2', fallback: '(none)', meaning: 'send a PROXY protocol header first, as a load balancer does (tcp, tls)', allowed: 'v1 or v2', parse: proxyVersion }),
  proxySource: option({ flag: '--proxy-source', placeholder: 'ADDR:PORT', fallback: '(own address)', meaning: 'the client the PROXY header names ([v6]:port for IPv6)', allowed: 'an IP address and a port, ADDRESS:PORT ([ADDRESS]:PORT for IPv6)', parse: endpoint }),
  proxyDestination: option({ flag: '--proxy-destination', placeholder: 'ADDR:PORT', fallback: '(target)', meaning: 'the destination the PROXY header names', allowed: 'an IP address and a port, ADDRESS:PORT ([ADDRESS]:PORT for IPv6)', parse: endpoint }),
  maxErrors: option({ flag: '--max-errors', placeholder: 'N|FRACTION', fallback: '0', meaning: 'error budget: a count (5) or a fraction of the messages (0.01 or 1%); more fail the run', allowed: 'a whole number of errors, or a fraction of the messages from 0 to 1 (0.01) or a percentage (1%)', parse: errorBudget }),
  ca: option({ flag: '--ca', placeholder: 'FILE', fallback: '(system CAs)', meaning: 'PEM CA certificates to verify the server against (tls)', allowed: 'a file name', parse: filePath }),
  insecure: switchOption('--insecure', 'off', 'do not verify the server certificate (tls)'),
  servername: option({ flag: '--servername', placeholder: 'NAME', fallback: '(target host)', meaning: 'the name sent as SNI and verified in the certificate (tls)', allowed: 'a DNS name', parse: serverName }),
  cert: option({ flag: '--cert', placeholder: 'FILE', fallback: '(none)', meaning: 'PEM client certificate for mutual TLS (with --key)', allowed: 'a file name', parse: filePath }),
  key: option({ flag: '--key', placeholder: 'FILE', fallback: '(none)', meaning: 'PEM private key of the client certificate', allowed: 'a file name', parse: filePath }),
  json: switchOption('--json', 'off', 'one JSON object on stdout instead of the text report'),
  progress: switchOption('--progress', '(on a terminal)', 'a progress line on stderr every second, even when stderr is not a terminal'),
} as const;

type OptionKey = keyof typeof OPTIONS;
type OptionValues = { [K in OptionKey]?: NonNullable<ReturnType<(typeof OPTIONS)[K]['parse']>> };
const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[];

export function probeHelpText(): string {
  const rows = OPTION_KEYS.map((key) => {
    const { flag, placeholder, fallback, meaning } = OPTIONS[key];
    return `  ${`${flag}${placeholder ? ` ${placeholder}` : ''}`.padEnd(34)} ${fallback.padEnd(16)} ${meaning}`;
  });
  return [
    'Usage: tcp-echo probe [options] <target>',
    '',
    'Tests an echo path end to end from the client side: sends patterned messages, checks that every',
    'byte comes back in order (for udp, each datagram whole), and reports round-trip percentiles,',
    'throughput and errors by kind. Exit 0: every echo matched and the errors stayed within the',
    'budget; 1: a mismatch, or errors over the budget; 2: invalid arguments.',
    '',
    '  target: tcp://HOST:PORT, tls://HOST:PORT or udp://HOST:PORT (an IPv6 address in brackets)',
    '',
    `  ${'option'.padEnd(34)} ${'default'.padEnd(16)} meaning`,
    ...rows,
    `  ${'--help, -h'.padEnd(34)} ${''.padEnd(16)} print this help and exit`,
    '',
  ].join('\n');
}

const TARGET_PATTERN = /^(tcp|tls|udp):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d+)$/;
const TARGET_ALLOWED = 'tcp://HOST:PORT, tls://HOST:PORT or udp://HOST:PORT with a port from 1 to 65535 (an IPv6 address in brackets)';

function parseTarget(raw: string): ProbeTarget {
  const match = TARGET_PATTERN.exec(raw);
  const port = Number(match?.[3]);
  const bracketed = match?.[2]?.startsWith('[');
  const host = bracketed ? (match?.[2] as string).slice(1, -1) : match?.[2];
  if (!match || host === undefined || !(port >= 1 && port <= 65535) || (bracketed && isIP(host) !== 6)) throw new ProbeArgumentError('target', raw, TARGET_ALLOWED);
  return { transport: match[1] as Transport, host, port, text: raw };
}

/** Options as given (`--size 64` or `--size=64`) and the positional arguments; undefined for --help. */
function readArgv(argv: readonly string[]): { values: OptionValues; given: Map<OptionKey, string>; positional: string[] } | undefined {
  const values: Record<string, unknown> = {};
  const given = new Map<OptionKey, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return undefined;
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const key = OPTION_KEYS.find((k) => OPTIONS[k].flag === flag);
    if (!key) throw new ProbeArgumentError('option', arg, `not a known option; the options are ${OPTION_KEYS.map((k) => OPTIONS[k].flag).join(', ')}, --help`);
    const definition: OptionDefinition<unknown> = OPTIONS[key];
    let raw: string;
    if (definition.placeholder === undefined) {
      if (eq !== -1) throw new ProbeArgumentError(flag, arg.slice(eq + 1), definition.allowed);
      raw = '';
    } else {
      const next = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
      if (next === undefined) throw new ProbeArgumentError(flag, '', `missing value: ${definition.allowed}`);
      raw = next;
    }
    const parsed = definition.parse(raw);
    if (parsed === undefined) throw new ProbeArgumentError(flag, raw, definition.allowed);
    values[key] = parsed;
    given.set(key, raw);
  }
  return { values: values as OptionValues, given, positional };
}

export function parseProbeArgs(argv: readonly string[]): ProbeArgsOutcome {
  const read = readArgv(argv);
  if (!read) return { kind: 'help', text: probeHelpText() };
  const { values, given, positional } = read;
  if (positional.length === 0) throw new ProbeArgumentError('target', '', `missing: ${TARGET_ALLOWED}`);
  if (positional.length > 1) throw new ProbeArgumentError('target', positional[1], 'only one target: put options before or after it');
  const target = parseTarget(positional[0] as string);

  const rejectFor = (keys: readonly OptionKey[], allowed: string) => {
    const key = keys.find((k) => given.has(k));
    if (key) throw new ProbeArgumentError(OPTIONS[key].flag, OPTIONS[key].placeholder ? given.get(key) : undefined, allowed);
  };
  if (target.transport !== 'tls') rejectFor(['ca', 'insecure', 'servername', 'cert', 'key'], 'only for a tls:// target');
  if (target.transport === 'udp') {
    rejectFor(['proxy', 'proxySource', 'proxyDestination'], 'only for tcp:// and tls:// targets (PROXY headers precede a stream)');
    if ((values.bannerLines ?? 0) > 0) rejectFor(['bannerLines'], 'only for tcp:// and tls:// targets (a banner precedes a stream)');
    if ((values.size ?? 0) > MAX_DATAGRAM_BYTES) rejectFor(['size'], `at most ${MAX_DATAGRAM_BYTES} bytes for a udp:// target (one datagram)`);
  }
  if (!values.proxy) rejectFor(['proxySource', 'proxyDestination'], 'only with --proxy v1 or v2');
  if (values.cert && !values.key) throw new ProbeArgumentError('--key', undefined, 'missing: --cert needs the private key of its certificate');
  if (values.key && !values.cert) throw new ProbeArgumentError('--cert', undefined, 'missing: --key needs its certificate');
  if (values.insecure && values.ca) throw new ProbeArgumentError('--insecure', undefined, 'not with --ca: verify against the CA, or not at all');

  const durationMs = values.duration;
  return {
    kind: 'run',
    options: {
      target,
      size: values.size ?? 64,
      count: values.count ?? (durationMs === undefined ? DEFAULT_COUNT : undefined),
      durationMs,
      ratePerSecond: values.rate ?? 0,
      concurrency: values.concurrency ?? 1,
      messagesPerConnection: values.messagesPerConnection ?? 0,
      timeoutMs: values.timeout ?? 5000,
      bannerLines: values.bannerLines ?? 0,
      proxy: values.proxy ? { version: values.proxy, source: values.proxySource, destination: values.proxyDestination } : undefined,
      errorBudget: values.maxErrors ?? { kind: 'count', max: 0 },
      tls: { caFile: values.ca, certFile: values.cert, keyFile: values.key, insecure: values.insecure ?? false, servername: values.servername },
      json: values.json ?? false,
      progress: values.progress,
    },
  };
}
