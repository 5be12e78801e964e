import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ProxyTlvDetails } from '../proxy/index.js';
import type { TcpBehaviour } from '../config/behaviour.js';
import { BehaviourPump } from './behaviour.js';
import { acceptedSocketOf } from '../tls/accepted-socket.js';
import { viewSocket, type SocketView } from './connection-view.js';
import { hostPort } from '../listeners/host-port.js';
import type { ByteTotals, CloseReason, EchoStats } from './stats.js';

export interface ConnectionOptions {
  readonly idleTimeoutMs: number;
  /** 0 or absent = no cap on how long a connection may stay open. */
  readonly maxLifetimeMs?: number;
  readonly stats: EchoStats;
  readonly logger: Logger;
  readonly now: () => number;
  readonly onClosed: (connection: EchoConnection, reason: CloseReason, durationSeconds: number) => void;
  /** The listener's test behaviours; absent = the plain echo (`onData`), which never looks at this. */
  readonly behaviour?: TcpBehaviour;
}

/** What happened on a connection before its echo began. */
export interface ConnectionIntro {
  /** PROXY header bytes read off this socket: not the client's payload, not counted as received. */
  readonly headerBytes?: number;
  /** Banner bytes the server sent first: not echo, not counted as sent. */
  readonly bannerBytes?: number;
  /** The client named by a PROXY header (else the socket's peer). */
  readonly remote?: string;
  /** Payload that arrived behind the PROXY header: echoed before anything read later. */
  readonly initial?: Buffer;
  /** The PROXY v2 header's decoded TLVs (authority, unique ID, TLS details, cloud endpoint IDs), where it had any. */
  readonly proxy?: ProxyTlvDetails;
}

const CONNECTION = Symbol('echoConnection');
/** An accepted socket carrying its EchoConnection, for the shared listeners. */
type EchoSocket = Socket & { [CONNECTION]: EchoConnection };

// A client that went away without a goodbye; not the server's fault.
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);

/**
 * Once the server has decided to close (lifetime over), how long the client has to take the rest of
 * its echo and close its side before the connection is dropped: a client that never reads (or never
 * closes) must not keep its slot.
 */
export const CLOSE_FLUSH_GRACE_MS = 5000;

/**
 * One client's echo pump. The per-chunk path is `onData`: write the chunk back and,
 * if the socket's write buffer is full, stop reading until it drains.
 */
export class EchoConnection {
  private readonly socket: Socket;
  private readonly options: ConnectionOptions;
  readonly openedAt: number;
  private pausedForBackpressure = false;
  /** The memory guard has stopped reading from this client until its echo backlog goes down. */
  private heldByGuard = false;
  private draining = false;
  private drainQuietMs = 0;
  /** The server is closing this connection on its own account: no more echo, only flushing. */
  private closing = false;
  /** Read after the lifetime cap and thrown away: not echoed, so not counted as received. */
  private discardedBytes = 0;
  private lifetimeTimer: NodeJS.Timeout | undefined;
  private watchingTimeout = false;
  private reason: CloseReason | undefined;
  private error: NodeJS.ErrnoException | undefined;

  private readonly headerBytes: number;
  private readonly bannerBytes: number;
  private readonly proxiedRemote: string | undefined;
  private readonly pump: BehaviourPump | undefined;
  /** What the balancer said about this client in its PROXY v2 TLVs, kept for views of open connections. */
  readonly proxyDetails: ProxyTlvDetails | undefined;

  constructor(socket: Socket, options: ConnectionOptions, intro: ConnectionIntro = {}) {
    this.socket = socket;
    this.options = options;
    this.openedAt = options.now();
    this.headerBytes = intro.headerBytes ?? 0;
    this.bannerBytes = intro.bannerBytes ?? 0;
    this.proxiedRemote = intro.remote;
    this.proxyDetails = intro.proxy;
    (socket as EchoSocket)[CONNECTION] = this;
    // Chosen once per connection: a listener without behaviours runs the plain per-chunk path.
    if (options.behaviour === undefined) {
      this.pump = undefined;
      socket.on('data', EchoConnection.onData);
    } else {
      this.pump = new BehaviourPump(socket, options.behaviour, this, options.now);
      if (this.pump.reads) socket.on('data', EchoConnection.onShapedData);
    }
    socket.on('drain', EchoConnection.onDrain);
    socket.on('end', EchoConnection.onEnd);
    socket.on('error', EchoConnection.onError);
    socket.on('close', EchoConnection.onClose);
    if (options.idleTimeoutMs > 0) this.watchTimeout(options.idleTimeoutMs);
    if (options.maxLifetimeMs !== undefined && options.maxLifetimeMs > 0) this.lifetimeTimer = setTimeout(() => this.lifetimeOver(), options.maxLifetimeMs);
    if (intro.initial !== undefined && intro.initial.length > 0) {
      if (this.pump) this.pump.onData(intro.initial);
      else EchoConnection.onData.call(socket as EchoSocket, intro.initial);
    }
    // A socket paused while its PROXY header was read does not restart when 'data' is attached.
    if (!this.pausedForBackpressure && socket.readableFlowing === false && this.pump?.reads !== false) socket.resume();
  }

  /** Bytes read from and written back to this client so far (written = accepted by the kernel). */
  bytes(): ByteTotals {
    const socket = this.socket;
    // The banner is subtracted once flushed; until then the clamp keeps the counter from dipping.
    return { received: socket.bytesRead - this.headerBytes - this.discardedBytes, sent: Math.max(0, (socket.bytesWritten ?? 0) - socket.writableLength - this.bannerBytes) };
  }

  /** Bytes waiting in user space for this client to read them. */
  pendingWriteBytes(): number {
    return this.socket.writableLength;
  }

  /** Bytes the service holds for this client: echo it has not read yet, and input not yet echoed. */
  heldBytes(): number {
    return this.socket.writableLength + this.socket.readableLength;
  }

  /** Reading is paused because the client does not read its echo (fast enough). */
  get stalled(): boolean {
    return this.pausedForBackpressure || this.heldByGuard;
  }

  /** The memory guard: stop reading from this client (its echo keeps flowing) until releaseReading(). */
  holdReading(): void {
    if (this.heldByGuard || this.closing || this.socket.destroyed) return;
    this.heldByGuard = true;
    this.socket.pause();
  }

  releaseReading(): void {
    if (!this.heldByGuard) return;
    this.heldByGuard = false;
    if (!this.pausedForBackpressure && !this.closing && !this.socket.destroyed) this.socket.resume();
  }

  /** The memory guard needs this connection's memory back: close now, counted as `overload`. */
  shed(): void {
    if (this.socket.destroyed) return;
    this.reason = 'overload';
    this.socket.destroy();
  }

  /** The socket's peer and local addresses and TLS details, for a view of open connections (read when asked). */
  view(): SocketView {
    return viewSocket(this.socket);
  }

  get remote(): string {
    if (this.proxiedRemote !== undefined) return this.proxiedRemote;
    return hostPort(this.socket.remoteAddress, this.socket.remotePort);
  }

  /**
   * Shutdown has begun: keep echoing, and close once the client has been quiet for
   * `quietMs` with nothing left to read or write.
   */
  beginDrain(quietMs: number): void {
    if (this.draining || this.closing || this.socket.destroyed) return;
    this.draining = true;
    // socket.setTimeout(0) would switch the quiet check off and leave the connection to the deadline.
    this.drainQuietMs = Math.max(1, quietMs);
    this.watchTimeout(this.drainQuietMs);
  }

  /**
   * The shutdown deadline has passed: close now. Counted as `shutdown` even if the client had
   * already half-closed: its echo was still unsent, so the drain, not the client, ended it.
   */
  forceClose(): void {
    if (this.socket.destroyed) return;
    this.reason = 'shutdown';
    this.socket.destroy();
  }

  /** Idle timeout, drain quiet check and closing all use the socket's inactivity timer. */
  private watchTimeout(ms: number): void {
    if (!this.watchingTimeout) {
      this.watchingTimeout = true;
      this.socket.on('timeout', EchoConnection.onTimeout);
    }
    this.socket.setTimeout(ms);
  }

  // The listeners are static: Node calls them with `this` = the socket, which carries its connection,
  // so a new connection allocates no closures (it adds up at 10,000 connections/s).
  private static onData(this: EchoSocket, chunk: Buffer): void {
    if (!this.write(chunk)) {
      this.pause();
      const connection = this[CONNECTION];
      connection.pausedForBackpressure = true;
      connection.options.stats.backpressurePauses++;
    }
  }

  private static onShapedData(this: EchoSocket, chunk: Buffer): void {
    this[CONNECTION].pump?.onData(chunk);
  }

  private static onDrain(this: EchoSocket): void {
    const connection = this[CONNECTION];
    connection.pump?.onDrain();
    if (connection.pausedForBackpressure) {
      connection.pausedForBackpressure = false;
      if (!connection.heldByGuard) this.resume();
    }
  }

  // The client half-closed: everything it sent is already queued, so end after it flushes.
  private static onEnd(this: EchoSocket): void {
    this[CONNECTION].reason ??= 'client_end';
    this.end();
  }

  // Every error ends the connection. Node has usually destroyed the socket already (a reset, a
  // broken pipe, a TLS record it cannot read); where it only reports (a TLS renegotiation attempt),
  // a stream past an error is in no state to echo byte-exact.
  private static onError(this: EchoSocket, error: NodeJS.ErrnoException): void {
    this[CONNECTION].error ??= error;
    this.destroy();
  }

  private static onTimeout(this: EchoSocket): void {
    this[CONNECTION].timedOut();
  }

  private static onClose(this: EchoSocket): void {
    this[CONNECTION].closed();
  }

  private static onDiscard(this: EchoSocket, chunk: Buffer): void {
    this[CONNECTION].discardedBytes += chunk.length;
  }

  /** BehaviourHooks: the listener's close_after/reset_after fired. */
  closeByBehaviour(how: 'close' | 'reset'): void {
    const socket = this.socket;
    if (socket.destroyed || this.closing) return;
    if (how === 'close') {
      this.endOnOwnAccount('behaviour_close');
      return;
    }
    this.reason = 'behaviour_reset';
    // SO_LINGER 0 and close: the kernel sends a RST. A TLS socket resets the TCP socket under it.
    const tcp = acceptedSocketOf(socket) ?? socket;
    tcp.resetAndDestroy();
    if (tcp !== socket) socket.destroy();
  }

  /** BehaviourHooks: reading paused while shaped echo waits. */
  pausedForQueue(): void {
    this.options.stats.backpressurePauses++;
  }

  // The lifetime cap: echo nothing more, flush what was echoed, FIN, and close when the client does.
  private lifetimeOver(): void {
    this.endOnOwnAccount('max_lifetime');
  }

  private endOnOwnAccount(reason: CloseReason): void {
    const socket = this.socket;
    if (socket.destroyed || this.closing) return;
    this.closing = true;
    this.pump?.stop();
    // A deadline, not an inactivity timeout: a client that never reads or never closes loses its slot.
    this.lifetimeTimer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_GRACE_MS);
    if (socket.writableEnded) return; // the client half-closed: its echo is already ending
    this.reason ??= reason;
    // Keep reading, but throw away what the client still sends: closing with unread bytes would make
    // the kernel answer with a reset and drop the echo still queued for the client.
    socket.off('data', EchoConnection.onData);
    socket.off('data', EchoConnection.onShapedData);
    socket.on('data', EchoConnection.onDiscard);
    this.pausedForBackpressure = false;
    this.heldByGuard = false;
    socket.resume();
    socket.end();
  }

  private timedOut(): void {
    if (this.closing) {
      this.socket.destroy(); // idle while closing: nothing more will come
      return;
    }
    if (!this.draining) {
      this.closeWith('idle_timeout');
      return;
    }
    const socket = this.socket;
    const quiet = socket.writableLength === 0 && socket.readableLength === 0 && !this.stalled;
    if (!quiet) {
      socket.setTimeout(this.drainQuietMs); // still moving data: look again later
      return;
    }
    // Stop reading first so nothing is read that could not be echoed, then say goodbye with a FIN.
    this.reason ??= 'shutdown';
    socket.pause();
    socket.setTimeout(0);
    socket.end(() => socket.destroy());
  }

  private closeWith(reason: CloseReason): void {
    this.reason ??= reason;
    this.socket.destroy();
  }

  private closed(): void {
    if (this.lifetimeTimer !== undefined) clearTimeout(this.lifetimeTimer);
    this.pump?.stop();
    const reason = this.closeReason();
    const durationSeconds = (this.options.now() - this.openedAt) / 1000;
    const logger = this.options.logger;
    if (logger.isLevelEnabled('debug')) {
      const { received, sent } = this.bytes();
      logger.debug(
        { event: 'connection_closed', remote: this.remote, reason, received, sent, durationSeconds, error: this.error?.code ?? this.error?.message },
        'connection closed',
      );
    }
    this.options.onClosed(this, reason, durationSeconds);
  }

  private closeReason(): CloseReason {
    // An error that arrives while we are closing on purpose does not change why we closed.
    if (this.reason !== undefined && this.reason !== 'client_end') return this.reason;
    if (this.error) return RESET_CODES.has(this.error.code ?? '') ? 'reset' : 'error';
    return this.reason ?? 'client_end';
  }
}
