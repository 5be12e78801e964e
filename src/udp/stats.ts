// Counters the UDP echo path keeps as plain numbers; metrics read them at scrape time (udp/metrics.ts),
// so a datagram costs a few additions and no label lookup.

/**
 * Why a datagram was not echoed (fixed set, so the metric's series are bounded and start at 0):
 * - `oversize`: bigger than the listener's maxDatagramBytes; dropped on purpose, not logged.
 * - `send_queue_full`: the kernel send buffer was full and the listener's own queue of unsent replies
 *   reached maxQueuedSends; dropped rather than buffered without bound.
 * - `send_failed`: the reply's send reported an error (or threw); the datagram is lost, the listener goes on.
 * - `receive_failed`: the socket reported a receive error (an 'error' event); nothing to echo, never fatal.
 * - `loop`: the source port is one this process listens on (TCP, UDP or the sidecar, from any address):
 *   answering could start an endless exchange with itself or with another replica (source-ports.ts).
 * - `reserved_source_port`: the source port is 0, privileged (1-1023: the small services, DNS, NTP,
 *   SNMP...) or a known reflection port; no client sends from one, a forged datagram does.
 * - `rate_limited`: the source (IPv4 address or IPv6 /64) is over ECHO_UDP_SOURCE_RATE (source-rate.ts).
 */
// loss: dropped on purpose by the listener's `loss` test behaviour.
export const UDP_ERROR_REASONS = ['oversize', 'send_queue_full', 'send_failed', 'receive_failed', 'loop', 'reserved_source_port', 'rate_limited', 'loss'] as const;
export type UdpErrorReason = (typeof UDP_ERROR_REASONS)[number];

export interface UdpStats {
  /** Every datagram read from the socket, oversize ones included. */
  receivedDatagrams: number;
  receivedBytes: number;
  /** Replies the kernel accepted (the send callback reported success). */
  sentDatagrams: number;
  sentBytes: number;
  readonly errors: Record<UdpErrorReason, number>;
}

export function createUdpStats(): UdpStats {
  return {
    receivedDatagrams: 0,
    receivedBytes: 0,
    sentDatagrams: 0,
    sentBytes: 0,
    errors: Object.fromEntries(UDP_ERROR_REASONS.map((reason) => [reason, 0])) as Record<UdpErrorReason, number>,
  };
}
