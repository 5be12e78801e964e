// What went wrong on the path, by kind: the probe's failures, and the classification of socket,
// DNS and TLS errors into those kinds.

export const ERROR_KINDS = ['refused', 'reset', 'timeout', 'closed', 'mismatch', 'tls_handshake', 'dns', 'unreachable', 'banner', 'other'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** Where in a message's echo the bytes first differed. */
export interface Mismatch {
  /** The connection (or UDP socket) slot, 0..concurrency-1. */
  readonly connection: number;
  /** The message's sequence number in the run (-1: bytes no message asked for). */
  readonly message: number;
  /** Offset within the message of the first byte that differs (or that was not expected at all). */
  readonly offset: number;
  /** The byte sent there (undefined: the echo was longer than the message). */
  readonly expected: number | undefined;
  /** The byte that came back there (undefined: the echo was shorter, for a datagram). */
  readonly actual: number | undefined;
  /** What came back from that offset on, printable ASCII with the rest as '.', at most 32 characters. */
  readonly received: string;
}

export class ProbeFailure extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly mismatch?: Mismatch,
  ) {
    super(message);
    this.name = 'ProbeFailure';
  }
}

const CODE_KINDS: Readonly<Record<string, ErrorKind>> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  ECONNABORTED: 'reset',
  ETIMEDOUT: 'timeout',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NONAME: 'dns',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
};

/** OpenSSL's errors (ERR_SSL_*), Node's TLS checks (ERR_TLS_*) and X.509 verification codes. */
const TLS_CODE = /^(ERR_SSL_|ERR_TLS_)|CERT|^UNABLE_TO_|SELF_SIGNED|^HOSTNAME_MISMATCH$/;

/** Any error from a socket, a lookup or a TLS handshake as a ProbeFailure of its kind. */
export function classifyError(error: unknown): ProbeFailure {
  if (error instanceof ProbeFailure) return error;
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
  const message = error instanceof Error ? error.message : String(error);
  const kind = CODE_KINDS[code] ?? (TLS_CODE.test(code) || (typeof error === 'object' && error !== null && 'library' in error) ? 'tls_handshake' : 'other');
  return new ProbeFailure(kind, message);
}
