// A Channel over a connected byte stream (TCP, or TLS over it): the banner lines first, if asked
// for, then one message at a time, its echo checked chunk by chunk as it arrives. Any byte out of
// place fails the channel: after one, the stream is out of step and a new connection is needed.
import type { Socket } from 'node:net';
import type { Channel } from './channel.js';
import { classifyError, ProbeFailure } from './errors.js';
import { describeMismatch } from './pattern.js';

/** A banner line longer than this is not a banner: the channel fails with kind 'banner'. */
export const BANNER_LINE_MAX_BYTES = 4096;
/** How long close() waits at most for the server's end after the half-close before letting go (not an error). */
const CLOSE_WAIT_MAX_MS = 2000;
const NOTHING = Buffer.alloc(0);
const BANNER_HINT = ' (the first bytes on the connection: a banner? see --banner-lines)';

export interface StreamChannelOptions {
  /** The slot the channel fills (0..concurrency-1), for mismatch reports. */
  readonly slot: number;
  /** Deadline for the banner, for each message's echo, and for the server's end on close. */
  readonly timeoutMs: number;
  /** Lines the server sends on connect, read and kept as the banner instead of checked as echo. */
  readonly bannerLines: number;
}

interface Waiter {
  resolve(): void;
  reject(failure: ProbeFailure): void;
  timer: NodeJS.Timeout | undefined;
}

interface Pending extends Waiter {
  readonly expected: Buffer;
  readonly sequence: number;
  received: number;
}

/** Resolves once the banner (if any) is read; rejects with the ProbeFailure that ended the connection. */
export function openStreamChannel(socket: Socket, { slot, timeoutMs, bannerLines }: StreamChannelOptions): Promise<Channel> {
  let phase: 'banner' | 'echo' | 'closing' | 'done' = bannerLines > 0 ? 'banner' : 'echo';
  let failure: ProbeFailure | undefined;
  let banner: string | undefined;
  let bannerBytes: Buffer = NOTHING;
  let receivedOnConnection = 0;
  let opening: Waiter | undefined;
  let pending: Pending | undefined;
  let closing: Waiter | undefined;

  const settle = (waiter: Waiter | undefined) => {
    if (waiter?.timer) clearTimeout(waiter.timer);
    return waiter;
  };

  function fail(reason: ProbeFailure): void {
    if (failure) return;
    failure = reason;
    phase = 'done';
    const waiters = [opening, pending, closing];
    opening = pending = closing = undefined;
    for (const waiter of waiters) settle(waiter)?.reject(reason);
    socket.destroy();
  }

  function mismatch(message: string, sequence: number, offset: number, expected: Buffer, actual: Buffer): void {
    const hint = receivedOnConnection === 0 && offset === 0 && bannerLines === 0 ? BANNER_HINT : '';
    fail(new ProbeFailure('mismatch', `${message}${hint}`, describeMismatch(slot, sequence, offset, expected, actual)));
  }

  function readBanner(chunk: Buffer): void {
    bannerBytes = bannerBytes.length === 0 ? chunk : Buffer.concat([bannerBytes, chunk]);
    let end = -1;
    for (let line = 0; line < bannerLines; line++) {
      const newline = bannerBytes.indexOf(0x0a, end + 1);
      if (newline === -1 || newline - end - 1 > BANNER_LINE_MAX_BYTES) {
        if (bannerBytes.length - end - 1 > BANNER_LINE_MAX_BYTES) fail(new ProbeFailure('banner', `banner line ${line + 1} is longer than ${BANNER_LINE_MAX_BYTES} bytes`));
        return;
      }
      end = newline;
    }
    banner = bannerBytes.subarray(0, end).toString('utf8').replace(/\r$/gm, '');
    const rest = bannerBytes.subarray(end + 1);
    bannerBytes = NOTHING;
    phase = 'echo';
    settle(opening)?.resolve();
    opening = undefined;
    if (rest.length > 0) readEcho(rest);
  }

  function readEcho(chunk: Buffer): void {
    const current = pending;
    if (!current) {
      mismatch(`${chunk.length} bytes arrived that no message asked for`, -1, 0, NOTHING, chunk);
      return;
    }
    const { expected, sequence, received } = current;
    const remaining = expected.length - received;
    const part = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
    const wanted = expected.subarray(received, received + part.length);
    if (!part.equals(wanted)) {
      mismatch(`the echo of message ${sequence} differs from what was sent`, sequence, received, wanted, part);
      return;
    }
    receivedOnConnection += part.length;
    if (chunk.length > remaining) {
      mismatch(`the echo of message ${sequence} has ${chunk.length - remaining} bytes more than was sent`, sequence, expected.length, NOTHING, chunk.subarray(remaining));
      return;
    }
    current.received += part.length;
    if (current.received === expected.length) {
      pending = undefined;
      settle(current)?.resolve();
    }
  }

  socket.on('data', (chunk: Buffer) => {
    if (failure) return;
    if (phase === 'banner') readBanner(chunk);
    else readEcho(chunk);
  });
  socket.on('end', () => {
    if (phase === 'closing') {
      phase = 'done';
      const waiter = settle(closing);
      closing = undefined;
      socket.destroy();
      waiter?.resolve();
      return;
    }
    const what = pending
      ? `the server closed the connection after ${pending.received} of the ${pending.expected.length} bytes of message ${pending.sequence}`
      : phase === 'banner'
        ? 'the server closed the connection before its banner'
        : 'the server closed the connection';
    fail(new ProbeFailure('closed', what));
  });
  socket.on('error', (error) => fail(classifyError(error)));
  socket.on('close', () => {
    if (phase !== 'done') fail(new ProbeFailure('closed', 'the connection closed'));
  });

  const channel: Channel = {
    get banner() {
      return banner;
    },
    get broken() {
      return failure !== undefined || phase === 'done';
    },
    exchange(message, sequence) {
      if (failure) return Promise.reject(failure);
      if (phase !== 'echo' || pending) return Promise.reject(new ProbeFailure('other', 'the channel is not ready for a message'));
      return new Promise<void>((resolve, reject) => {
        const waiter: Pending = { expected: message, sequence, received: 0, resolve, reject, timer: undefined };
        waiter.timer = setTimeout(() => fail(new ProbeFailure('timeout', `no complete echo of message ${sequence} within ${timeoutMs} ms (${waiter.received} of ${message.length} bytes)`)), timeoutMs);
        pending = waiter;
        socket.write(message);
      });
    },
    close() {
      if (failure) return Promise.reject(failure);
      if (phase === 'done') return Promise.resolve();
      phase = 'closing';
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = { resolve, reject, timer: undefined };
        waiter.timer = setTimeout(() => {
          // A server that keeps the connection open after the half-close is not wrong, only done with.
          phase = 'done';
          closing = undefined;
          socket.destroy();
          resolve();
        }, Math.min(timeoutMs, CLOSE_WAIT_MAX_MS));
        closing = waiter;
        socket.end();
      });
    },
    destroy() {
      if (phase !== 'done') fail(new ProbeFailure('closed', 'the probe closed the connection'));
    },
  };

  if (phase === 'echo') return Promise.resolve(channel);
  return new Promise<Channel>((resolve, reject) => {
    const waiter: Waiter = { resolve: () => resolve(channel), reject, timer: undefined };
    waiter.timer = setTimeout(() => fail(new ProbeFailure('timeout', `no banner (${bannerLines} line${bannerLines === 1 ? '' : 's'}) within ${timeoutMs} ms`)), timeoutMs);
    opening = waiter;
  });
}
