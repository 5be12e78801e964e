// TLS targets: the client's certificate material (read and checked before the run, so a bad file
// is an argument error), and channels that do the handshake over connectTcp's connection (after
// the PROXY header, as a tls+proxy listener expects).
import { X509Certificate } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { ChannelFactory } from './channel.js';
import { ProbeArgumentError, type TlsOptions } from './args.js';
import { classifyError, ProbeFailure } from './errors.js';
import { openStreamChannel } from './stream-channel.js';
import { connectTcp, type StreamSettings } from './tcp.js';

export interface TlsClientMaterial {
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  /** Skip verifying the server's certificate (--insecure). */
  readonly insecure: boolean;
  /** The name sent as SNI and verified against the certificate; default: the target's host name (an IP address is verified as such, without SNI). */
  readonly servername: string | undefined;
}

/** Reads the files `options` names; throws a ProbeArgumentError naming the option of a file that is unreadable or not PEM of its kind. */
export function loadTlsClientMaterial(options: TlsOptions, readFile: (path: string) => Buffer): TlsClientMaterial {
  const read = (option: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return readFile(path);
    } catch (error) {
      throw new ProbeArgumentError(option, path, `cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  };
  const ca = read('--ca', options.caFile);
  const cert = read('--cert', options.certFile);
  const key = read('--key', options.keyFile);
  // createSecureContext takes a CA file without a certificate in it silently; X509Certificate reads the first.
  if (ca) checkPem('--ca', options.caFile, () => new X509Certificate(ca), 'PEM CA certificates');
  if (cert && key) checkPem('--cert', options.certFile, () => createSecureContext({ cert, key }), `a PEM certificate that matches the PEM private key in ${options.keyFile}`);
  return { ca, cert, key, insecure: options.insecure, servername: options.servername };
}

function checkPem(option: string, path: string | undefined, load: () => unknown, allowed: string): void {
  try {
    load();
  } catch (error) {
    throw new ProbeArgumentError(option, path ?? '', `${allowed} (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** Channels over TLS: connect, handshake (with a deadline), then the stream channel. */
export function tlsChannels(settings: StreamSettings, material: TlsClientMaterial): ChannelFactory {
  const servername = material.servername ?? (isIP(settings.host) ? undefined : settings.host);
  const options: ConnectionOptions = {
    host: settings.host,
    ...(servername ? { servername } : {}),
    ...(material.ca ? { ca: material.ca } : {}),
    ...(material.cert && material.key ? { cert: material.cert, key: material.key } : {}),
    rejectUnauthorized: !material.insecure,
  };
  return async (slot) => {
    const socket = await handshake(await connectTcp(settings), options, settings.timeoutMs);
    return openStreamChannel(socket, { slot, timeoutMs: settings.timeoutMs, bannerLines: settings.bannerLines });
  };
}

function handshake(raw: Socket, options: ConnectionOptions, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    raw.on('error', () => undefined); // reported by the TLS socket on top of it
    const socket = tlsConnect({ ...options, socket: raw });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProbeFailure('timeout', `no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      const failure = classifyError(error);
      // Whatever ends a connection during the handshake is the handshake's failure.
      reject(failure.kind === 'reset' || failure.kind === 'closed' || failure.kind === 'other' ? new ProbeFailure('tls_handshake', `TLS handshake: ${failure.message}`) : failure);
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
