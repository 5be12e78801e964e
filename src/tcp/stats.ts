// Counters the echo path keeps as plain numbers; metrics read them at scrape time,
// so a connection's life costs a few additions and a chunk costs nothing here.
import { createBucketCounts, type BucketCounts } from '../metrics/bucket-histogram.js';
import { PROXY_ERROR_REASONS, type ProxyProtocolErrorReason } from '../proxy/read-header.js';

// overload: closed by the memory guard (src/overload/memory-guard.ts) to keep the process under its budget.
// behaviour_close / behaviour_reset: a listener's close_after / reset_after test behaviour ended it.
export const CLOSE_REASONS = ['client_end', 'reset', 'idle_timeout', 'max_lifetime', 'shutdown', 'overload', 'error', 'behaviour_close', 'behaviour_reset'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

// fd_limit: the process's file-descriptor budget for echo connections is used up (see listener.ts);
// overload: the memory guard is refusing new connections.
export const REJECT_REASONS = ['max_connections', 'fd_limit', 'overload'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Accept failures the listening socket reports (node emits them as 'error' on the server). */
export const ACCEPT_ERROR_CODES = ['EMFILE', 'ENFILE', 'other'] as const;
export type AcceptErrorCode = (typeof ACCEPT_ERROR_CODES)[number];


/** Upper bounds (seconds) of the connection-lifetime histogram buckets. */
export const DURATION_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

export interface ByteTotals {
  received: number;
  sent: number;
}

export interface EchoStats {
  accepted: number;
  backpressurePauses: number;
  readonly closed: Record<CloseReason, number>;
  readonly rejected: Record<RejectReason, number>;
  readonly acceptErrors: Record<AcceptErrorCode, number>;
  /** +proxy listeners: why connections closed before their echo began. */
  readonly proxyErrors: Record<ProxyProtocolErrorReason, number>;
  /** Bytes of connections that have closed; live ones are added at read time. */
  readonly closedBytes: ByteTotals;
  /** Lifetimes of closed connections, in seconds. */
  readonly durations: BucketCounts;
}

const zeroes = <K extends string>(keys: readonly K[]) =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

export function createEchoStats(): EchoStats {
  return {
    accepted: 0,
    backpressurePauses: 0,
    closed: zeroes(CLOSE_REASONS),
    rejected: zeroes(REJECT_REASONS),
    acceptErrors: zeroes(ACCEPT_ERROR_CODES),
    proxyErrors: zeroes(PROXY_ERROR_REASONS),
    closedBytes: { received: 0, sent: 0 },
    durations: createBucketCounts(DURATION_BUCKETS),
  };
}
