// What a parsed configuration holds: the service's settings as the rest of the code uses them.
import type { ListenerBehaviour } from './behaviour.js';
/**
 * The host that means every address family the host has: Node's unspecified address (`::`, which
 * takes IPv4 clients as IPv4-mapped addresses, falling back to `0.0.0.0` where IPv6 is absent).
 */
export const ANY_HOST = '*';

/** The address to hand to listen()/bind(): undefined for ANY_HOST, so Node picks the family. */
export const bindAddress = (host: string): string | undefined => (host === ANY_HOST ? undefined : host);

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
  /** Test behaviours from the entry's query string; absent = a plain echo. */
  readonly behaviour?: ListenerBehaviour;
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

/** ECHO_MEMORY_BUDGET: `auto` derives it from the cgroup's memory limit at start (overload/memory.ts). */
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
    /** TCP keepalive idle time on accepted connections; 0 = off. */
    readonly keepAliveMs: number;
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
    /** Export nodejs_gc_duration_seconds: watching every garbage collection costs the echo path (metrics/runtime.ts). */
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

