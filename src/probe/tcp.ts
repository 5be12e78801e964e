// TCP targets: connect (with a deadline), send the PROXY header if asked, and hand the socket to a
// stream channel. tls.ts builds on connectTcp for the TCP connection under the handshake.
import { connect, type Socket } from 'node:net';
import type { ChannelFactory } from './channel.js';
import { classifyError, ProbeFailure } from './errors.js';
import { encodeProxyHeader, type Endpoint, type ProxyVersion } from './proxy-header.js';
import { openStreamChannel } from './stream-channel.js';

export interface ProxySettings {
  readonly version: ProxyVersion;
  /** The client the header names; default: the probe's own end of the connection. */
  readonly source: Endpoint | undefined;
  /** The address the header names as connected to; default: the target's address the connection reached. */
  readonly destination: Endpoint | undefined;
}

export interface StreamSettings {
  readonly host: string;
  readonly port: number;
  /** Deadline for the connection, the handshake, the banner and each echo. */
  readonly timeoutMs: number;
  readonly proxy: ProxySettings | undefined;
  readonly bannerLines: number;
}

/** A TCP connection to the target, the PROXY header (if any) already written; rejects with a ProbeFailure. */
export function connectTcp({ host, port, timeoutMs, proxy }: StreamSettings): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProbeFailure('timeout', `no connection to ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      reject(classifyError(error));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      if (proxy) {
        const own = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
        const reached = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? port };
        socket.write(encodeProxyHeader(proxy.version, { source: proxy.source ?? own, destination: proxy.destination ?? reached }));
      }
      resolve(socket);
    });
  });
}

/** Channels over plain TCP. */
export function tcpChannels(settings: StreamSettings): ChannelFactory {
  return async (slot) => openStreamChannel(await connectTcp(settings), { slot, timeoutMs: settings.timeoutMs, bannerLines: settings.bannerLines });
}
