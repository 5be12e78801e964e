import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { registerScrapedCounter } from '../metrics/scraped-counter.js';
import type { Config, ListenerSpec } from '../config/parse.js';
import { compileBanner } from '../tcp/banner.js';
import { createEchoListener, type EchoListener } from '../tcp/listener.js';
import { createEchoStats, PROXY_ERROR_REASONS, type EchoStats } from '../tcp/stats.js';
import { createMetrics, type EchoSource, type Metrics } from '../metrics/exposition.js';
import { StartError } from './start-error.js';
import { createTlsEndpoint, createTlsStats, TLS_HANDSHAKE_FAILURE_REASONS, type TlsEndpoint, type TlsMaterial, type TlsStats } from '../tls/index.js';
import { createMemoryGuard, type MemoryGuard } from '../overload/memory-guard.js';
import { fullGarbageCollector, processMemorySampler, type MemorySampler } from '../overload/memory.js';
import { registerMemoryGuardMetrics } from '../overload/metrics.js';
import { createUdpEchoListener, type UdpEchoListener } from '../udp/listener.js';
import { registerUdpMetrics } from '../udp/metrics.js';
import { createSourcePortPolicy } from '../udp/source-ports.js';
import { createSourceRateLimiter } from '../udp/source-rate.js';
import { createUdpStats, type UdpStats } from '../udp/stats.js';

interface TcpMember {
  readonly kind: 'tcp';
  readonly spec: ListenerSpec;
  readonly listener: EchoListener;
  readonly stats: EchoStats;
  readonly tls: { readonly stats: TlsStats; endpoint: TlsEndpoint | undefined } | undefined;
}
interface UdpMember {
  readonly kind: 'udp';
  readonly spec: ListenerSpec;
  readonly listener: UdpEchoListener;
  readonly stats: UdpStats;
}
type Member = TcpMember | UdpMember;

/** All of a process's listeners as one: accepting = every listener accepting; connections summed. */
export type EchoGroup = Omit<EchoListener, 'byteTotals' | 'connectionCap' | 'refuseNewConnections' | 'openConnections' | 'maxHeldBytesPerConnection'>;

/** One process's echo listeners with their counters and metrics: the whole service, or one worker. */
export interface EchoNode {
  readonly echo: EchoGroup;
  readonly metrics: Metrics;
  /** Per-listener state for /healthz. */
  listenerDetail(): Array<Record<string, unknown>>;
  /** Connection counts of every TCP listener added up, for /healthz. */
  connectionCounts(): { accepted: number; rejected: Record<string, number>; closed: Record<string, number> };
  /** Re-reads the TLS certificate and key of every tls listener (SIGHUP); a failure keeps the old ones. */
  reloadTls(): Promise<void>;
  /** The memory guard over this process's TCP listeners; undefined when off. Started by echo.listen(). */
  readonly guard: MemoryGuard | undefined;
  /** True while the memory guard refuses new connections (readiness says so). */
  overloaded(): boolean;
  /** The guard's numbers for /healthz. */
  memoryDetail(): Record<string, unknown>;
}

export interface EchoNodeDeps {
  readonly logger: Logger;
  readonly version: string;
  readonly now: () => number;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Certificate material already loaded and checked; absent, tls listeners read the files at listen(). */
  readonly tlsMaterial?: TlsMaterial;
  /** This process is one of several workers serving the same ports (see EchoListenerOptions.reusePort). */
  readonly reusePort?: boolean;
  /** This process's memory budget in bytes; absent = no memory guard. */
  readonly memoryBudgetBytes?: number;
  /** For tests: what the guard measures (default: this process's live memory). */
  readonly memorySampler?: MemorySampler;
}

export function createEchoNode(config: Pick<Config, 'listeners' | 'echo' | 'tls' | 'udp' | 'metrics' | 'http'>, deps: EchoNodeDeps): EchoNode {
  const { logger, now } = deps;
  // UDP echo never answers a port this process listens on (a loop); port-0 listeners are added once bound.
  const sourcePorts = createSourcePortPolicy([...config.listeners.map((spec) => spec.port), config.http.port]);
  const { sourceRatePerSecond, sourceBurst } = config.udp;
  const sourceRate = sourceRatePerSecond > 0 ? createSourceRateLimiter({ ratePerSecond: sourceRatePerSecond, burst: sourceBurst }) : undefined;
  const members: Member[] = config.listeners.map((spec): Member => {
    const listenerLogger = logger.child({ component: 'echo', listener: spec.name });
    if (spec.transport === 'udp') {
      const stats = createUdpStats();
      const { maxDatagramBytes, recvBufferBytes, sendBufferBytes, maxQueuedSends } = config.udp;
      const listener = createUdpEchoListener({
        host: spec.host,
        port: spec.port,
        logger: listenerLogger,
        stats,
        ...(maxDatagramBytes > 0 ? { maxDatagramBytes } : {}),
        recvBufferSize: recvBufferBytes,
        sendBufferSize: sendBufferBytes,
        maxQueuedSends,
        sourcePorts,
        sourceRate,
      });
      return { kind: 'udp', spec, stats, listener };
    }
    const stats = createEchoStats();
    const tlsFiles = config.tls;
    const tls = spec.tls && tlsFiles ? { stats: createTlsStats(), endpoint: undefined as TlsEndpoint | undefined } : undefined;
    const listener = createEchoListener({
      ...config.echo,
      host: spec.host,
      port: spec.port,
      reusePort: deps.reusePort,
      proxy: spec.proxy,
      proxyTimeoutMs: config.echo.proxyTimeoutMs,
      banner: config.echo.banner ? compileBanner(config.echo.banner, { listener: spec.name, env: deps.env ?? process.env }) : undefined,
      tls:
        tls && tlsFiles
          ? async () => (tls.endpoint = await createTlsEndpoint({ files: tlsFiles, material: deps.tlsMaterial, handshakeTimeoutMs: tlsFiles.handshakeTimeoutMs, logger: listenerLogger, stats: tls.stats }))
          : undefined,
      stats,
      logger: listenerLogger,
      now,
    });
    return { kind: 'tcp', spec, stats, listener, tls };
  });
  const tcp = members.filter((m): m is TcpMember => m.kind === 'tcp');
  const udp = members.filter((m): m is UdpMember => m.kind === 'udp');

  const sampleMemory = deps.memorySampler ?? processMemorySampler();
  const guard =
    deps.memoryBudgetBytes === undefined
      ? undefined
      : createMemoryGuard({
          budgetBytes: deps.memoryBudgetBytes,
          listeners: tcp.map((m) => m.listener),
          sample: sampleMemory,
          collectGarbage: fullGarbageCollector(),
          logger: logger.child({ component: 'memory-guard' }),
          now,
        });

  const sources: EchoSource[] = tcp.map((m) => ({
    name: m.spec.name,
    stats: m.stats,
    maxConnections: config.echo.maxConnections,
    activeConnections: () => m.listener.activeConnections,
    byteTotals: () => m.listener.byteTotals(),
  }));
  const metrics = createMetrics({
    sources,
    version: deps.version,
    runtime: config.metrics,
    extra: [
      (registry) => registerProxyMetrics(registry, tcp.filter((m) => m.spec.proxy)),
      (registry) => registerTlsMetrics(registry, tcp.filter((m) => m.tls)),
      (registry) => {
        if (udp.length > 0) registerUdpMetrics(registry, udp.map((m) => ({ stats: m.stats, labels: { listener: m.spec.name } })));
      },
      (registry) => registerMemoryGuardMetrics(registry, guard, sampleMemory),
    ],
  });

  const sum = (read: (m: TcpMember) => number) => tcp.reduce((total, m) => total + read(m), 0);
  const echo: EchoGroup = {
    async listen() {
      const addresses: AddressInfo[] = [];
      for (const m of members) {
        try {
          const address = await m.listener.listen();
          sourcePorts.refuseListenPort(address.port);
          addresses.push(address);
        } catch (error) {
          for (const started of members) {
            if (started.kind === 'tcp') started.listener.stopAccepting();
            else await started.listener.close();
          }
          throw new StartError({ what: `echo listener ${m.spec.name}`, host: m.spec.host, port: m.spec.port, origin: m.spec.origin }, error);
        }
      }
      guard?.start();
      return addresses[0] as AddressInfo;
    },
    get accepting() {
      return members.every((m) => (m.kind === 'tcp' ? m.listener.accepting : m.listener.bound));
    },
    get address() {
      return members[0]?.listener.address;
    },
    get activeConnections() {
      return sum((m) => m.listener.activeConnections);
    },
    pendingWriteBytes: () => sum((m) => m.listener.pendingWriteBytes()),
    stopAccepting() {
      for (const m of members) {
        if (m.kind === 'tcp') m.listener.stopAccepting();
        else void m.listener.close(); // nothing to drain: a datagram is answered as it comes
      }
    },
    drain: (quietMs) => tcp.forEach((m) => m.listener.drain(quietMs)),
    idle: async () => {
      await Promise.all(tcp.map((m) => m.listener.idle()));
    },
    closeAll: () => tcp.forEach((m) => m.listener.closeAll()),
  };

  return {
    echo,
    metrics,
    listenerDetail: () =>
      members.map((m) =>
        m.kind === 'tcp'
          ? { name: m.spec.name, scheme: m.spec.scheme, ...m.listener.address, accepting: m.listener.accepting, activeConnections: m.listener.activeConnections, ...(m.tls?.endpoint ? { certificate: m.tls.endpoint.material.certificate.subject, certificateNotAfter: m.tls.endpoint.material.certificate.notAfter } : {}) }
          : { name: m.spec.name, scheme: m.spec.scheme, ...m.listener.address, bound: m.listener.bound, queuedSends: m.listener.queuedSends },
      ),
    connectionCounts() {
      const add = (into: Record<string, number>, from: Record<string, number>) => {
        for (const [key, value] of Object.entries(from)) into[key] = (into[key] ?? 0) + value;
        return into;
      };
      return {
        accepted: sum((m) => m.stats.accepted),
        rejected: tcp.reduce((into, m) => add(into, m.stats.rejected), {} as Record<string, number>),
        closed: tcp.reduce((into, m) => add(into, m.stats.closed), {} as Record<string, number>),
      };
    },
    async reloadTls() {
      await Promise.all(tcp.map((m) => m.tls?.endpoint?.reload()));
    },
    guard,
    overloaded: () => guard?.active('refuse_connections') ?? false,
    memoryDetail: () =>
      guard
        ? { budgetBytes: guard.budgetBytes, ...guard.lastSample, refusingConnections: guard.active('refuse_connections'), closingConnections: guard.active('close_connections'), shedConnections: guard.shedConnections }
        : { budgetBytes: 0, ...sampleMemory() },
  };
}

function registerProxyMetrics(registry: Registry, members: readonly TcpMember[]): void {
  if (members.length === 0) return;
  registerScrapedCounter(
    registry,
    { name: 'echo_proxy_protocol_errors_total', help: 'Connections on +proxy listeners closed because their PROXY header was missing, malformed, late or cut short.', labelNames: ['listener', 'reason'] },
    (add) => {
      for (const m of members) for (const reason of PROXY_ERROR_REASONS) add({ listener: m.spec.name, reason }, m.stats.proxyErrors[reason]);
    },
  );
}

function registerTlsMetrics(registry: Registry, members: readonly TcpMember[]): void {
  if (members.length === 0) return;
  const tlsOf = (m: TcpMember) => m.tls as NonNullable<TcpMember['tls']>;
  registerScrapedCounter(registry, { name: 'echo_tls_handshake_failures_total', help: 'TLS handshakes that failed, by reason; never fatal.', labelNames: ['listener', 'reason'] }, (add) => {
    for (const m of members) for (const reason of TLS_HANDSHAKE_FAILURE_REASONS) add({ listener: m.spec.name, reason }, tlsOf(m).stats.handshakeFailures[reason]);
  });
  registerScrapedCounter(
    registry,
    { name: 'echo_tls_renegotiations_refused_total', help: 'Established TLS connections closed because the client tried to renegotiate.', labelNames: ['listener'] },
    (add) => {
      for (const m of members) add({ listener: m.spec.name }, tlsOf(m).stats.renegotiationsRefused);
    },
  );
  registerScrapedCounter(
    registry,
    { name: 'echo_tls_reloads_total', help: 'Certificate reloads (SIGHUP), by result; a failed reload keeps the previous certificate.', labelNames: ['listener', 'result'] },
    (add) => {
      for (const m of members) {
        add({ listener: m.spec.name, result: 'ok' }, tlsOf(m).stats.reloads);
        add({ listener: m.spec.name, result: 'error' }, tlsOf(m).stats.reloadFailures);
      }
    },
  );
  new Gauge({
    name: 'echo_tls_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the certificate in use, as a Unix timestamp.',
    labelNames: ['listener'],
    registers: [registry],
    collect() {
      for (const m of members) this.set({ listener: m.spec.name }, tlsOf(m).stats.certificateNotAfterSeconds);
    },
  });
}
