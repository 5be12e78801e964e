// A process's listeners built from the configuration, with their metrics and the memory guard
// over them: the whole service, or one worker of several.
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import { createMemoryGuard, type MemoryGuard } from '../overload/memory-guard.js';
import { processMemorySampler, v8GarbageCollector, type MemorySampler } from '../overload/memory.js';
import { registerMemoryGuardMetrics } from '../overload/metrics.js';
import { registerProxyMetrics } from '../proxy/metrics.js';
import { createConnectionTable, type ConnectionsPage, type ConnectionsQuery } from '../tcp/connection-table.js';
import { registerTcpMetrics } from '../tcp/metrics.js';
import type { TlsMaterial } from '../tls/index.js';
import { registerTlsMetrics } from '../tls/metrics.js';
import { watchFiles, type FileWatch } from '../tls/watch.js';
import { registerUdpMetrics } from '../udp/metrics.js';
import { createSourcePortPolicy } from '../udp/source-ports.js';
import { createSourceRateLimiter } from '../udp/source-rate.js';
import { createListenerGroup, type ListenerGroup } from './group.js';
import { createTcpListener, type TcpListener } from './tcp.js';
import { createUdpListener, type UdpListener } from './udp.js';

/**
 * After the certificate files change, how long they must be quiet before they are re-read: the
 * kubelet's symlink swap is atomic, a writer that copies the files one by one is done by then, and
 * a renewed certificate reaches new handshakes within a couple of seconds.
 */
const TLS_FILES_SETTLE_MS = 1000;

export interface ProcessListeners {
  readonly group: ListenerGroup;
  /** Binds every listener, then starts the memory guard. */
  listen(): Promise<AddressInfo>;
  /** Stops the memory guard and the certificate watch (after the drain). */
  stopBackgroundTasks(): void;
  /** True while the memory guard refuses new connections (readiness says so). */
  overloaded(): boolean;
  /** Re-reads the certificate and key of every tls listener (SIGHUP); a failure keeps the old ones. */
  reloadTls(): Promise<void>;
  /** Connection counts of every TCP listener added up, for /healthz. */
  connectionCounts(): { accepted: number; rejected: Record<string, number>; closed: Record<string, number> };
  /** The memory guard's numbers for /healthz. */
  memoryDetail(): Record<string, unknown>;
  /** The open echo connections, sorted and bounded, for /connections. */
  listConnections(query: ConnectionsQuery): ConnectionsPage;
}

export interface ProcessListenersDeps {
  readonly logger: Logger;
  readonly now: () => number;
  /** Where every listener's metrics are registered. */
  readonly registry: Registry;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Certificate material already loaded and checked; absent, tls listeners read the files at listen(). */
  readonly tlsMaterial?: TlsMaterial | undefined;
  /** This process is one of several workers serving the same ports. */
  readonly reusePort?: boolean;
  /** This process's memory budget in bytes; absent = no memory guard. */
  readonly memoryBudgetBytes?: number | undefined;
  /** What the guard measures (default: this process's live memory). */
  readonly memorySampler?: MemorySampler;
}

export function createProcessListeners(config: Pick<Config, 'listeners' | 'echo' | 'tls' | 'udp' | 'http'>, deps: ProcessListenersDeps): ProcessListeners {
  const { logger, now, registry } = deps;
  // UDP echo never answers a port this process listens on (a loop); port-0 listeners are added once bound.
  const sourcePorts = createSourcePortPolicy([...config.listeners.map((spec) => spec.port), config.http.port]);
  const { sourceRatePerSecond, sourceBurst } = config.udp;
  const sourceRate = sourceRatePerSecond > 0 ? createSourceRateLimiter({ ratePerSecond: sourceRatePerSecond, burst: sourceBurst }) : undefined;

  const tcp: TcpListener[] = [];
  const udp: UdpListener[] = [];
  const listeners = config.listeners.map((spec) => {
    const listenerLogger = logger.child({ component: 'echo', listener: spec.name });
    if (spec.transport === 'udp') {
      const listener = createUdpListener(spec, config.udp, { logger: listenerLogger, sourcePorts, sourceRate });
      udp.push(listener);
      return listener;
    }
    const listener = createTcpListener(spec, config, {
      logger: listenerLogger,
      now,
      env: deps.env,
      tlsMaterial: deps.tlsMaterial,
      reusePort: deps.reusePort ?? false,
      onBound: (port) => sourcePorts.refuseListenPort(port),
    });
    tcp.push(listener);
    return listener;
  });
  const group = createListenerGroup(listeners);

  const sampleMemory = deps.memorySampler ?? processMemorySampler();
  const guard: MemoryGuard | undefined =
    deps.memoryBudgetBytes === undefined
      ? undefined
      : createMemoryGuard({
          budgetBytes: deps.memoryBudgetBytes,
          listeners: tcp.map((listener) => listener.echo),
          sample: sampleMemory,
          garbageCollector: v8GarbageCollector(),
          logger: logger.child({ component: 'memory-guard' }),
          now,
        });

  registerTcpMetrics(
    registry,
    tcp.map((listener) => ({
      name: listener.spec.name,
      stats: listener.stats,
      maxConnections: config.echo.maxConnections,
      activeConnections: () => listener.activeConnections,
      byteTotals: () => listener.echo.byteTotals(),
    })),
  );
  registerProxyMetrics(registry, tcp.filter((listener) => listener.spec.proxy).map((listener) => ({ name: listener.spec.name, proxyErrors: listener.stats.proxyErrors })));
  registerTlsMetrics(registry, tcp.flatMap((listener) => (listener.tls ? [{ name: listener.spec.name, stats: listener.tls.stats }] : [])));
  if (udp.length > 0) registerUdpMetrics(registry, udp.map((listener) => ({ stats: listener.stats, labels: { listener: listener.spec.name } })));
  registerMemoryGuardMetrics(registry, guard, sampleMemory);

  const connectionTable = createConnectionTable({
    *connections() {
      for (const listener of tcp) for (const connection of listener.echo.openConnections()) yield { listener: listener.spec.name, connection };
    },
    now,
  });

  let certificateWatch: FileWatch | undefined;
  const addUp = (read: (listener: TcpListener) => Record<string, number>) => {
    const total: Record<string, number> = {};
    for (const listener of tcp) for (const [key, value] of Object.entries(read(listener))) total[key] = (total[key] ?? 0) + value;
    return total;
  };
  return {
    group,
    async listen() {
      const address = await group.listen();
      guard?.start();
      if (config.tls && tcp.some((listener) => listener.tls)) {
        const { certFile, keyFile, clientCaFile } = config.tls;
        certificateWatch = watchFiles([certFile, keyFile, ...(clientCaFile ? [clientCaFile] : [])], {
          settleMs: TLS_FILES_SETTLE_MS,
          onSettled: () => void Promise.all(tcp.map((listener) => listener.tls?.endpoint()?.reloadIfChanged())),
          logger: logger.child({ component: 'tls-watch' }),
        });
      }
      return address;
    },
    stopBackgroundTasks() {
      guard?.stop();
      certificateWatch?.close();
    },
    overloaded: () => guard?.active('refuse_connections') ?? false,
    async reloadTls() {
      await Promise.all(tcp.map((listener) => listener.tls?.endpoint()?.reload()));
    },
    connectionCounts: () => ({
      accepted: tcp.reduce((total, listener) => total + listener.stats.accepted, 0),
      rejected: addUp((listener) => listener.stats.rejected),
      closed: addUp((listener) => listener.stats.closed),
    }),
    memoryDetail: () =>
      guard
        ? { budgetBytes: guard.budgetBytes, ...guard.lastSample, refusingConnections: guard.active('refuse_connections'), closingConnections: guard.active('close_connections'), shedConnections: guard.shedConnections }
        : { budgetBytes: 0, ...sampleMemory() },
    listConnections: connectionTable.list,
  };
}
