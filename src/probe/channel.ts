// What the run loop talks to: one open connection (TCP, TLS) or socket (UDP) that echoes messages.
// The transports (tcp.ts, tls.ts, udp.ts) make them; run.ts only sends, times and closes.

export interface Channel {
  /** The banner lines read on connect, joined with '\n' (undefined without --banner-lines). */
  readonly banner: string | undefined;
  /** True once a failure has left the channel unusable (a stream out of step, a closed socket). */
  readonly broken: boolean;
  /**
   * Sends `message` and resolves once its echo has come back byte-exact; rejects with a
   * ProbeFailure (a mismatch, a timeout, the connection's error).
   */
  exchange(message: Buffer, sequence: number): Promise<void>;
  /** Ends the channel cleanly (a stream half-closes and reads to the server's end); rejects with a ProbeFailure. */
  close(): Promise<void>;
  /** Ends it at once. */
  destroy(): void;
}

/** Opens channel `slot` (0..concurrency-1); rejects with a ProbeFailure (refused, TLS handshake, ...). */
export type ChannelFactory = (slot: number) => Promise<Channel>;
