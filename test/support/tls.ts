// TLS for the tests: a tiny echo server on the service's TLS endpoint and EchoConnection (for tests
// of src/tls without the rest of the service), and clients that verify against a test PKI (certs.ts).
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { EchoConnection } from '../../src/tcp/connection.js';
import { createEchoStats, type ByteTotals, type CloseReason } from '../../src/tcp/stats.js';
import { createTlsEndpoint, type TlsEndpoint, type TlsFiles } from '../../src/tls/index.js';
import { createTestPki, type TestCert, type TestPki } from './certs.js';
import { openClient } from './echo-client.js';
import { capturingLogger } from './logger.js';
import { within } from './wait.js';

export interface TlsEcho {
  endpoint: TlsEndpoint;
  server: TlsServer;
  port: number;
  /** Server-side sockets of established connections, in order. */
  sockets: TLSSocket[];
  open: Set<EchoConnection>;
  closed: Array<{ reason: CloseReason; bytes: ByteTotals }>;
  /** What the endpoint and the connections logged (debug and up). */
  logLines: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** The tiny TLS echo server: the endpoint's tls.Server with the service's own EchoConnection pump. */
export async function startTlsEcho(files: TlsFiles, handshakeTimeoutMs = 30_000): Promise<TlsEcho> {
  const { logger, lines } = capturingLogger('debug');
  const stats = createEchoStats();
  const endpoint = await createTlsEndpoint({ files, logger, handshakeTimeoutMs });
  const sockets: TLSSocket[] = [];
  const open = new Set<EchoConnection>();
  const closed: TlsEcho['closed'] = [];
  const server = endpoint.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    const connection = new EchoConnection(socket, {
      idleTimeoutMs: 0,
      stats,
      logger,
      now: Date.now,
      onClosed: (closing, reason) => {
        open.delete(closing);
        closed.push({ reason, bytes: closing.bytes() });
      },
    });
    open.add(connection);
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  return {
    endpoint,
    server,
    port: (server.address() as AddressInfo).port,
    sockets,
    open,
    closed,
    logLines: lines,
    async stop() {
      for (const connection of open) connection.forceClose();
      server.close();
      await within(once(server, 'close'), 5000, 'server close');
    },
  };
}

/**
 * A test PKI and a TLS echo serving its server certificate (and, with `mutual`, requiring client
 * certificates from its CA); stop() ends both.
 */
export async function startTlsEchoWithPki({ handshakeTimeoutMs = 30_000, mutual = false } = {}): Promise<{ pki: TestPki; echo: TlsEcho; stop(): Promise<void> }> {
  const pki = await createTestPki();
  const echo = await startTlsEcho({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, ...(mutual ? { clientCaFile: pki.caFile } : {}) }, handshakeTimeoutMs);
  return {
    pki,
    echo,
    async stop() {
      await echo.stop();
      pki.cleanup();
    },
  };
}

export interface TlsClientOptions {
  /** CA file to verify the server against (without one the client verifies nothing). */
  ca?: string;
  /** A client certificate to present. */
  client?: TestCert;
  /** The name to verify (without it, the address: IP 127.0.0.1). */
  servername?: string;
  /** Sent on the TCP connection before the handshake (a tls+proxy listener). */
  proxyHeader?: Buffer;
}

/** A TLS client connected to 127.0.0.1:`port`, handshake done; rejects if the handshake fails. */
export async function openTls(port: number, { ca, client, servername, proxyHeader }: TlsClientOptions = {}): Promise<TLSSocket> {
  const options: ConnectionOptions = {
    ...(ca ? { ca: readFileSync(ca) } : { rejectUnauthorized: false }),
    ...(client ? { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) } : {}),
    ...(servername ? { servername } : {}),
  };
  let socket: TLSSocket;
  if (proxyHeader) {
    const raw = await openClient(port);
    raw.write(proxyHeader);
    socket = tlsConnect({ socket: raw, ...options });
  } else {
    socket = tlsConnect({ host: '127.0.0.1', port, ...options });
  }
  await within(
    Promise.race([once(socket, 'secureConnect'), once(socket, 'error').then(([error]) => Promise.reject(error as Error))]),
    10_000,
    'TLS handshake',
  );
  return socket;
}

/** Sends the payload over TLS, half-closes, and returns everything echoed before the server's close. */
export async function tlsRoundTrip(port: number, payload: Buffer, options: TlsClientOptions = {}): Promise<{ echoed: Buffer; peerCN: unknown }> {
  const socket = await openTls(port, options);
  const peerCN = socket.getPeerCertificate().subject?.CN;
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = once(socket, 'end');
  for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
    if (!socket.write(payload.subarray(offset, offset + 64 * 1024))) await once(socket, 'drain');
  }
  socket.end();
  await within(ended, 20_000, 'echo of the whole payload');
  socket.destroy();
  return { echoed: Buffer.concat(chunks), peerCN };
}
