// Counters the echo path keeps as plain numbers; metrics read them at scrape time,
// so a connection's life costs a few additions and a chunk costs nothing here.

export const CLOSE_REASONS = ['client_end', 'reset', 'idle_timeout', 'shutdown', 'error'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export const REJECT_REASONS = ['max_connections'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface ByteTotals {
  received: number;
  sent: number;
}

export interface EchoStats {
  accepted: number;
  backpressurePauses: number;
  readonly closed: Record<CloseReason, number>;
  readonly rejected: Record<RejectReason, number>;
  /** Bytes of connections that have closed; live ones are added at read time. */
  readonly closedBytes: ByteTotals;
}

const zeroes = <K extends string>(keys: readonly K[]) =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

export function createEchoStats(): EchoStats {
  return {
    accepted: 0,
    backpressurePauses: 0,
    closed: zeroes(CLOSE_REASONS),
    rejected: zeroes(REJECT_REASONS),
    closedBytes: { received: 0, sent: 0 },
  };
}
