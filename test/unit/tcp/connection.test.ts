// EchoConnection (src/tcp/connection.ts) on a stand-in socket, for states real sockets reach only by
// chance of buffer sizes.
import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { EchoConnection } from '../../../src/tcp/connection.js';
import { createEchoStats, type CloseReason } from '../../../src/tcp/stats.js';
import { silentLogger } from '../../support/logger.js';
import { within } from '../../support/wait.js';

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
