import type { Logger } from 'pino';
import type { Config, ListenerSpec } from '../config/types.js';
import { createUdpEchoListener } from '../udp/listener.js';
import type { SourcePortPolicy } from '../udp/source-ports.js';
import type { SourceRateLimiter } from '../udp/source-rate.js';
import { createUdpStats, type UdpStats } from '../udp/stats.js';
import type { Listener } from './listener.js';

export interface UdpListener extends Listener {
  readonly stats: UdpStats;
}

export interface UdpListenerDeps {
  readonly logger: Logger;
  /** Shared by the process's UDP listeners: the ports it listens on, never answered. */
  readonly sourcePorts: SourcePortPolicy;
  readonly sourceRate: SourceRateLimiter | undefined;
}

/** A udp listener: it answers each datagram as it comes, so it has no connections to drain. */
export function createUdpListener(spec: ListenerSpec, udp: Config['udp'], deps: UdpListenerDeps): UdpListener {
  const stats = createUdpStats();
  const socket = createUdpEchoListener({
    host: spec.host,
    port: spec.port,
    logger: deps.logger,
    stats,
    ...(udp.maxDatagramBytes > 0 ? { maxDatagramBytes: udp.maxDatagramBytes } : {}),
    recvBufferSize: udp.recvBufferBytes,
    sendBufferSize: udp.sendBufferBytes,
    maxQueuedSends: udp.maxQueuedSends,
    sourcePorts: deps.sourcePorts,
    sourceRate: deps.sourceRate,
    ...(spec.behaviour?.kind === 'udp' ? { behaviour: spec.behaviour } : {}),
  });
  return {
    spec,
    stats,
    listen: () => socket.listen(), // the listener marks its own port in sourcePorts
    get accepting() {
      return socket.bound;
    },
    get address() {
      return socket.address;
    },
    activeConnections: 0,
    pendingWriteBytes: () => 0,
    stopAccepting: () => void socket.close(),
    drain: () => undefined,
    idle: () => Promise.resolve(),
    closeAll: () => undefined,
    detail: () => ({ name: spec.name, scheme: spec.scheme, ...socket.address, bound: socket.bound, queuedSends: socket.queuedSends, ...(spec.behaviour ? { behaviour: spec.behaviour } : {}) }),
  };
}
