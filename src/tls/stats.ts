import type { TLSSocket } from 'node:tls';
import { acceptedSocketOf } from './accepted-socket.js';

// Plain numbers the TLS listener keeps; metrics read them at scrape time (as with src/echo/stats.ts).

/**
 * Why a TLS handshake did not complete. A small fixed set, so it can be a metric label:
 * - handshake_failed: a protocol failure (a plaintext client, no shared version or cipher, garbage)
 * - client_cert_rejected: mutual TLS and the client sent no certificate or one that does not verify
 * - server_cert_rejected: the client refused our certificate (it sent an unknown_ca / bad_certificate alert)
 * - timeout: no completed handshake within the handshake timeout
 * - aborted: the client reset or closed mid-handshake, after sending something
 */
export const TLS_HANDSHAKE_FAILURE_REASONS = ['handshake_failed', 'client_cert_rejected', 'server_cert_rejected', 'timeout', 'aborted'] as const;
export type TlsHandshakeFailureReason = (typeof TLS_HANDSHAKE_FAILURE_REASONS)[number];

export interface TlsStats {
  readonly handshakeFailures: Record<TlsHandshakeFailureReason, number>;
  /** Connections closed before the client sent a byte (TCP health probes): normal, not failures. */
  probes: number;
  /** Established connections closed because the client tried to renegotiate (refused, as HAProxy and nginx do). */
  renegotiationsRefused: number;
  /** Completed reloads, and reloads that failed and kept the previous certificate. */
  reloads: number;
  reloadFailures: number;
  /** notAfter of the certificate in use, in Unix seconds (for an expiry gauge). */
  certificateNotAfterSeconds: number;
}

export function createTlsStats(): TlsStats {
  return {
    handshakeFailures: Object.fromEntries(TLS_HANDSHAKE_FAILURE_REASONS.map((reason) => [reason, 0])) as Record<TlsHandshakeFailureReason, number>,
    probes: 0,
    renegotiationsRefused: 0,
    reloads: 0,
    reloadFailures: 0,
    certificateNotAfterSeconds: 0,
  };
}

const GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);
// Our side refused the client's certificate (OpenSSL, with SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
const CLIENT_CERT_CODES = /PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_VERIFY_FAILED|NO_CERTIFICATE_RETURNED/;
// The client's alert about our certificate.
const SERVER_CERT_ALERT = /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_\w+|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/;

/** Ciphertext bytes the server read on the connection under the TLS socket (undefined if unknown). */
export function rawBytesRead(socket: TLSSocket): number | undefined {
  return acceptedSocketOf(socket)?.bytesRead;
}

/**
 * Sorts a `tlsClientError` into a reason, or 'probe' for a connection that closed before sending
 * anything (a load balancer's TCP check: not a failure).
 */
export function classifyHandshakeError(error: NodeJS.ErrnoException, socket: TLSSocket): TlsHandshakeFailureReason | 'probe' {
  const code = error.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  // Node verifies the chain after OpenSSL's handshake and destroys the socket itself ("socket hang up").
  if (socket.authorizationError || CLIENT_CERT_CODES.test(code)) return 'client_cert_rejected';
  if (SERVER_CERT_ALERT.test(code)) return 'server_cert_rejected';
  if (GONE_CODES.has(code)) return rawBytesRead(socket) === 0 ? 'probe' : 'aborted';
  return 'handshake_failed';
}
