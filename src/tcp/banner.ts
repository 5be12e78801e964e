// The optional banner: one line sent on connect, so a client behind a load balancer can see which
// replica answered (and what the balancer told it about the client). Off by default: with it the
// stream is no longer a pure echo.
import { hostname } from 'node:os';
import type { ProxyTlvDetails } from '../proxy/index.js';

export interface BannerContext {
  readonly listener: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly hostname?: string;
}

/** The banner line for one client: its address, and the PROXY v2 details where a header had them. */
export type BannerRenderer = (client: string, proxy?: ProxyTlvDetails) => Buffer;

/** The most characters one per-connection value adds to the line (a unique ID is at most 128 bytes, a host name 253). */
export const BANNER_VALUE_MAX_CHARS = 255;

type PerConnection = (client: string, proxy: ProxyTlvDetails | undefined) => string | number | undefined;

/** Placeholders filled per connection; the proxy_* ones are empty when the header had no such TLV. */
const PER_CONNECTION: Readonly<Record<string, PerConnection>> = {
  client_addr: (client) => client,
  proxy_authority: (_, proxy) => proxy?.authority,
  proxy_alpn: (_, proxy) => proxy?.alpn,
  proxy_unique_id: (_, proxy) => proxy?.uniqueId,
  proxy_ssl_version: (_, proxy) => proxy?.ssl?.version,
  proxy_ssl_cn: (_, proxy) => proxy?.ssl?.cn,
  proxy_ssl_cipher: (_, proxy) => proxy?.ssl?.cipher,
  proxy_aws_vpce_id: (_, proxy) => proxy?.awsVpceId,
  proxy_azure_link_id: (_, proxy) => proxy?.azureLinkId,
  proxy_gcp_psc_id: (_, proxy) => proxy?.gcpPscConnectionId,
};

const PLACEHOLDER = new RegExp(`\\{(hostname|listener|pod_name|pod_namespace|env:[A-Za-z_][A-Za-z0-9_]*|${Object.keys(PER_CONNECTION).join('|')})\\}`, 'g');
const NOT_PRINTABLE = /[^\x20-\x7e]/g;

/**
 * A per-connection value as it may go into the line: printable ASCII only (anything else, CR and LF
 * among it, becomes '?'), at most BANNER_VALUE_MAX_CHARS, so a client cannot add lines or make the
 * banner big.
 */
export function bannerValue(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = typeof value === 'string' ? value : String(value);
  return (text.length > BANNER_VALUE_MAX_CHARS ? text.slice(0, BANNER_VALUE_MAX_CHARS) : text).replace(NOT_PRINTABLE, '?');
}

/**
 * Compiles a template once: `{hostname}`, `{listener}`, `{pod_name}`, `{pod_namespace}` and
 * `{env:NAME}` are filled in now; `{client_addr}` and the `{proxy_*}` placeholders per connection,
 * by joining the fixed pieces with the connection's values. Unknown placeholders stay as written.
 */
export function compileBanner(template: string, context: BannerContext): BannerRenderer {
  const fixedValue = (name: string): string => {
    if (name === 'hostname') return context.hostname ?? hostname();
    if (name === 'listener') return context.listener;
    if (name === 'pod_name') return context.env.POD_NAME ?? '';
    if (name === 'pod_namespace') return context.env.POD_NAMESPACE ?? '';
    return context.env[name.slice(4)] ?? '';
  };
  // pieces[0] slots[0] pieces[1] slots[1] ... pieces[n]
  const pieces: string[] = [];
  const slots: PerConnection[] = [];
  let piece = '';
  let from = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1] as string;
    piece += template.slice(from, match.index);
    from = match.index + match[0].length;
    const slot = PER_CONNECTION[name];
    if (slot) {
      pieces.push(piece);
      slots.push(slot);
      piece = '';
    } else {
      piece += fixedValue(name);
    }
  }
  pieces.push(`${piece}${template.slice(from)}\n`);
  if (slots.length === 0) {
    const line = Buffer.from(pieces[0] as string);
    return () => line;
  }
  return (client, proxy) => {
    let line = pieces[0] as string;
    for (let i = 0; i < slots.length; i++) line += bannerValue((slots[i] as PerConnection)(client, proxy)) + (pieces[i + 1] as string);
    return Buffer.from(line);
  };
}
