// What a view of open connections shows about one socket, read when someone asks: never on the echo path.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { hostPort } from '../listeners/host-port.js';
import { acceptedSocketOf } from '../tls/accepted-socket.js';

export interface TlsView {
  readonly protocol: string | null;
  readonly cipher: string | null;
  /** The SNI name the client sent, or null. */
  readonly servername: string | null;
  /** The ALPN protocol agreed, or null. */
  readonly alpn: string | null;
  /** The client certificate's subject ("CN=...,O=..."), or null when the client sent none. */
  readonly clientCertificate: string | null;
}

export interface SocketView {
  /** The socket's peer: the client, or the load balancer in front of a PROXY listener. */
  readonly peer: string;
  readonly local: string;
  readonly tls?: TlsView;
}

export function viewSocket(socket: Socket): SocketView {
  // A TLS socket over an accepted one (tls listeners) reads its addresses from the socket under it.
  const tcp = acceptedSocketOf(socket) ?? socket;
  const addresses = { peer: hostPort(tcp.remoteAddress, tcp.remotePort), local: hostPort(tcp.localAddress, tcp.localPort) };
  return socket instanceof TLSSocket ? { ...addresses, tls: viewTls(socket) } : addresses;
}

function viewTls(socket: TLSSocket): TlsView {
  const certificate = socket.getPeerCertificate();
  const subject = certificate && Object.keys(certificate).length > 0 ? certificate.subject : undefined;
  const servername = (socket as TLSSocket & { servername?: string | false }).servername;
  return {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher()?.name ?? null,
    servername: typeof servername === 'string' ? servername : null,
    alpn: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null,
    clientCertificate: subject ? Object.entries(subject).map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : String(value)}`).join(',') : null,
  };
}
