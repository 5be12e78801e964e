import { connect, type Socket } from 'node:net';
import { once } from 'node:events';

export async function openClient(port: number, host = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port, host, noDelay: true });
  await once(socket, 'connect');
  return socket;
}

/** Tries one TCP connection: 'connected' (closed again at once) or 'refused'; anything else throws. */
export function connectOutcome(port: number, host = '127.0.0.1'): Promise<'connected' | 'refused'> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      if (error.code === 'ECONNREFUSED') resolve('refused');
      else reject(error);
    });
  });
}

/** Collects everything the server sends until it closes its side; resolves with the bytes. */
export function collectUntilEnd(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

/**
 * Sends `payload` (respecting backpressure), half-closes, and resolves with everything echoed
 * back before the server's FIN.
 */
export async function echoRoundTrip(port: number, payload: Buffer, { host = '127.0.0.1', writeSize = 64 * 1024 } = {}): Promise<Buffer> {
  const socket = await openClient(port, host);
  const echoed = collectUntilEnd(socket);
  for (let offset = 0; offset < payload.length; offset += writeSize) {
    if (!socket.write(payload.subarray(offset, offset + writeSize))) await once(socket, 'drain');
  }
  socket.end();
  const result = await echoed;
  socket.destroy();
  return result;
}

/** Deterministic pseudo-random bytes (xorshift), so a failure is reproducible. */
export function patternedBytes(length: number, seed = 0x9e3779b9): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buffer.writeUInt32LE(x, i);
  }
  for (; i < length; i++) buffer[i] = (x >>> ((i & 3) * 8)) & 0xff;
  return buffer;
}
