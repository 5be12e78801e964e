/**
 * PROXY protocol v1 (text) and v2 (binary) header parser, after HAProxy's specification
 * (doc/proxy-protocol.txt). Pure: no I/O, no timers, never throws on input bytes.
 *
 * Two ways in:
 * - `parseProxyHeader(bytes)`: one call on the bytes received so far (from the first byte of the
 *   connection); answers need-more, done (with the header's length) or error.
 * - `ProxyHeaderParser#push(chunk)`: incremental, fed each chunk as it arrives; on done, `consumed`
 *   says how many bytes of *that chunk* belonged to the header: the rest is payload.
 *
 * Errors are reported as early as the bytes allow (a client that sends no header is refused at its
 * first byte), and buffering is bounded: at most 107 bytes for v1, `maxHeaderBytes` for v2.
 */
import { decodeTlvs, type ProxyTlv, type ProxyTlvDetails } from './tlv.js';

export type { ProxySslDetails, ProxyTlv, ProxyTlvDetails } from './tlv.js';

/** v1: "PROXY " ... "\r\n", at most 107 bytes in all (the spec's worst case). */
export const V1_MAX_BYTES = 107;
/** v2: the fixed part: 12-byte signature, version/command, family/protocol, 16-bit length. */
export const V2_FIXED_BYTES = 16;
/** v2: the largest header the format can express (16 + 65535). */
export const V2_FORMAT_MAX_BYTES = V2_FIXED_BYTES + 0xffff;
/**
 * v2: default bound on the whole header, TLVs included. Senders in practice (HAProxy, AWS NLB,
 * GCP, Azure) send well under 1 KiB; a bigger header is refused as `too_long`.
 */
export const DEFAULT_MAX_HEADER_BYTES = 4096;

export const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** v2 address block sizes by family (two addresses, then for INET two ports). */
const V2_INET4_BYTES = 12;
const V2_INET6_BYTES = 36;
const V2_UNIX_PATH_BYTES = 108;
const V2_UNIX_BYTES = 2 * V2_UNIX_PATH_BYTES;

export type ProxyCommand = 'proxy' | 'local';
export type ProxyTransport = 'stream' | 'dgram';

export interface InetEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface UnixEndpoint {
  /** The socket path; an abstract-namespace name is shown as '@name'. */
  readonly path: string;
}

interface HeaderBase {
  readonly version: 1 | 2;
  readonly command: ProxyCommand;
  /** Bytes the header took on the wire, from its first byte; what follows is payload. */
  readonly length: number;
  /** v2 TLVs in wire order, every type raw, known or not (always empty for v1). */
  readonly tlvs: readonly ProxyTlv[];
  /** The known TLVs decoded (tlv.ts); absent when there were none (always for v1). */
  readonly details?: ProxyTlvDetails;
}

export type ProxyHeader = HeaderBase &
  (
    | { readonly family: 'inet4' | 'inet6'; readonly transport: ProxyTransport; readonly source: InetEndpoint; readonly destination: InetEndpoint }
    | { readonly family: 'unix'; readonly transport: ProxyTransport; readonly source: UnixEndpoint; readonly destination: UnixEndpoint }
    /**
     * No addresses: v2 LOCAL (the balancer's own connection, e.g. a health check), v2 PROXY with
     * AF_UNSPEC, or v1 UNKNOWN. The receiver uses the connection's real endpoints.
     */
    | { readonly family: 'unspec'; readonly transport: undefined; readonly source: undefined; readonly destination: undefined }
  );

export type ProxyParseErrorReason =
  /** Neither "PROXY " nor the v2 signature: not a PROXY protocol header at all. */
  | 'bad_signature'
  /** v2 version nibble other than 2. */
  | 'bad_version'
  /** v2 command nibble other than LOCAL (0) or PROXY (1). */
  | 'bad_command'
  /** v2 family/protocol byte outside the specified values, or a v1 protocol other than TCP4/TCP6/UNKNOWN. */
  | 'bad_family'
  /** v2 length shorter than the address block the family requires. */
  | 'truncated'
  /** v1 without CRLF within 107 bytes, or v2 beyond the configured bound. */
  | 'too_long'
  /** An address that is not valid for its family. */
  | 'invalid_address'
  /** A v1 port that is not a decimal in 0..65535. */
  | 'invalid_port'
  /** A v2 TLV (or SSL sub-TLV) that does not fit in its container, or a known TLV of an impossible length. */
  | 'invalid_tlv'
  /** A v2 CRC32C TLV whose checksum does not match the header. */
  | 'bad_checksum'
  /** v1 syntax: wrong field count, spacing, characters or line ending. */
  | 'malformed';

export type ProxyParseResult =
  | { readonly status: 'need_more' }
  | {
      readonly status: 'done';
      readonly header: ProxyHeader;
      /**
       * Bytes of the input that belong to the header. For `parseProxyHeader` this is the header's
       * length; for `ProxyHeaderParser#push` it is the count within the chunk just pushed.
       */
      readonly consumed: number;
    }
  | { readonly status: 'error'; readonly reason: ProxyParseErrorReason; readonly message: string };

export interface ProxyParseOptions {
  /** Bound on a v2 header, TLVs included (16..65551; default 4096). v1 is always bounded by 107. */
  readonly maxHeaderBytes?: number;
}

const NEED_MORE: ProxyParseResult = Object.freeze({ status: 'need_more' });

function fail(reason: ProxyParseErrorReason, message: string): ProxyParseResult {
  return { status: 'error', reason, message };
}

function resolveMax(options: ProxyParseOptions | undefined): number {
  const max = options?.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isInteger(max) || max < V2_FIXED_BYTES || max > V2_FORMAT_MAX_BYTES) {
    throw new RangeError(`maxHeaderBytes must be an integer in ${V2_FIXED_BYTES}..${V2_FORMAT_MAX_BYTES}, got ${max}`);
  }
  return max;
}

/**
 * Parses a PROXY protocol header from the start of `bytes` (everything the connection has
 * received so far). Never throws on any input.
 */
export function parseProxyHeader(bytes: Uint8Array, options?: ProxyParseOptions): ProxyParseResult {
  return parseWithMax(bytes, resolveMax(options));
}

function parseWithMax(bytes: Uint8Array, maxHeaderBytes: number): ProxyParseResult {
  if (bytes.length === 0) return NEED_MORE;
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes, maxHeaderBytes);
  return fail('bad_signature', 'not a PROXY protocol header');
}

// ---------------------------------------------------------------------------------------------
// v1

const CR = 0x0d;
const LF = 0x0a;

function parseV1(bytes: Uint8Array): ProxyParseResult {
  const prefixLength = Math.min(bytes.length, V1_PREFIX.length);
  for (let i = 0; i < prefixLength; i++) {
    if (bytes[i] !== V1_PREFIX[i]) return fail('bad_signature', 'not a PROXY protocol header');
  }
  const scan = Math.min(bytes.length, V1_MAX_BYTES);
  let lf = -1;
  for (let i = V1_PREFIX.length; i < scan; i++) {
    const byte = bytes[i] as number;
    if (byte === LF) {
      lf = i;
      break;
    }
    // Printable ASCII only; a CR is allowed only as the last byte before LF.
    if (byte === CR) {
      if (i + 1 < scan && bytes[i + 1] !== LF) return fail('malformed', 'v1: CR not followed by LF');
    } else if (byte < 0x20 || byte > 0x7e) {
      return fail('malformed', 'v1: non-printable byte in header');
    }
  }
  if (lf < 0) {
    return bytes.length >= V1_MAX_BYTES ? fail('too_long', `v1: no CRLF within ${V1_MAX_BYTES} bytes`) : NEED_MORE;
  }
  if (bytes[lf - 1] !== CR) return fail('malformed', 'v1: line must end with CRLF');
  const line = Buffer.from(bytes.buffer, bytes.byteOffset + V1_PREFIX.length, lf - 1 - V1_PREFIX.length).toString('latin1');
  return parseV1Line(line, lf + 1);
}

const V1_PORT = /^[0-9]{1,5}$/;

function parseV1Port(text: string): number | undefined {
  if (!V1_PORT.test(text)) return undefined;
  const port = Number(text);
  return port <= 0xffff ? port : undefined;
}

function parseV1Line(line: string, length: number): ProxyParseResult {
  const fields = line.split(' ');
  const protocol = fields[0] ?? '';
  if (protocol === 'UNKNOWN') {
    // "the receiver must ignore anything presented before the CRLF" (spec 2.1)
    return { status: 'done', consumed: length, header: { version: 1, command: 'proxy', length, tlvs: [], family: 'unspec', transport: undefined, source: undefined, destination: undefined } };
  }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    return protocol === '' ? fail('malformed', 'v1: missing protocol') : fail('bad_family', 'v1: protocol must be TCP4, TCP6 or UNKNOWN');
  }
  if (fields.length !== 5 || fields.some((field) => field === '')) return fail('malformed', 'v1: expected "PROXY TCP4|TCP6 src dst sport dport"');
  const [, srcAddress, dstAddress, srcPortText, dstPortText] = fields as [string, string, string, string, string];
  const family = protocol === 'TCP4' ? 'inet4' : 'inet6';
  const isValid = family === 'inet4' ? isIPv4Text : isIPv6Text;
  if (!isValid(srcAddress) || !isValid(dstAddress)) return fail('invalid_address', `v1: invalid ${protocol} address`);
  const srcPort = parseV1Port(srcPortText);
  const dstPort = parseV1Port(dstPortText);
  if (srcPort === undefined || dstPort === undefined) return fail('invalid_port', 'v1: port must be a decimal in 0..65535');
  return {
    status: 'done',
    consumed: length,
    header: {
      version: 1,
      command: 'proxy',
      length,
      tlvs: [],
      family,
      transport: 'stream',
      source: { address: family === 'inet6' ? canonicalIPv6(srcAddress) : srcAddress, port: srcPort },
      destination: { address: family === 'inet6' ? canonicalIPv6(dstAddress) : dstAddress, port: dstPort },
    },
  };
}

// Dotted quad, each part 0..255 without leading zeros (inet_pton's rules, which HAProxy uses).
const IPV4_PART = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const IPV4 = new RegExp(`^${IPV4_PART}(?:\\.${IPV4_PART}){3}$`);

function isIPv4Text(text: string): boolean {
  return IPV4.test(text);
}

/** The 16 bytes of an IPv6 text address (inet_pton rules: hex groups, one '::', optional trailing dotted quad), or undefined. */
export function ipv6TextToBytes(text: string): Buffer | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  let head = text;
  let v4: string | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) >= 0) {
    v4 = text.slice(lastColon + 1);
    if (!isIPv4Text(v4)) return undefined;
    head = text.slice(0, lastColon + 1);
    // "…:a.b.c.d": keep a trailing "::" whole, drop a single trailing ':'
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsWanted = v4 === undefined ? 8 : 6;
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups: number[] = [];
    for (const group of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
      groups.push(parseInt(group, 16));
    }
    return groups;
  };
  const left = parseGroups(halves[0] ?? '');
  const right = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = groupsWanted - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    if (left.length !== groupsWanted) return undefined;
    groups = left;
  }
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(group, i * 2));
  if (v4 !== undefined) v4.split('.').forEach((part, i) => (out[12 + i] = Number(part)));
  return out;
}

function isIPv6Text(text: string): boolean {
  return ipv6TextToBytes(text) !== undefined;
}

function canonicalIPv6(text: string): string {
  return formatIPv6(ipv6TextToBytes(text) as Buffer, 0);
}

// ---------------------------------------------------------------------------------------------
// v2

function parseV2(bytes: Uint8Array, maxHeaderBytes: number): ProxyParseResult {
  const signatureLength = Math.min(bytes.length, V2_SIGNATURE.length);
  for (let i = 0; i < signatureLength; i++) {
    if (bytes[i] !== V2_SIGNATURE[i]) return fail('bad_signature', 'not a PROXY protocol header');
  }
  if (bytes.length <= 12) return NEED_MORE;
  const versionCommand = bytes[12] as number;
  if (versionCommand >> 4 !== 2) return fail('bad_version', `v2: version ${versionCommand >> 4} (expected 2)`);
  const commandBits = versionCommand & 0x0f;
  if (commandBits > 1) return fail('bad_command', `v2: command ${commandBits} (expected LOCAL 0 or PROXY 1)`);
  const command: ProxyCommand = commandBits === 0 ? 'local' : 'proxy';
  if (bytes.length <= 13) return NEED_MORE;
  const familyProtocol = bytes[13] as number;
  const familyBits = familyProtocol >> 4;
  const protocolBits = familyProtocol & 0x0f;
  // LOCAL: "the receiver must ... discard the protocol block including the family which is ignored."
  if (command === 'proxy' && familyProtocol !== 0x00 && (familyBits < 1 || familyBits > 3 || protocolBits < 1 || protocolBits > 2)) {
    return fail('bad_family', `v2: family/protocol 0x${familyProtocol.toString(16).padStart(2, '0')} is not specified`);
  }
  if (bytes.length < V2_FIXED_BYTES) return NEED_MORE;
  const blockLength = ((bytes[14] as number) << 8) | (bytes[15] as number);
  const length = V2_FIXED_BYTES + blockLength;
  if (length > maxHeaderBytes) return fail('too_long', `v2: header of ${length} bytes exceeds the bound of ${maxHeaderBytes}`);
  const addressBytes = command === 'local' ? 0 : familyBits === 1 ? V2_INET4_BYTES : familyBits === 2 ? V2_INET6_BYTES : familyBits === 3 ? V2_UNIX_BYTES : 0;
  if (blockLength < addressBytes) return fail('truncated', `v2: ${blockLength} bytes of addresses, the family needs ${addressBytes}`);
  if (bytes.length < length) return NEED_MORE;

  const view = Buffer.from(bytes.buffer, bytes.byteOffset, length);
  let tlvs: ProxyTlv[] = [];
  let details: ProxyTlvDetails | undefined;
  // TLVs follow the addresses; for LOCAL (family ignored) and AF_UNSPEC the whole block is skipped.
  // Reached once per header: only once all of its bytes are in.
  if (command === 'proxy' && familyBits !== 0) {
    const decoded = decodeTlvs(view, V2_FIXED_BYTES + addressBytes);
    if (!decoded.ok) return fail(decoded.reason, decoded.message);
    ({ tlvs, details } = decoded);
  }
  const base = { version: 2 as const, command, length, tlvs, ...(details ? { details } : {}) };
  const done = (header: ProxyHeader): ProxyParseResult => ({ status: 'done', consumed: length, header });
  if (command === 'local' || familyBits === 0) {
    return done({ ...base, family: 'unspec', transport: undefined, source: undefined, destination: undefined });
  }
  const transport: ProxyTransport = protocolBits === 1 ? 'stream' : 'dgram';
  const at = V2_FIXED_BYTES;
  if (familyBits === 1) {
    return done({
      ...base,
      family: 'inet4',
      transport,
      source: { address: formatIPv4(view, at), port: view.readUInt16BE(at + 8) },
      destination: { address: formatIPv4(view, at + 4), port: view.readUInt16BE(at + 10) },
    });
  }
  if (familyBits === 2) {
    return done({
      ...base,
      family: 'inet6',
      transport,
      source: { address: formatIPv6(view, at), port: view.readUInt16BE(at + 32) },
      destination: { address: formatIPv6(view, at + 16), port: view.readUInt16BE(at + 34) },
    });
  }
  return done({
    ...base,
    family: 'unix',
    transport,
    source: { path: unixPath(view, at) },
    destination: { path: unixPath(view, at + V2_UNIX_PATH_BYTES) },
  });
}

function formatIPv4(bytes: Buffer, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/**
 * RFC 5952 text of 16 bytes: lowercase, no leading zeros, the longest run (>= 2) of zero groups as
 * '::' (the first if tied), and IPv4-mapped addresses as ::ffff:a.b.c.d (as Node reports them).
 */
export function formatIPv6(bytes: Uint8Array, at = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[at + 2 * i] as number) << 8) | (bytes[at + 2 * i + 1] as number));
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[at + 12]}.${bytes[at + 13]}.${bytes[at + 14]}.${bytes[at + 15]}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((group) => group.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

function unixPath(bytes: Buffer, at: number): string {
  const field = bytes.subarray(at, at + V2_UNIX_PATH_BYTES);
  if (field[0] === 0) {
    // Linux abstract namespace: a leading NUL, the name in the rest (NUL padded here).
    let end = field.length;
    while (end > 1 && field[end - 1] === 0) end--;
    return end > 1 ? `@${field.subarray(1, end).toString('utf8')}` : '';
  }
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// incremental

/**
 * Incremental parser for one connection. Feed every chunk in arrival order until the answer is
 * `done` or `error`; pushing after that is a programming error and throws.
 *
 * It copies at most the header's bytes (v1: 107, v2: 16 + its length, within `maxHeaderBytes`),
 * never the payload behind it beyond that bound.
 */
export class ProxyHeaderParser {
  private readonly maxHeaderBytes: number;
  private buffer = Buffer.alloc(V1_MAX_BYTES);
  private filled = 0;
  private finished = false;

  constructor(options?: ProxyParseOptions) {
    this.maxHeaderBytes = resolveMax(options);
  }

  /** Bytes buffered so far (part of a header not yet complete). */
  get bufferedBytes(): number {
    return this.filled;
  }

  push(chunk: Uint8Array): ProxyParseResult {
    if (this.finished) throw new Error('ProxyHeaderParser: push() after the header was complete or rejected');
    const startFilled = this.filled;
    let offset = 0;
    for (;;) {
      const want = this.wanted();
      if (want > this.buffer.length) {
        const bigger = Buffer.alloc(want);
        this.buffer.copy(bigger, 0, 0, this.filled);
        this.buffer = bigger;
      }
      const take = Math.min(chunk.length - offset, want - this.filled);
      if (take > 0) {
        this.buffer.set(chunk.subarray(offset, offset + take), this.filled);
        this.filled += take;
        offset += take;
      }
      const result = parseWithMax(this.buffer.subarray(0, this.filled), this.maxHeaderBytes);
      if (result.status === 'need_more') {
        if (offset < chunk.length) continue; // stopped at a boundary (v2 fixed part): read on
        return result;
      }
      this.finished = true;
      if (result.status === 'error') return result;
      return { status: 'done', header: result.header, consumed: result.header.length - startFilled };
    }
  }

  /** How many bytes the buffer should hold before the next parse. */
  private wanted(): number {
    if (this.filled === 0) return 1;
    if (this.buffer[0] !== V2_SIGNATURE[0]) return V1_MAX_BYTES;
    if (this.filled < V2_FIXED_BYTES) return V2_FIXED_BYTES;
    return V2_FIXED_BYTES + this.buffer.readUInt16BE(14);
  }
}
