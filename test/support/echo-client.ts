// TCP clients of the echo: connect, round trips on an open connection, whole sessions, probes.
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { within } from './wait.js';

/** A connected client, Nagle off (unless noDelay: false, Node's default); rejects on an error or after timeoutMs. */
export async function openClient(port: number, { host = '127.0.0.1', noDelay = true, timeoutMs = 15_000 } = {}): Promise<Socket> {
  const socket = connect({ port, host, noDelay });
  await within(once(socket, 'connect'), timeoutMs, 'connect');
  return socket;
}

/**
 * Resolves once at least `length` bytes have arrived (the connection stays open), with all of them;
 * rejects if the connection errors or closes first, or after timeoutMs.
 */
export function readExactly(socket: Socket, length: number, timeoutMs = 20_000, what = `reading ${length} bytes`): Promise<Buffer> {
  return within(
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        got += chunk.length;
        if (got < length) return;
        cleanup();
        resolve(Buffer.concat(chunks));
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      const onClose = () => {
        cleanup();
        reject(new Error(`the connection closed before ${what} was done (${got} bytes)`));
      };
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
      };
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
    }),
    timeoutMs,
    what,
  );
}

/** One round trip of `payload` on an open connection: writes it and resolves with the bytes that came back. */
export function roundTrip(socket: Socket, payload: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  const echoed = readExactly(socket, payload.length, timeoutMs, 'a round trip');
  socket.write(payload);
  return echoed;
}

/** Writes `payload` and resolves once exactly those bytes came back (the socket stays open). */
export async function echoOnce(socket: Socket, payload: Buffer, timeoutMs = 15_000): Promise<void> {
  const got = await roundTrip(socket, payload, timeoutMs);
  if (!got.equals(payload)) throw new Error(`echo mismatch: sent ${payload.length} bytes, got ${got.length}`);
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
  const socket = await openClient(port, { host });
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
