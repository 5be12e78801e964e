import { isIPv4 } from 'node:net';

const IPV4_MAPPED = '::ffff:';

/**
 * "address:port", "[v6 address]:port": how logs, banners and /connections write an address, the
 * same form a PROXY header's client takes (proxy/index.ts), so an IPv6 port is never read as part of
 * the address. An IPv4 client of a dual-stack socket (::ffff:a.b.c.d) is written as the IPv4 address
 * it is.
 */
export function hostPort(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return '?';
  const unmapped = address.startsWith(IPV4_MAPPED) && isIPv4(address.slice(IPV4_MAPPED.length)) ? address.slice(IPV4_MAPPED.length) : address;
  return `${unmapped.includes(':') ? `[${unmapped}]` : unmapped}:${port ?? '?'}`;
}
