// UDP echo (RFC 862): every datagram goes back, byte for byte, to the address and port it came from,
// in the order the socket read them, unless its source must not be answered (source-ports.ts: this
// process's own ports, the small services, known reflectors) or is over its rate (source-rate.ts).
// One socket; the per-datagram path does a table lookup, a few additions and one send, never a log
// line, a label lookup or a copy.
import { createSocket as dgramCreateSocket, type RemoteInfo, type Socket, type SocketOptions, type SocketType } from 'node:dgram';
import { ANY_HOST } from '../config/types.js';
import { hostPort } from '../listeners/host-port.js';
import { isIP, type AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createSourcePortPolicy, SOURCE_PORT_ALLOWED, SOURCE_PORT_LOOP, type SourcePortPolicy } from './source-ports.js';
import type { SourceRateLimiter } from './source-rate.js';
import type { UdpErrorReason, UdpStats } from './stats.js';
import { drawDelay, type UdpBehaviour } from '../config/behaviour.js';

/** Largest UDP payload IPv4 can carry: 65535 - 20 (IP header) - 8 (UDP header). */
export const MAX_UDP4_PAYLOAD = 65_507;
/** Largest UDP payload IPv6 can carry without jumbograms: 65535 (payload length) - 8 (UDP header). */
export const MAX_UDP6_PAYLOAD = 65_527;

export const DEFAULT_WARN_INTERVAL_MS = 10_000;

export interface UdpEchoListenerOptions {
  /** An IPv6 literal opens a udp6 socket (dual-stack for `::` where the OS allows it); `*` udp6 on :: falling back to udp4 on 0.0.0.0; anything else udp4. */
  readonly host: string;
  /** 0 = ephemeral. */
  readonly port: number;
  readonly logger: Logger;
  readonly stats: UdpStats;
  /**
   * Datagrams with more payload bytes than this are dropped and counted as `oversize`.
   * Default: the protocol maximum (65507 for udp4, 65527 for udp6), i.e. echo everything.
   */
  readonly maxDatagramBytes?: number;
  /** Replies waiting for room in the kernel send buffer before new datagrams are dropped (`send_queue_full`). */
  readonly maxQueuedSends: number;
  /**
   * SO_RCVBUF / SO_SNDBUF to ask for; 0 = leave the kernel default. Linux caps a request at
   * net.core.rmem_max / wmem_max (silently) and then doubles it for its own bookkeeping.
   */
  readonly recvBufferSize: number;
  readonly sendBufferSize: number;
  /** At most one warning per this interval for send/receive trouble; the next one says how many were not logged. Default 10 s. */
  readonly warnIntervalMs?: number;
  readonly now?: () => number;
  /**
   * Source ports never answered, shared by every listener of the process (which marks all its ports
   * in it). Default: a policy of this listener's own. Either way the listener marks its bound port.
   */
  readonly sourcePorts?: SourcePortPolicy;
  /** Per-source rate limit, shared by the process's UDP listeners; absent = no limit. */
  readonly sourceRate?: SourceRateLimiter;
  /** The listener's test behaviours (delay, loss); absent = the plain echo, which never looks at this. */
  readonly behaviour?: UdpBehaviour;
  /** For tests: the loss draw (default Math.random). */
  readonly random?: () => number;
  /** For tests: makes the socket (default: node:dgram's createSocket). */
  readonly createSocket?: (options: SocketOptions) => Socket;
}

export interface UdpEchoListener {
  /** Binds the socket; rejects (and leaves nothing open) if the address cannot be bound. */
  listen(): Promise<AddressInfo>;
  /** Closes the socket; replies not yet handed to the kernel are dropped. Idempotent. */
  close(): Promise<void>;
  /** True while the socket is bound and echoing. */
  readonly bound: boolean;
  readonly address: AddressInfo | undefined;
  /** Replies handed to dgram whose send has not completed yet. */
  readonly queuedSends: number;
}

interface TroubleState {
  lastWarnAt: number;
  notLogged: number;
}

/** Binds `s`; on failure closes it and rejects. */
async function bindSocket(s: Socket, port: number, address: string): Promise<Socket> {
  try {
    await new Promise<void>((resolve, reject) => {
      const onBindError = (error: Error) => {
        s.removeListener('listening', onListening);
        reject(error);
      };
      const onListening = () => {
        s.removeListener('error', onBindError);
        resolve();
      };
      s.once('error', onBindError);
      s.once('listening', onListening);
      s.bind({ port, address });
    });
    return s;
  } catch (error) {
    try {
      s.close();
    } catch {
      // not open: nothing to release
    }
    throw error;
  }
}

export function createUdpEchoListener(options: UdpEchoListenerOptions): UdpEchoListener {
  const { stats, logger } = options;
  // `*`: a dual-stack udp6 socket on ::, or udp4 on 0.0.0.0 where the host has no IPv6.
  const candidates: ReadonlyArray<readonly [SocketType, string]> =
    options.host === ANY_HOST ? [['udp6', '::'], ['udp4', '0.0.0.0']] : [[isIP(options.host) === 6 ? 'udp6' : 'udp4', options.host]];
  const protocolMax = candidates[0]?.[0] === 'udp6' ? MAX_UDP6_PAYLOAD : MAX_UDP4_PAYLOAD;
  const maxDatagramBytes = options.maxDatagramBytes ?? protocolMax;
  const { maxQueuedSends, recvBufferSize, sendBufferSize } = options;
  const warnIntervalMs = options.warnIntervalMs ?? DEFAULT_WARN_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const createSocket = options.createSocket ?? dgramCreateSocket;
  const sourcePorts = options.sourcePorts ?? createSourcePortPolicy();
  const sourceVerdicts = sourcePorts.verdicts;
  const sourceRate = options.sourceRate;
  // Read once: refusals come in floods, and a disabled debug level should cost them nothing.
  const debugEnabled = logger.isLevelEnabled('debug');
  for (const [name, value] of Object.entries({ maxDatagramBytes, maxQueuedSends, recvBufferSize, sendBufferSize, warnIntervalMs })) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`udp echo listener: ${name} must be a non-negative integer, got ${value}`);
  }
  if (maxQueuedSends < 1) throw new RangeError('udp echo listener: maxQueuedSends must be at least 1');

  let socket: Socket | undefined;
  let bound = false;
  let closing: Promise<void> | undefined;
  let address: AddressInfo | undefined;
  let queued = 0;
  const trouble: TroubleState = { lastWarnAt: -Infinity, notLogged: 0 };
  const refusals: TroubleState = { lastWarnAt: -Infinity, notLogged: 0 };

  /** Send and receive failures come in bursts (one bad peer, a full buffer): one warning per interval. */
  const troubleSeen = (reason: UdpErrorReason, error: unknown) => {
    if (closing) return;
    const at = now();
    if (at - trouble.lastWarnAt < warnIntervalMs) {
      trouble.notLogged++;
      return;
    }
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    logger.warn(
      { event: 'udp_echo_trouble', reason, code, err: error, notLoggedSinceLastWarning: trouble.notLogged, errors: { ...stats.errors }, address },
      `udp echo: ${reason}${code ? ` (${code})` : ''}; further trouble within ${warnIntervalMs} ms is counted, not logged`,
    );
    trouble.lastWarnAt = at;
    trouble.notLogged = 0;
  };

  /** Refused sources are client misbehaviour (or a forgery): debug only, and at most once per interval, since they come in floods. */
  const refusalSeen = (reason: UdpErrorReason, sender: RemoteInfo) => {
    const at = now();
    if (at - refusals.lastWarnAt < warnIntervalMs) {
      refusals.notLogged++;
      return;
    }
    logger.debug(
      { event: 'udp_source_refused', reason, source: { address: sender.address, port: sender.port }, notLoggedSinceLastRefusal: refusals.notLogged },
      `udp echo: not answering ${hostPort(sender.address, sender.port)} (${reason}); further refusals within ${warnIntervalMs} ms are counted, not logged`,
    );
    refusals.lastWarnAt = at;
    refusals.notLogged = 0;
  };

  // One callback for every send: no closure per datagram. `bytes` is what the kernel took.
  const onSent = (error: Error | null, bytes: number) => {
    queued--;
    if (error) {
      stats.errors.send_failed++;
      troubleSeen('send_failed', error);
      return;
    }
    stats.sentDatagrams++;
    stats.sentBytes += bytes;
  };

  const onMessage = (datagram: Buffer, sender: RemoteInfo) => {
    const size = datagram.length;
    stats.receivedDatagrams++;
    stats.receivedBytes += size;
    const verdict = sourceVerdicts[sender.port];
    if (verdict !== SOURCE_PORT_ALLOWED) {
      if (verdict === SOURCE_PORT_LOOP) stats.errors.loop++;
      else stats.errors.reserved_source_port++;
      if (debugEnabled) refusalSeen(verdict === SOURCE_PORT_LOOP ? 'loop' : 'reserved_source_port', sender);
      return;
    }
    if (size > maxDatagramBytes) {
      stats.errors.oversize++;
      return;
    }
    // After the checks that cost nothing, so that a refused or oversize datagram takes no token.
    if (sourceRate !== undefined && !sourceRate.admit(sender.address)) {
      stats.errors.rate_limited++;
      if (debugEnabled) refusalSeen('rate_limited', sender);
      return;
    }
    if (queued >= maxQueuedSends) {
      stats.errors.send_queue_full++;
      troubleSeen('send_queue_full', undefined);
      return;
    }
    queued++;
    try {
      // The buffer dgram handed us goes straight back: no copy. (The offset/length form would slice.)
      (socket as Socket).send(datagram, sender.port, sender.address, onSent);
    } catch (error) {
      // dgram throws synchronously on what it will not send (e.g. a forged source port 0): never fatal.
      queued--;
      stats.errors.send_failed++;
      troubleSeen('send_failed', error);
    }
  };

  // After bind, an 'error' event is a receive failure: counted, never fatal (no listener = crash).
  const onSocketError = (error: Error) => {
    stats.errors.receive_failed++;
    troubleSeen('receive_failed', error);
  };

  const applyBufferSizes = (s: Socket) => {
    const requested = { recvBufferSize, sendBufferSize };
    try {
      if (recvBufferSize > 0) s.setRecvBufferSize(recvBufferSize);
      if (sendBufferSize > 0) s.setSendBufferSize(sendBufferSize);
    } catch (error) {
      logger.warn({ event: 'udp_buffer_size', err: error, requested }, 'udp echo: could not set socket buffer sizes; using what the kernel gives');
    }
    const effective = { recvBufferSize: s.getRecvBufferSize(), sendBufferSize: s.getSendBufferSize() };
    // Linux reports twice what it granted; less than twice the request means net.core.*mem_max capped it.
    const capped = process.platform === 'linux' && ((recvBufferSize > 0 && effective.recvBufferSize < 2 * recvBufferSize) || (sendBufferSize > 0 && effective.sendBufferSize < 2 * sendBufferSize));
    if (capped) {
      logger.info({ event: 'udp_buffer_size', requested, effective }, 'udp echo: the kernel capped the socket buffers; raise net.core.rmem_max / net.core.wmem_max to absorb larger bursts');
    } else {
      logger.debug({ event: 'udp_buffer_size', requested, effective }, 'udp echo socket buffers');
    }
  };

  // Test behaviours, in front of the plain path: a datagram lost on purpose is received and counted
  // as `loss`; a delayed one waits (at most maxQueuedSends at once) and then takes the plain path.
  let delayed = 0;
  // Received, then not echoed: counted as the plain path counts the datagrams it refuses.
  const droppedBeforeEcho = (datagram: Buffer, reason: UdpErrorReason) => {
    stats.receivedDatagrams++;
    stats.receivedBytes += datagram.length;
    stats.errors[reason]++;
  };
  const shapedMessage = ({ delay, loss }: UdpBehaviour) => {
    const random = options.random ?? Math.random;
    return (datagram: Buffer, sender: RemoteInfo) => {
      if (loss !== undefined && loss > 0 && random() < loss) {
        droppedBeforeEcho(datagram, 'loss');
        return;
      }
      if (delay === undefined) {
        onMessage(datagram, sender);
        return;
      }
      if (delayed >= maxQueuedSends) {
        droppedBeforeEcho(datagram, 'send_queue_full');
        return;
      }
      delayed++;
      setTimeout(() => {
        delayed--;
        if (bound) onMessage(datagram, sender);
      }, drawDelay(delay));
    };
  };

  return {
    async listen() {
      if (socket || closing) throw new Error('udp echo listener: listen() can be called once, before close()');
      let s: Socket | undefined;
      for (const [i, [type, bindTo]] of candidates.entries()) {
        try {
          s = await bindSocket(createSocket({ type }), options.port, bindTo);
          break;
        } catch (error) {
          const familyMissing = (error as NodeJS.ErrnoException).code === 'EAFNOSUPPORT';
          if (familyMissing && i < candidates.length - 1) continue;
          closing = Promise.resolve();
          throw error;
        }
      }
      if (!s) throw new Error('udp echo listener: no address to bind');
      socket = s;
      s.on('error', onSocketError);
      s.on('message', options.behaviour ? shapedMessage(options.behaviour) : onMessage);
      applyBufferSizes(s);
      address = s.address();
      sourcePorts.refuseListenPort(address.port);
      bound = true;
      return address;
    },
    close() {
      if (closing) return closing;
      bound = false;
      const s = socket;
      if (!s) {
        closing = Promise.resolve();
        return closing;
      }
      closing = new Promise<void>((resolve) => s.close(() => resolve()));
      return closing;
    },
    get bound() {
      return bound;
    },
    get address() {
      return bound ? address : undefined;
    },
    get queuedSends() {
      return queued;
    },
  };
}
