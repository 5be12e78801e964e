/**
 * PROXY protocol v2 TLVs: split, length-checked and decoded, once per header (never per chunk).
 *
 * Standard types after HAProxy's specification (doc/proxy-protocol.txt, 2.2.1-2.2.7); cloud types
 * after the providers' documentation: AWS 0xEA (VPC endpoint ID), Azure 0xEE (Private Link
 * LINKID), GCP 0xE0 (Private Service Connect connection ID).
 *
 * Strict where the specification is: a TLV or SSL sub-TLV that runs past its container, a CRC32C
 * that is not 4 bytes or does not match, an SSL TLV shorter than its fixed part or a UNIQUE_ID over
 * 128 bytes make the whole header invalid. The cloud types sit in the range the specification
 * reserves for any application's own data (0xE0-0xEF), so one that does not have the provider's
 * shape may be someone else's: it is not decoded, only kept raw, and does not refuse the header.
 */
import { crc32c } from '@node-rs/crc32';

export const PP2_TYPE_ALPN = 0x01;
export const PP2_TYPE_AUTHORITY = 0x02;
export const PP2_TYPE_CRC32C = 0x03;
export const PP2_TYPE_NOOP = 0x04;
export const PP2_TYPE_UNIQUE_ID = 0x05;
export const PP2_TYPE_SSL = 0x20;
export const PP2_SUBTYPE_SSL_VERSION = 0x21;
export const PP2_SUBTYPE_SSL_CN = 0x22;
export const PP2_SUBTYPE_SSL_CIPHER = 0x23;
export const PP2_SUBTYPE_SSL_SIG_ALG = 0x24;
export const PP2_SUBTYPE_SSL_KEY_ALG = 0x25;
export const PP2_TYPE_NETNS = 0x30;
export const PP2_TYPE_GCP = 0xe0;
export const PP2_TYPE_AWS = 0xea;
export const PP2_SUBTYPE_AWS_VPCE_ID = 0x01;
export const PP2_TYPE_AZURE = 0xee;
export const PP2_SUBTYPE_AZURE_PRIVATEENDPOINT_LINKID = 0x01;

export const PP2_CLIENT_SSL = 0x01;
export const PP2_CLIENT_CERT_CONN = 0x02;
export const PP2_CLIENT_CERT_SESS = 0x04;

/** The specification's bound on PP2_TYPE_UNIQUE_ID. */
export const UNIQUE_ID_MAX_BYTES = 128;
/** pp2_tlv_ssl's fixed part: the client flags byte and the 32-bit verify result. */
const SSL_FIXED_BYTES = 5;
const TLV_HEAD_BYTES = 3;

/** A v2 Type-Length-Value extension (PP2_TYPE_*) as it came on the wire. */
export interface ProxyTlv {
  readonly type: number;
  readonly value: Buffer;
}

/** PP2_TYPE_SSL: what the balancer saw of the client's TLS connection. */
export interface ProxySslDetails {
  /** PP2_CLIENT_SSL: the client connected over SSL/TLS. */
  readonly clientSsl: boolean;
  /** PP2_CLIENT_CERT_CONN: the client presented a certificate on this connection. */
  readonly clientCertConnection: boolean;
  /** PP2_CLIENT_CERT_SESS: the client presented a certificate at least once in this TLS session. */
  readonly clientCertSession: boolean;
  /** 0 if the client presented a certificate and it was verified; non-zero otherwise. */
  readonly verify: number;
  /** PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3". */
  readonly version?: string;
  /** PP2_SUBTYPE_SSL_CN: the client certificate's subject Common Name. */
  readonly cn?: string;
  /** PP2_SUBTYPE_SSL_CIPHER, e.g. "TLS_AES_256_GCM_SHA384". */
  readonly cipher?: string;
  /** PP2_SUBTYPE_SSL_SIG_ALG: signature algorithm of the balancer's own certificate, e.g. "SHA256". */
  readonly sigAlg?: string;
  /** PP2_SUBTYPE_SSL_KEY_ALG: key algorithm of the balancer's own certificate, e.g. "RSA2048". */
  readonly keyAlg?: string;
}

/**
 * The TLVs of a v2 header that this service understands, decoded; only those present are set (the
 * first of a type wins). Opaque byte strings (ALPN, UNIQUE_ID) are text when every byte is printable
 * ASCII, else "0x" and their hex.
 */
export interface ProxyTlvDetails {
  /** PP2_TYPE_ALPN: the protocol negotiated with the client, e.g. "h2". */
  readonly alpn?: string;
  /** PP2_TYPE_AUTHORITY: the host name the client asked for (its TLS SNI). */
  readonly authority?: string;
  /** PP2_TYPE_CRC32C was present and matched (a header whose checksum does not match is refused). */
  readonly crc32c?: true;
  /** PP2_TYPE_UNIQUE_ID: the balancer's ID for this connection. */
  readonly uniqueId?: string;
  readonly ssl?: ProxySslDetails;
  /** PP2_TYPE_NETNS: the network namespace the balancer accepted the connection in. */
  readonly netns?: string;
  /** AWS (0xEA, subtype 0x01): the VPC endpoint ID, e.g. "vpce-08d2bf15fac5001c9". */
  readonly awsVpceId?: string;
  /** Azure (0xEE, subtype 0x01): the Private Link LINKID, a 32-bit number. */
  readonly azureLinkId?: number;
  /** GCP (0xE0): the Private Service Connect connection ID, a 64-bit number in decimal. */
  readonly gcpPscConnectionId?: string;
}

export type TlvDecodeResult =
  | { readonly ok: true; readonly tlvs: ProxyTlv[]; readonly details: ProxyTlvDetails | undefined }
  | { readonly ok: false; readonly reason: 'invalid_tlv' | 'bad_checksum'; readonly message: string };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const hex = (type: number) => `0x${type.toString(16).padStart(2, '0')}`;
const invalid = (message: string): TlvDecodeResult => ({ ok: false, reason: 'invalid_tlv', message: `v2: ${message}` });

function isPrintableAscii(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (byte < 0x20 || byte > 0x7e) return false;
  }
  return true;
}

/** An opaque byte string for people: as text when it is printable ASCII, else as hex. */
function opaque(bytes: Buffer): string {
  return isPrintableAscii(bytes) ? bytes.toString('latin1') : `0x${bytes.toString('hex')}`;
}

const ZERO_CRC = Buffer.alloc(4);

/**
 * Splits the TLVs in `header[start..]` (`header` is exactly the whole v2 header, fixed part
 * included), checks them and decodes the known ones; verifies a CRC32C over the whole header.
 */
export function decodeTlvs(header: Buffer, start: number): TlvDecodeResult {
  const end = header.length;
  const tlvs: ProxyTlv[] = [];
  const details: Mutable<ProxyTlvDetails> = {};
  let decoded = false;
  let crcAt = -1;
  for (let offset = start; offset < end; ) {
    if (offset + TLV_HEAD_BYTES > end) return invalid('TLV header runs past the end of the header');
    const type = header[offset] as number;
    const valueLength = header.readUInt16BE(offset + 1);
    const valueAt = offset + TLV_HEAD_BYTES;
    const next = valueAt + valueLength;
    if (next > end) return invalid(`TLV ${hex(type)} of ${valueLength} bytes runs past the end of the header`);
    const value = header.subarray(valueAt, next);
    // A copy: the parser's buffer is reused, and a connection keeps its header for its lifetime.
    tlvs.push({ type, value: Buffer.from(value) });
    offset = next;
    switch (type) {
      case PP2_TYPE_ALPN:
        details.alpn ??= opaque(value);
        break;
      case PP2_TYPE_AUTHORITY:
        details.authority ??= value.toString('utf8');
        break;
      case PP2_TYPE_CRC32C:
        if (valueLength !== 4) return invalid(`CRC32C TLV of ${valueLength} bytes (must be 4)`);
        if (crcAt >= 0) return invalid('more than one CRC32C TLV');
        crcAt = valueAt;
        break;
      case PP2_TYPE_NOOP:
        continue;
      case PP2_TYPE_UNIQUE_ID:
        if (valueLength > UNIQUE_ID_MAX_BYTES) return invalid(`UNIQUE_ID TLV of ${valueLength} bytes (at most ${UNIQUE_ID_MAX_BYTES})`);
        details.uniqueId ??= opaque(value);
        break;
      case PP2_TYPE_SSL: {
        const ssl = decodeSsl(value);
        if (typeof ssl === 'string') return invalid(ssl);
        details.ssl ??= ssl;
        break;
      }
      case PP2_TYPE_NETNS:
        details.netns ??= value.toString('latin1');
        break;
      case PP2_TYPE_AWS:
        if (valueLength >= 1 && value[0] === PP2_SUBTYPE_AWS_VPCE_ID) details.awsVpceId ??= value.toString('latin1', 1);
        else continue;
        break;
      case PP2_TYPE_AZURE:
        if (valueLength === 5 && value[0] === PP2_SUBTYPE_AZURE_PRIVATEENDPOINT_LINKID) details.azureLinkId ??= value.readUInt32LE(1);
        else continue;
        break;
      case PP2_TYPE_GCP:
        if (valueLength === 8) details.gcpPscConnectionId ??= value.readBigUInt64BE(0).toString();
        else continue;
        break;
      default:
        continue; // kept raw only
    }
    decoded = true;
  }
  if (crcAt >= 0) {
    // The checksum of the whole header with its own 4 bytes taken as zeros (spec 2.2.3), without
    // copying or touching the header.
    const received = header.readUInt32BE(crcAt);
    const computed = crc32c(header.subarray(crcAt + 4), crc32c(ZERO_CRC, crc32c(header.subarray(0, crcAt))));
    if (computed !== received) return { ok: false, reason: 'bad_checksum', message: `v2: CRC32C mismatch (header says ${received.toString(16).padStart(8, '0')}, computed ${computed.toString(16).padStart(8, '0')})` };
    details.crc32c = true;
  }
  return { ok: true, tlvs, details: decoded ? details : undefined };
}

/** pp2_tlv_ssl: client flags, verify result, then sub-TLVs filling the rest exactly; a string is the problem. */
function decodeSsl(value: Buffer): ProxySslDetails | string {
  if (value.length < SSL_FIXED_BYTES) return `SSL TLV of ${value.length} bytes (at least ${SSL_FIXED_BYTES})`;
  const client = value[0] as number;
  const ssl: Mutable<ProxySslDetails> = {
    clientSsl: (client & PP2_CLIENT_SSL) !== 0,
    clientCertConnection: (client & PP2_CLIENT_CERT_CONN) !== 0,
    clientCertSession: (client & PP2_CLIENT_CERT_SESS) !== 0,
    verify: value.readUInt32BE(1),
  };
  for (let offset = SSL_FIXED_BYTES; offset < value.length; ) {
    if (offset + TLV_HEAD_BYTES > value.length) return 'SSL sub-TLV header runs past the end of the SSL TLV';
    const type = value[offset] as number;
    const valueLength = value.readUInt16BE(offset + 1);
    const at = offset + TLV_HEAD_BYTES;
    const next = at + valueLength;
    if (next > value.length) return `SSL sub-TLV ${hex(type)} of ${valueLength} bytes runs past the end of the SSL TLV`;
    offset = next;
    switch (type) {
      case PP2_SUBTYPE_SSL_VERSION:
        ssl.version ??= value.toString('latin1', at, next);
        break;
      case PP2_SUBTYPE_SSL_CN:
        ssl.cn ??= value.toString('utf8', at, next);
        break;
      case PP2_SUBTYPE_SSL_CIPHER:
        ssl.cipher ??= value.toString('latin1', at, next);
        break;
      case PP2_SUBTYPE_SSL_SIG_ALG:
        ssl.sigAlg ??= value.toString('latin1', at, next);
        break;
      case PP2_SUBTYPE_SSL_KEY_ALG:
        ssl.keyAlg ??= value.toString('latin1', at, next);
        break;
      default:
        break; // newer sub-types stay in the raw SSL TLV
    }
  }
  return ssl;
}
