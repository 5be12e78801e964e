// EchoConnection (src/tcp/connection.ts): on a stand-in socket, for states real sockets reach only by
// chance of buffer sizes; on real sockets, for what it costs per chunk.
import { describe, expect, it } from 'vitest';
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { EchoConnection } from '../../../src/tcp/connection.js';
import { createEchoStats, type CloseReason } from '../../../src/tcp/stats.js';
import { silentLogger } from '../../support/logger.js';
import { within } from '../../support/wait.js';
import { createTestPki } from '../../support/certs.js';
import { openClient, patternedBytes, readExactly, roundTrip } from '../../support/echo-client.js';
import { listenerPorts } from '../../support/metrics.js';
import { inet4Block, v2Header } from '../../support/proxy-encode.js';
import { startService } from '../../support/service.js';
import { openTls } from '../../support/tls.js';

// The state "client half-closed, its echo still unsent, deadline passes" depends on socket buffer
// sizes over real sockets, so it is pinned here on the connection itself with a stand-in socket.
class StandInSocket extends EventEmitter {
  bytesRead = 0;
  bytesWritten = 0;
  writableLength = 0;
  readableLength = 0;
  destroyed = false;
  remoteAddress = '127.0.0.1';
  remotePort = 1;
  timeoutMs = 0;
  setTimeout(ms: number) {
    this.timeoutMs = ms;
    return this;
  }
  /** The client does not read: everything stays queued. */
  write(chunk: Buffer) {
    this.bytesWritten += chunk.length;
    this.writableLength += chunk.length;
    return false;
  }
  pause() {
    return this;
  }
  resume() {
    return this;
  }
  end() {
    return this; // the queue never flushes, so the socket stays open
  }
  destroy() {
    if (!this.destroyed) {
      this.destroyed = true;
      process.nextTick(() => this.emit('close', false));
    }
    return this;
  }
}

describe('EchoConnection drain bookkeeping', () => {
  function connectionOn(socket: StandInSocket) {
    let resolveClosed: (reason: CloseReason) => void = () => {};
    const closed = new Promise<CloseReason>((resolve) => (resolveClosed = resolve));
    const connection = new EchoConnection(socket as unknown as Socket, {
      idleTimeoutMs: 0,
      stats: createEchoStats(),
      logger: silentLogger(),
      now: () => 0,
      onClosed: (_connection, reason) => resolveClosed(reason),
    });
    return { connection, closed };
  }

  it('counts a connection still open at the deadline as shutdown even if its client had half-closed', async () => {
    const socket = new StandInSocket();
    const { connection, closed } = connectionOn(socket);
    socket.bytesRead = 64 * 1024;
    socket.emit('data', Buffer.alloc(64 * 1024));
    connection.beginDrain(1000);
    socket.emit('end'); // the client half-closed; its echo cannot be flushed
    connection.forceClose();
    expect(await within(closed, 1000, 'close')).toBe('shutdown');
  });

  it('still counts a plain half-close as client_end', async () => {
    const socket = new StandInSocket();
    const { closed } = connectionOn(socket);
    socket.emit('end');
    socket.destroy(); // what the socket does once the echo is flushed
    expect(await within(closed, 1000, 'close')).toBe('client_end');
  });

  it('keeps the quiet check on with SHUTDOWN_QUIET_MS=0 (a socket timeout of 0 would switch it off)', () => {
    const socket = new StandInSocket();
    const { connection } = connectionOn(socket);
    connection.beginDrain(0);
    expect(socket.timeoutMs).toBeGreaterThan(0);
  });
});

describe('per-chunk work on real sockets', () => {
  /** Counts, per stream, the "read more" ticks Node schedules after a chunk is pushed (process.nextTick(maybeReadMore_, stream, state)). */
  function countReadMoreTicks() {
    const original = process.nextTick;
    const perStream = new Map<unknown, number>();
    process.nextTick = function (this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
      if (callback.name === 'maybeReadMore_') perStream.set(args[0], (perStream.get(args[0]) ?? 0) + 1);
      original.call(process, callback, ...args);
    } as typeof process.nextTick;
    return { perStream, restore: () => (process.nextTick = original) };
  }

  const ROUND_TRIPS = 50;

  it('schedules no read-more tick per chunk on tcp, tcp+proxy (payload behind the header) and tls listeners; clients still do (the count sees them)', async () => {
    const pki = await createTestPki();
    const running = await startService({ ECHO_LISTENERS: 'tcp://127.0.0.1:0,tcp+proxy://127.0.0.1:0,tls://127.0.0.1:0', ECHO_TLS_CERT: pki.server.certFile, ECHO_TLS_KEY: pki.server.keyFile });
    const ticks = countReadMoreTicks();
    try {
      const ports = await listenerPorts(running.httpPort);
      const plain = await openClient(ports.get('tcp') as number);
      const proxied = await openClient(ports.get('tcp+proxy') as number);
      const header = v2Header({ familyProtocol: 0x11, addresses: inet4Block('203.0.113.7', '10.0.0.1', 40000, 7000) });
      const first = Buffer.from('first payload, in the same segment as the header');
      const firstEcho = readExactly(proxied, first.length);
      proxied.write(Buffer.concat([header, first]));
      expect((await firstEcho).equals(first)).toBe(true);
      const secure = await openTls(ports.get('tls') as number);
      const clients: Socket[] = [plain, proxied, secure];
      for (let i = 0; i < ROUND_TRIPS; i++) {
        for (const client of clients) {
          const payload = patternedBytes(64, i + 1);
          expect((await roundTrip(client, payload)).equals(payload)).toBe(true);
        }
      }
      for (const client of clients) client.destroy();
      const serverSide = [...ticks.perStream].filter(([stream]) => !clients.includes(stream as Socket));
      for (const client of [plain, proxied]) expect(ticks.perStream.get(client) ?? 0, 'a client socket (plain Node)').toBeGreaterThanOrEqual(ROUND_TRIPS);
      // At most the tick already pending when a connection began (its first chunk was read with the PROXY header).
      expect(serverSide.reduce((sum, [, count]) => sum + count, 0)).toBeLessThanOrEqual(clients.length);
    } finally {
      ticks.restore();
      await running.stop();
      pki.cleanup();
    }
  });

  it('also skips them where the connection begins while a read-more tick is still pending', async () => {
    const server = createServer();
    const accepted = new Promise<Socket>((resolve) => {
      server.once('connection', (socket: Socket) => {
        // Begin the echo on the tick after the first chunk: Node's read-more tick for it is queued by then.
        socket.once('data', (initial: Buffer) =>
          process.nextTick(() => {
            new EchoConnection(socket, { idleTimeoutMs: 0, stats: createEchoStats(), logger: silentLogger(), now: () => 0, onClosed: () => undefined }, { initial });
            resolve(socket);
          }),
        );
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const ticks = countReadMoreTicks();
    try {
      const client = await openClient((server.address() as AddressInfo).port);
      expect((await roundTrip(client, Buffer.from('first'))).toString()).toBe('first');
      const serverSocket = await within(accepted, 5000, 'the connection');
      for (let i = 0; i < ROUND_TRIPS; i++) {
        const payload = patternedBytes(64, i + 1);
        expect((await roundTrip(client, payload)).equals(payload)).toBe(true);
      }
      client.destroy();
      expect(ticks.perStream.get(serverSocket) ?? 0).toBeLessThanOrEqual(1);
    } finally {
      ticks.restore();
      server.close();
    }
  });
});
