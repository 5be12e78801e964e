export {
  DEFAULT_MAX_HEADER_BYTES,
  parseProxyHeader,
  ProxyHeaderParser,
  type InetEndpoint,
  type ProxyHeader,
  type ProxyParseErrorReason,
  type ProxyParseOptions,
  type ProxyParseResult,
  type ProxySslDetails,
  type ProxyTlv,
  type ProxyTlvDetails,
  type UnixEndpoint,
} from './parse.js';
export {
  ProxyProtocolError,
  readProxyHeader,
  type ProxyHeaderRead,
  type ProxyProtocolErrorReason,
  type ReadProxyHeaderOptions,
} from './read-header.js';

import type { ProxyHeader } from './parse.js';

/**
 * The client a header names, in the form the echo logs use for `remote` ("address:port", "[v6 address]:port",
 * or "unix:path"); undefined when the header names none (v2 LOCAL, AF_UNSPEC, v1 UNKNOWN), in which
 * case the socket's own peer is the client.
 */
export function proxiedRemote(header: ProxyHeader): string | undefined {
  switch (header.family) {
    case 'inet4':
      return `${header.source.address}:${header.source.port}`;
    case 'inet6':
      return `[${header.source.address}]:${header.source.port}`;
    case 'unix':
      return `unix:${header.source.path}`;
    default:
      return undefined;
  }
}
