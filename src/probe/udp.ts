// UDP targets: a connected datagram socket per channel; each message is one datagram, and its echo
// must be one datagram equal to it. Loss is a timeout, not the end of the channel: the socket stays,
// so a reply that arrives after its deadline is recognised (a stray reply) rather than taken for a
// corrupt echo of the next message.
import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Channel, ChannelFactory } from './channel.js';
import { classifyError, ProbeFailure } from './errors.js';
import { describeMismatch } from './pattern.js';

/** The largest UDP payload over IPv4 (65535 - 20 - 8). */
export const MAX_DATAGRAM_BYTES = 65_507;
/** Datagrams given up on (or answered) whose late copies are still recognised. */
const RECENT_KEPT = 16;

export interface DatagramSettings {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Called for each reply to a datagram already answered or given up on. */
  readonly onStrayReply: () => void;
  /** Resolves a host name (injected for tests; default: the system resolver). */
  readonly lookup?: (host: string) => Promise<{ address: string; family: number }>;
}

interface Pending {
  readonly expected: Buffer;
  readonly sequence: number;
  readonly resolve: () => void;
  readonly reject: (failure: ProbeFailure) => void;
  readonly timer: NodeJS.Timeout;
}

export function udpChannels({ host, port, timeoutMs, onStrayReply, lookup = (name) => dnsLookup(name) }: DatagramSettings): ChannelFactory {
  return async (slot) => {
    const family = isIP(host);
    let address = host;
    let udp6 = family === 6;
    if (family === 0) {
      try {
        const found = await lookup(host);
        address = found.address;
        udp6 = found.family === 6;
      } catch (error) {
        throw classifyError(error);
      }
    }
    const socket = createSocket(udp6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (error) => reject(classifyError(error)));
      socket.connect(port, address, () => resolve());
    }).catch((failure: unknown) => {
      socket.close();
      throw failure;
    });
    socket.removeAllListeners('error');
    return datagramChannel(socket, slot, timeoutMs, onStrayReply);
  };
}

function datagramChannel(socket: Socket, slot: number, timeoutMs: number, onStrayReply: () => void): Channel {
  let pending: Pending | undefined;
  let closed = false;
  const recent: Buffer[] = [];
  const remember = (datagram: Buffer) => {
    recent.push(datagram);
    if (recent.length > RECENT_KEPT) recent.shift();
  };
  const finish = (current: Pending) => {
    clearTimeout(current.timer);
    pending = undefined;
    remember(current.expected);
  };

  socket.on('message', (reply: Buffer) => {
    const current = pending;
    if (current && reply.equals(current.expected)) {
      finish(current);
      current.resolve();
    } else if (recent.some((datagram) => datagram.equals(reply))) {
      onStrayReply();
    } else if (current) {
      finish(current);
      const what = reply.length === current.expected.length ? 'differs from what was sent' : `is ${reply.length} bytes, not ${current.expected.length}`;
      current.reject(new ProbeFailure('mismatch', `the echo of datagram ${current.sequence} ${what}`, describeMismatch(slot, current.sequence, 0, current.expected, reply)));
    }
    // A datagram no message is waiting for and that matches none sent lately: nothing to check it against.
  });
  // ICMP port unreachable comes back as ECONNREFUSED on a connected socket, which stays usable.
  socket.on('error', (error) => {
    const current = pending;
    if (!current) return;
    finish(current);
    current.reject(classifyError(error));
  });

  function destroy(): void {
    if (closed) return;
    closed = true;
    if (pending) {
      const current = pending;
      finish(current);
      current.reject(new ProbeFailure('closed', 'the probe closed the socket'));
    }
    socket.close();
  }

  return {
    banner: undefined,
    get broken() {
      return closed;
    },
    exchange(message, sequence) {
      if (closed) return Promise.reject(new ProbeFailure('closed', 'the socket is closed'));
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (pending?.sequence !== sequence) return;
          finish(pending);
          reject(new ProbeFailure('timeout', `no echo of datagram ${sequence} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending = { expected: message, sequence, resolve, reject, timer };
        socket.send(message, (error) => {
          if (error && pending?.sequence === sequence) {
            finish(pending);
            reject(classifyError(error));
          }
        });
      });
    },
    close() {
      destroy();
      return Promise.resolve();
    },
    destroy,
  };
}
