import type { AddressInfo } from 'node:net';
import type { ListenerSpec } from '../config/types.js';

/**
 * One echo listener of any kind, as its process sees it. Each kind says what the steps of a
 * shutdown mean for it: a TCP listener closes its listening socket and lets its connections finish;
 * a UDP listener has nothing to drain (a datagram is answered as it comes), so it closes at once.
 */
export interface Listener {
  readonly spec: ListenerSpec;
  /** Binds; rejects (leaving nothing open) if it cannot. */
  listen(): Promise<AddressInfo>;
  /** True while bound and taking new clients. */
  readonly accepting: boolean;
  readonly address: AddressInfo | undefined;
  /** Clients being served now (0 for UDP). */
  readonly activeConnections: number;
  /** Echo bytes accepted from clients and not yet handed to the kernel. */
  pendingWriteBytes(): number;
  /** Takes no new clients; what is open is untouched. */
  stopAccepting(): void;
  /** Closes each open client once it has gone quiet for `quietMs`. */
  drain(quietMs: number): void;
  /** Resolves when no client is open. */
  idle(): Promise<void>;
  /** Closes every client still open (the shutdown deadline). */
  closeAll(): void;
  /** Its state for /healthz. */
  detail(): Record<string, unknown>;
}
