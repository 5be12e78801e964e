import type { Logger } from 'pino';
import type { Config, ListenerSpec } from '../config/types.js';
import { compileBanner } from '../tcp/banner.js';
import { createEchoListener, type EchoListener } from '../tcp/listener.js';
import { createEchoStats, type EchoStats } from '../tcp/stats.js';
import { createTlsEndpoint, createTlsStats, type TlsEndpoint, type TlsMaterial, type TlsStats } from '../tls/index.js';
import type { Listener } from './listener.js';

/** A tcp, tcp+proxy, tls or tls+proxy listener with its counters. */
export interface TcpListener extends Listener {
  readonly echo: EchoListener;
  readonly stats: EchoStats;
  /** tls listeners: the handshake counters, and the certificate in use once listening. */
  readonly tls: { readonly stats: TlsStats; readonly endpoint: () => TlsEndpoint | undefined } | undefined;
}

export interface TcpListenerDeps {
  readonly logger: Logger;
  readonly now: () => number;
  /** Where banner templates read {env:NAME}. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Certificate material already loaded and checked; absent, tls listeners read the files at listen(). */
  readonly tlsMaterial?: TlsMaterial | undefined;
  /** One of several workers serving the same ports (see EchoListenerOptions.reusePort). */
  readonly reusePort: boolean;
  /** Called with the bound port (the process answers no UDP datagram from it). */
  readonly onBound: (port: number) => void;
}

export function createTcpListener(spec: ListenerSpec, config: Pick<Config, 'echo' | 'tls'>, deps: TcpListenerDeps): TcpListener {
  const { logger } = deps;
  const stats = createEchoStats();
  const tlsFiles = spec.tls ? config.tls : undefined;
  const tlsStats = tlsFiles ? createTlsStats() : undefined;
  let endpoint: TlsEndpoint | undefined;
  const echo = createEchoListener({
    host: spec.host,
    port: spec.port,
    maxConnections: config.echo.maxConnections,
    idleTimeoutMs: config.echo.idleTimeoutMs,
    maxLifetimeMs: config.echo.maxLifetimeMs,
    maxPendingBytes: config.echo.maxPendingBytes,
    keepAliveMs: config.echo.keepAliveMs,
    ...(spec.behaviour?.kind === 'tcp' ? { behaviour: spec.behaviour } : {}),
    reusePort: deps.reusePort,
    proxy: spec.proxy,
    proxyTimeoutMs: config.echo.proxyTimeoutMs,
    banner: config.echo.banner ? compileBanner(config.echo.banner, { listener: spec.name, env: deps.env }) : undefined,
    tls: tlsFiles
      ? async () => (endpoint = await createTlsEndpoint({ files: tlsFiles, material: deps.tlsMaterial, handshakeTimeoutMs: tlsFiles.handshakeTimeoutMs, logger, stats: tlsStats }))
      : undefined,
    stats,
    logger,
    now: deps.now,
  });
  return {
    spec,
    echo,
    stats,
    tls: tlsStats ? { stats: tlsStats, endpoint: () => endpoint } : undefined,
    async listen() {
      const address = await echo.listen();
      deps.onBound(address.port);
      return address;
    },
    get accepting() {
      return echo.accepting;
    },
    get address() {
      return echo.address;
    },
    get activeConnections() {
      return echo.activeConnections;
    },
    pendingWriteBytes: () => echo.pendingWriteBytes(),
    stopAccepting: () => echo.stopAccepting(),
    drain: (quietMs) => echo.drain(quietMs),
    idle: () => echo.idle(),
    closeAll: () => echo.closeAll(),
    detail: () => ({
      name: spec.name,
      scheme: spec.scheme,
      ...echo.address,
      accepting: echo.accepting,
      activeConnections: echo.activeConnections,
      ...(spec.behaviour ? { behaviour: spec.behaviour } : {}),
      ...(endpoint ? { certificate: endpoint.material.certificate.subject, certificateNotAfter: endpoint.material.certificate.notAfter } : {}),
    }),
  };
}
