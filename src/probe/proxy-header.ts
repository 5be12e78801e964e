// The PROXY protocol header (HAProxy's doc/proxy-protocol.txt) a probe sends before its first
// byte, as a load balancer would: v1 text or v2 binary, command PROXY, TCP over IPv4 or IPv6, no
// TLVs. Only well-formed headers: the parser's malformed cases are built by test/support/proxy-encode.ts.
import { isIPv4 } from 'node:net';
import { ipv6TextToBytes, V2_SIGNATURE } from '../proxy/parse.js';

export type ProxyVersion = 1 | 2;

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface ProxyEndpoints {
  /** The client the header names. */
  readonly source: Endpoint;
  /** The address the client connected to. */
  readonly destination: Endpoint;
}

const V2_VERSION_PROXY = 0x21;
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;

/** The IPv6 text of an address: IPv4 as IPv4-mapped (::ffff:a.b.c.d), IPv6 as given. */
const asIPv6 = (address: string) => (isIPv4(address) ? `::ffff:${address}` : address);

function ipv6Bytes(address: string): Buffer {
  const bytes = ipv6TextToBytes(address);
  if (!bytes) throw new Error(`not an IP address: ${address}`);
  return bytes;
}

/**
 * The header naming `endpoints`. Both IPv4: TCP4; otherwise TCP6, with an IPv4 address written
 * IPv4-mapped (the header has one family for both).
 */
export function encodeProxyHeader(version: ProxyVersion, { source, destination }: ProxyEndpoints): Buffer {
  const inet4 = isIPv4(source.address) && isIPv4(destination.address);
  const [from, to] = inet4 ? [source.address, destination.address] : [asIPv6(source.address), asIPv6(destination.address)];
  if (version === 1) return Buffer.from(`PROXY ${inet4 ? 'TCP4' : 'TCP6'} ${from} ${to} ${source.port} ${destination.port}\r\n`, 'latin1');
  const addresses = inet4 ? Buffer.from([...from.split('.'), ...to.split('.')].map(Number)) : Buffer.concat([ipv6Bytes(from), ipv6Bytes(to)]);
  const header = Buffer.alloc(16 + addresses.length + 4);
  V2_SIGNATURE.copy(header, 0);
  header[12] = V2_VERSION_PROXY;
  header[13] = inet4 ? V2_TCP4 : V2_TCP6;
  header.writeUInt16BE(addresses.length + 4, 14);
  addresses.copy(header, 16);
  header.writeUInt16BE(source.port, 16 + addresses.length);
  header.writeUInt16BE(destination.port, 18 + addresses.length);
  return header;
}
