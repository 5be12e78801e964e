import type { Socket } from 'node:net';
import { ProxyHeaderParser, type ProxyHeader, type ProxyParseErrorReason, type ProxyParseOptions } from './parse.js';

export type ProxyProtocolErrorReason =
  /** No complete header within the deadline. */
  | 'timeout'
  /** The bytes are not a valid PROXY header (`parseReason` says why). */
  | 'malformed'
  /** The peer closed (FIN or close) before the header was complete; see `bytesReceived`. */
  | 'closed'
  /** A socket error (e.g. ECONNRESET) before the header was complete; see `cause`. */
  | 'error';

/** Every reason, in the order metrics list them (a bare connect-then-close is not counted as one). */
export const PROXY_ERROR_REASONS: readonly ProxyProtocolErrorReason[] = ['timeout', 'malformed', 'closed', 'error'];

export class ProxyProtocolError extends Error {
  override readonly name = 'ProxyProtocolError';
  readonly reason: ProxyProtocolErrorReason;
  /** For 'malformed': the parser's reason. */
  readonly parseReason: ProxyParseErrorReason | undefined;
  /**
   * Bytes read from the socket before giving up. 'closed' with 0 is a bare connect-then-close (an
   * orchestrator's TCP probe), which a caller may count as a normal close rather than an error.
   */
  readonly bytesReceived: number;

  constructor(reason: ProxyProtocolErrorReason, message: string, details: { parseReason?: ProxyParseErrorReason; bytesReceived: number; cause?: unknown }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    this.parseReason = details.parseReason;
    this.bytesReceived = details.bytesReceived;
  }
}

export interface ReadProxyHeaderOptions extends ProxyParseOptions {
  /** Deadline for the whole header, from the call (default 5000 ms). */
  readonly timeoutMs: number;
}

export interface ProxyHeaderRead {
  readonly header: ProxyHeader;
  /**
   * Payload that arrived behind the header before the socket was paused: the first bytes of the
   * client's stream, to be echoed before anything read later. Often empty.
   */
  readonly remainder: Buffer;
}

/**
 * Reads a PROXY protocol v1/v2 header off a freshly accepted socket, before anything else reads it.
 *
 * Resolves once the header is complete, with the socket **paused** (readableFlowing === false) and
 * none of this function's listeners left on it: bytes that arrive afterwards wait in the socket.
 * The caller then writes `remainder` first, attaches its own listeners ('error' among them, at
 * once: none is attached in between) and calls `socket.resume()`.
 *
 * Rejects with a ProxyProtocolError ('timeout' | 'malformed' | 'closed' | 'error'), its listeners
 * removed and the socket paused; the caller closes (destroys) the socket and counts it.
 */
export function readProxyHeader(socket: Socket, options: ReadProxyHeaderOptions): Promise<ProxyHeaderRead> {
  const { timeoutMs } = options;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new RangeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
  const parser = new ProxyHeaderParser(options);

  return new Promise<ProxyHeaderRead>((resolve, reject) => {
    let received = 0;
    let timer: NodeJS.Timeout | undefined;

    const cleanup = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      socket.pause();
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
    };
    const failWith = (reason: ProxyProtocolErrorReason, message: string, details: { parseReason?: ProxyParseErrorReason; cause?: unknown } = {}) => {
      cleanup();
      reject(new ProxyProtocolError(reason, message, { ...details, bytesReceived: received }));
    };

    const onData = (chunk: Buffer) => {
      received += chunk.length;
      const result = parser.push(chunk);
      if (result.status === 'need_more') return;
      if (result.status === 'error') {
        failWith('malformed', `PROXY protocol: ${result.message}`, { parseReason: result.reason });
        return;
      }
      // Pausing inside the 'data' handler stops the stream at once: later bytes stay buffered in it.
      cleanup();
      resolve({ header: result.header, remainder: chunk.subarray(result.consumed) });
    };
    const onEnd = () => failWith('closed', `PROXY protocol: connection closed after ${received} bytes, before the header was complete`);
    const onClose = () => failWith('closed', `PROXY protocol: connection closed after ${received} bytes, before the header was complete`);
    const onError = (error: Error) => failWith('error', `PROXY protocol: socket error before the header was complete: ${(error as NodeJS.ErrnoException).code ?? error.message}`, { cause: error });

    if (socket.destroyed) {
      failWith('closed', 'PROXY protocol: socket already closed');
      return;
    }
    timer = setTimeout(() => failWith('timeout', `PROXY protocol: no complete header within ${timeoutMs} ms (${received} bytes received)`), timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}
