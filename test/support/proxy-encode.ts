/**
 * Test-side PROXY header builders, written from the specification independently of the parser
 * (except ipv6TextToBytes, which the parser tests check separately).
 */
import { ipv6TextToBytes, V2_SIGNATURE } from '../../src/proxy/parse.js';

export function v1Header(protocol: 'TCP4' | 'TCP6', src: string, dst: string, srcPort: number, dstPort: number): Buffer {
  return Buffer.from(`PROXY ${protocol} ${src} ${dst} ${srcPort} ${dstPort}\r\n`, 'latin1');
}

export interface V2Spec {
  /** default 0x2 */
  version?: number;
  /** 'proxy' (1), 'local' (0) or a raw nibble */
  command?: 'proxy' | 'local' | number;
  /** the raw family/protocol byte: 0x00, 0x11 TCP4, 0x12 UDP4, 0x21 TCP6, 0x22 UDP6, 0x31 UNIX stream, 0x32 UNIX dgram */
  familyProtocol?: number;
  /** the address block as it goes on the wire */
  addresses?: Buffer;
  tlvs?: Array<{ type: number; value: Buffer }>;
  /** raw bytes after the TLVs (for malformed headers) */
  trailing?: Buffer;
  /** override the 16-bit length field */
  lengthOverride?: number;
}

export function v2Header(spec: V2Spec): Buffer {
  const command = spec.command === undefined || spec.command === 'proxy' ? 1 : spec.command === 'local' ? 0 : spec.command;
  const tlvBytes = (spec.tlvs ?? []).map(({ type, value }) => {
    const head = Buffer.alloc(3);
    head[0] = type;
    head.writeUInt16BE(value.length, 1);
    return Buffer.concat([head, value]);
  });
  const block = Buffer.concat([spec.addresses ?? Buffer.alloc(0), ...tlvBytes, spec.trailing ?? Buffer.alloc(0)]);
  const fixed = Buffer.alloc(16);
  V2_SIGNATURE.copy(fixed, 0);
  fixed[12] = ((spec.version ?? 2) << 4) | command;
  fixed[13] = spec.familyProtocol ?? 0x00;
  fixed.writeUInt16BE(spec.lengthOverride ?? block.length, 14);
  return Buffer.concat([fixed, block]);
}

export function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

export function ipv6Bytes(address: string): Buffer {
  const bytes = ipv6TextToBytes(address);
  if (!bytes) throw new Error(`not an IPv6 address: ${address}`);
  return bytes;
}

function port(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(value);
  return buffer;
}

export function inet4Block(src: string, dst: string, srcPort: number, dstPort: number): Buffer {
  return Buffer.concat([ipv4Bytes(src), ipv4Bytes(dst), port(srcPort), port(dstPort)]);
}

export function inet6Block(src: string | Buffer, dst: string | Buffer, srcPort: number, dstPort: number): Buffer {
  const bytes = (address: string | Buffer) => (typeof address === 'string' ? ipv6Bytes(address) : address);
  return Buffer.concat([bytes(src), bytes(dst), port(srcPort), port(dstPort)]);
}

export function unixBlock(src: string | Buffer, dst: string | Buffer): Buffer {
  const field = (path: string | Buffer) => {
    const out = Buffer.alloc(108);
    (typeof path === 'string' ? Buffer.from(path, 'utf8') : path).copy(out, 0, 0, 108);
    return out;
  };
  return Buffer.concat([field(src), field(dst)]);
}

// ---------------------------------------------------------------------------------------------
// TLV values (spec 2.2.x and the cloud providers' custom types)

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: slow and obviously right. */
export function crc32cReference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Fills in the CRC32C TLV of a v2 header built with `{ type: 0x03, value: Buffer.alloc(4) }`, as a
 * sender does (spec 2.2.3): the checksum of the whole header with the field zeroed. `xor` spoils it.
 */
export function withCrc32c(header: Buffer, xor = 0): Buffer {
  const out = Buffer.from(header);
  const at = crc32cValueOffset(out);
  out.fill(0, at, at + 4);
  out.writeUInt32BE((crc32cReference(out) ^ xor) >>> 0, at);
  return out;
}

/** Where the first CRC32C TLV's value sits in a v2 header with INET4/INET6 addresses. */
function crc32cValueOffset(header: Buffer): number {
  const family = (header[13] as number) >> 4;
  let offset = 16 + (family === 1 ? 12 : family === 2 ? 36 : 216);
  while (offset + 3 <= header.length) {
    const length = header.readUInt16BE(offset + 1);
    if (header[offset] === 0x03) return offset + 3;
    offset += 3 + length;
  }
  throw new Error('no CRC32C TLV in the header');
}

export function tlvBytes(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

/** PP2_TYPE_SSL's value: client flags, 32-bit verify, then sub-TLVs (type, text or raw bytes). */
export function sslValue(client: number, verify: number, subs: Array<[number, string | Buffer]> = []): Buffer {
  const fixed = Buffer.alloc(5);
  fixed[0] = client;
  fixed.writeUInt32BE(verify, 1);
  return Buffer.concat([fixed, ...subs.map(([type, value]) => tlvBytes(type, typeof value === 'string' ? Buffer.from(value, 'utf8') : value))]);
}

/** AWS 0xEA: subtype 0x01 (VPC endpoint ID) and the ID in ASCII. */
export function awsVpceValue(id: string, subtype = 0x01): Buffer {
  return Buffer.concat([Buffer.from([subtype]), Buffer.from(id, 'latin1')]);
}

/** Azure 0xEE: subtype 0x01 (Private Link LINKID) and the 32-bit ID, little-endian. */
export function azureLinkIdValue(linkId: number, subtype = 0x01): Buffer {
  const out = Buffer.alloc(5);
  out[0] = subtype;
  out.writeUInt32LE(linkId, 1);
  return out;
}

/** GCP 0xE0: the 64-bit Private Service Connect connection ID, big-endian. */
export function gcpPscValue(id: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(id);
  return out;
}
