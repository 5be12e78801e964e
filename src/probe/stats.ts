// What a probe run counts: messages, bytes, connections, round-trip times, errors by kind (with
// the first message of each as an example), the first mismatches in detail, and the banners seen.
import { createLatencyHistogram, type LatencyHistogram } from './histogram.js';
import { ERROR_KINDS, type ErrorKind, type Mismatch, type ProbeFailure } from './errors.js';

/** Mismatches kept in detail (all are counted). */
export const MISMATCHES_KEPT = 10;
/** Distinct banners kept (a Service in front of many replicas shows one per replica). */
export const BANNERS_KEPT = 20;

export interface ProbeStats {
  readonly rtt: LatencyHistogram;
  readonly messagesOk: number;
  readonly messagesFailed: number;
  readonly bytesSent: number;
  readonly bytesVerified: number;
  readonly connectionsOpened: number;
  /** UDP replies to datagrams already answered or given up on (not errors: the timeout was counted). */
  readonly strayReplies: number;
  readonly errors: Readonly<Record<ErrorKind, number>>;
  readonly errorTotal: number;
  /** The first error of each kind, as it was reported. */
  readonly examples: Readonly<Partial<Record<ErrorKind, string>>>;
  readonly mismatches: readonly Mismatch[];
  /** Banner text -> connections that showed it. */
  readonly banners: ReadonlyMap<string, number>;

  connectionOpened(banner: string | undefined): void;
  messageSent(bytes: number): void;
  messageEchoed(roundTripMs: number, bytes: number): void;
  /** A message that did not come back right (its error is counted too). */
  messageFailed(failure: ProbeFailure): void;
  /** An error outside any message (e.g. when closing a connection). */
  error(failure: ProbeFailure): void;
  strayReply(): void;
}

export function createProbeStats(): ProbeStats {
  const errors = Object.fromEntries(ERROR_KINDS.map((kind) => [kind, 0])) as Record<ErrorKind, number>;
  const examples: Partial<Record<ErrorKind, string>> = {};
  const mismatches: Mismatch[] = [];
  const banners = new Map<string, number>();
  // The interface shows the counters read-only; only these methods move them.
  const stats = {
    rtt: createLatencyHistogram(),
    messagesOk: 0,
    messagesFailed: 0,
    bytesSent: 0,
    bytesVerified: 0,
    connectionsOpened: 0,
    strayReplies: 0,
    errorTotal: 0,
    errors,
    examples,
    mismatches,
    banners,
    connectionOpened(banner: string | undefined) {
      stats.connectionsOpened++;
      if (banner === undefined) return;
      const seen = banners.get(banner);
      if (seen !== undefined) banners.set(banner, seen + 1);
      else if (banners.size < BANNERS_KEPT) banners.set(banner, 1);
    },
    messageSent(bytes: number) {
      stats.bytesSent += bytes;
    },
    messageEchoed(roundTripMs: number, bytes: number) {
      stats.messagesOk++;
      stats.bytesVerified += bytes;
      stats.rtt.record(roundTripMs);
    },
    messageFailed(failure: ProbeFailure) {
      stats.messagesFailed++;
      stats.error(failure);
    },
    error(failure: ProbeFailure) {
      errors[failure.kind]++;
      stats.errorTotal++;
      examples[failure.kind] ??= failure.message;
      if (failure.mismatch && mismatches.length < MISMATCHES_KEPT) mismatches.push(failure.mismatch);
    },
    strayReply() {
      stats.strayReplies++;
    },
  };
  return stats;
}
