import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ByteTotals, CloseReason, EchoStats } from './stats.js';

export interface ConnectionOptions {
  readonly idleTimeoutMs: number;
  readonly stats: EchoStats;
  readonly logger: Logger;
  readonly now: () => number;
  readonly onClosed: (connection: EchoConnection, reason: CloseReason, durationSeconds: number) => void;
}

// A client that went away without a goodbye; not the server's fault.
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);

/**
 * One client's echo pump. The per-chunk path is `onData`: write the chunk back and,
 * if the socket's write buffer is full, stop reading until it drains.
 */
export class EchoConnection {
  private readonly socket: Socket;
  private readonly options: ConnectionOptions;
  private readonly openedAt: number;
  private pausedForBackpressure = false;
  private draining = false;
  private drainQuietMs = 0;
  private reason: CloseReason | undefined;
  private error: NodeJS.ErrnoException | undefined;

  constructor(socket: Socket, options: ConnectionOptions) {
    this.socket = socket;
    this.options = options;
    this.openedAt = options.now();
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('timeout', this.onTimeout);
    socket.once('close', this.onClose);
    if (options.idleTimeoutMs > 0) socket.setTimeout(options.idleTimeoutMs);
  }

  /** Bytes read from and written back to this client so far (written = accepted by the kernel). */
  bytes(): ByteTotals {
    const socket = this.socket;
    return { received: socket.bytesRead, sent: (socket.bytesWritten ?? 0) - socket.writableLength };
  }

  /** Bytes waiting in user space for this client to read them. */
  pendingWriteBytes(): number {
    return this.socket.writableLength;
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  /**
   * Shutdown has begun: keep echoing, and close once the client has been quiet for
   * `quietMs` with nothing left to read or write.
   */
  beginDrain(quietMs: number): void {
    if (this.draining || this.socket.destroyed) return;
    this.draining = true;
    // socket.setTimeout(0) would switch the quiet check off and leave the connection to the deadline.
    this.drainQuietMs = Math.max(1, quietMs);
    this.socket.setTimeout(this.drainQuietMs);
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

  private readonly onData = (chunk: Buffer): void => {
    if (!this.socket.write(chunk)) {
      this.socket.pause();
      this.pausedForBackpressure = true;
      this.options.stats.backpressurePauses++;
    }
  };

  private readonly onDrain = (): void => {
    if (this.pausedForBackpressure) {
      this.pausedForBackpressure = false;
      this.socket.resume();
    }
  };

  // The client half-closed: everything it sent is already queued, so end after it flushes.
  private readonly onEnd = (): void => {
    this.reason ??= 'client_end';
    this.socket.end();
  };

  private readonly onError = (error: NodeJS.ErrnoException): void => {
    this.error ??= error;
  };

  private readonly onTimeout = (): void => {
    if (!this.draining) {
      this.closeWith('idle_timeout');
      return;
    }
    const socket = this.socket;
    const quiet = socket.writableLength === 0 && socket.readableLength === 0 && !this.pausedForBackpressure;
    if (!quiet) {
      socket.setTimeout(this.drainQuietMs); // still moving data: look again later
      return;
    }
    // Stop reading first so nothing is read that could not be echoed, then say goodbye with a FIN.
    this.reason ??= 'shutdown';
    socket.pause();
    socket.setTimeout(0);
    socket.end(() => socket.destroy());
  };

  private closeWith(reason: CloseReason): void {
    this.reason ??= reason;
    this.socket.destroy();
  }

  private readonly onClose = (): void => {
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
  };

  private closeReason(): CloseReason {
    // An error that arrives while we are closing on purpose does not change why we closed.
    if (this.reason === 'idle_timeout' || this.reason === 'shutdown') return this.reason;
    if (this.error) return RESET_CODES.has(this.error.code ?? '') ? 'reset' : 'error';
    return this.reason ?? 'client_end';
  }
}
