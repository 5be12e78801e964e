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
