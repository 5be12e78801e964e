// PROXY v2 TLVs: every standard type and the cloud ones decoded from hand-built headers, lengths
// checked strictly, CRC32C verified over the whole header (spec 2.2.x).
import { describe, expect, it } from 'vitest';
import { crc32c } from '@node-rs/crc32';
import { parseProxyHeader, ProxyHeaderParser, type ProxyParseResult } from '../../../src/proxy/parse.js';
import { UNIQUE_ID_MAX_BYTES, type ProxyTlvDetails } from '../../../src/proxy/tlv.js';
import { awsVpceValue, azureLinkIdValue, crc32cReference, gcpPscValue, inet4Block, inet6Block, sslValue, tlvBytes, v2Header, withCrc32c } from '../../support/proxy-encode.js';

const ADDRESSES = inet4Block('203.0.113.7', '10.0.0.1', 51000, 7000);
const PAYLOAD = Buffer.from('payload\r\n');

type Tlv = { type: number; value: Buffer };

function header(tlvs: Tlv[], familyProtocol = 0x11): Buffer {
  return v2Header({ familyProtocol, addresses: familyProtocol >> 4 === 2 ? inet6Block('2001:db8::7', '::1', 51000, 7000) : ADDRESSES, tlvs });
}

function done(result: ProxyParseResult) {
  if (result.status !== 'done') throw new Error(`expected done, got ${JSON.stringify(result)}`);
  return result;
}

function refused(result: ProxyParseResult) {
  if (result.status !== 'error') throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result;
}

/** The decoded details of a header with these TLVs (whole, and the same fed one byte at a time). */
function details(tlvs: Tlv[]): ProxyTlvDetails | undefined {
  const bytes = header(tlvs);
  const whole = done(parseProxyHeader(Buffer.concat([bytes, PAYLOAD])));
  expect(whole.consumed).toBe(bytes.length);
  expect(whole.header.tlvs).toEqual(tlvs); // every TLV kept raw too, in wire order
  const parser = new ProxyHeaderParser();
  let last: ProxyParseResult = { status: 'need_more' };
  for (const byte of bytes) last = parser.push(Buffer.from([byte]));
  expect(done(last).header).toEqual(whole.header);
  return whole.header.details;
}

const ascii = (text: string) => Buffer.from(text, 'latin1');

describe('standard TLVs (spec 2.2.1-2.2.7)', () => {
  it('ALPN 0x01: the negotiated protocol', () => {
    expect(details([{ type: 0x01, value: ascii('h2') }])).toEqual({ alpn: 'h2' });
  });

  it('AUTHORITY 0x02: the host name, UTF-8', () => {
    expect(details([{ type: 0x02, value: Buffer.from('echo.example.com', 'utf8') }])).toEqual({ authority: 'echo.example.com' });
    expect(details([{ type: 0x02, value: Buffer.from('bücher.example', 'utf8') }])).toEqual({ authority: 'bücher.example' });
  });

  it('NOOP 0x04: ignored (kept raw only), of any length including 0', () => {
    expect(details([{ type: 0x04, value: Buffer.alloc(0) }])).toBeUndefined();
    expect(details([{ type: 0x04, value: Buffer.alloc(300, 0xff) }, { type: 0x02, value: ascii('a.example') }])).toEqual({ authority: 'a.example' });
  });

  it('UNIQUE_ID 0x05: up to 128 bytes, text when printable, else hex', () => {
    expect(details([{ type: 0x05, value: ascii('203.0.113.7:51000_0001') }])).toEqual({ uniqueId: '203.0.113.7:51000_0001' });
    expect(details([{ type: 0x05, value: Buffer.alloc(UNIQUE_ID_MAX_BYTES, 0x41) }])).toEqual({ uniqueId: 'A'.repeat(128) });
    expect(details([{ type: 0x05, value: Buffer.from([0xde, 0xad, 0x0a, 0x00]) }])).toEqual({ uniqueId: '0xdead0a00' });
    expect(details([{ type: 0x05, value: Buffer.alloc(0) }])).toEqual({ uniqueId: '' });
  });

  it('UNIQUE_ID over 128 bytes: refused', () => {
    expect(refused(parseProxyHeader(header([{ type: 0x05, value: Buffer.alloc(129, 0x41) }])))).toMatchObject({ reason: 'invalid_tlv', message: expect.stringMatching(/UNIQUE_ID/) });
  });

  it('SSL 0x20: client flags, verify, and every sub-TLV (VERSION, CN, CIPHER, SIG_ALG, KEY_ALG)', () => {
    const value = sslValue(0x07, 0, [
      [0x21, 'TLSv1.3'],
      [0x22, 'client.example Ünïcode'],
      [0x23, 'TLS_AES_256_GCM_SHA384'],
      [0x24, 'SHA256'],
      [0x25, 'EC256'],
    ]);
    expect(details([{ type: 0x20, value }])).toEqual({
      ssl: { clientSsl: true, clientCertConnection: true, clientCertSession: true, verify: 0, version: 'TLSv1.3', cn: 'client.example Ünïcode', cipher: 'TLS_AES_256_GCM_SHA384', sigAlg: 'SHA256', keyAlg: 'EC256' },
    });
  });

  it('SSL 0x20: the fixed part alone; flags one by one; a non-zero verify; unknown sub-types skipped', () => {
    expect(details([{ type: 0x20, value: sslValue(0x00, 0) }])).toEqual({ ssl: { clientSsl: false, clientCertConnection: false, clientCertSession: false, verify: 0 } });
    expect(details([{ type: 0x20, value: sslValue(0x01, 0, [[0x21, 'TLSv1.2']]) }])?.ssl).toMatchObject({ clientSsl: true, clientCertConnection: false, clientCertSession: false, version: 'TLSv1.2' });
    expect(details([{ type: 0x20, value: sslValue(0x02, 0) }])?.ssl).toMatchObject({ clientSsl: false, clientCertConnection: true, clientCertSession: false });
    expect(details([{ type: 0x20, value: sslValue(0x04, 0) }])?.ssl).toMatchObject({ clientSsl: false, clientCertConnection: false, clientCertSession: true });
    expect(details([{ type: 0x20, value: sslValue(0x05, 0xdeadbeef) }])?.ssl).toMatchObject({ verify: 0xdeadbeef });
    expect(details([{ type: 0x20, value: sslValue(0x01, 0, [[0x26, 'X25519'], [0x21, 'TLSv1.3'], [0x27, Buffer.alloc(0)]]) }])?.ssl).toEqual({
      clientSsl: true,
      clientCertConnection: false,
      clientCertSession: false,
      verify: 0,
      version: 'TLSv1.3',
    });
  });

  it.each([
    ['shorter than its 5-byte fixed part', Buffer.from([0x01, 0, 0, 0])],
    ['empty', Buffer.alloc(0)],
    ['a sub-TLV that runs past the SSL TLV', Buffer.concat([sslValue(0x01, 0), Buffer.from([0x21, 0x00, 0x08]), ascii('TLSv1')])],
    ['a sub-TLV header cut short', Buffer.concat([sslValue(0x01, 0, [[0x21, 'TLSv1.3']]), Buffer.from([0x22, 0x00])])],
    ['one stray byte after the sub-TLVs', Buffer.concat([sslValue(0x01, 0, [[0x21, 'TLSv1.3']]), Buffer.from([0x00])])],
  ])('SSL 0x20 %s: refused', (_name, value) => {
    expect(refused(parseProxyHeader(header([{ type: 0x20, value }]))).reason).toBe('invalid_tlv');
  });

  it('NETNS 0x30: the namespace name', () => {
    expect(details([{ type: 0x30, value: ascii('blue') }])).toEqual({ netns: 'blue' });
  });

  it('several at once, the first of a type wins, unknown types kept raw only', () => {
    const tlvs = [
      { type: 0x02, value: ascii('first.example') },
      { type: 0x01, value: ascii('http/1.1') },
      { type: 0x02, value: ascii('second.example') },
      { type: 0x42, value: ascii('unknown') },
      { type: 0xf0, value: Buffer.alloc(10) },
      { type: 0x05, value: ascii('id-1') },
    ];
    expect(details(tlvs)).toEqual({ authority: 'first.example', alpn: 'http/1.1', uniqueId: 'id-1' });
  });

  it('over INET6 too', () => {
    const bytes = header([{ type: 0x02, value: ascii('six.example') }], 0x21);
    expect(done(parseProxyHeader(bytes)).header.details).toEqual({ authority: 'six.example' });
  });

  it('LOCAL and AF_UNSPEC: the block is skipped unread, so no TLVs and no details', () => {
    const block = tlvBytes(0x02, ascii('ignored.example'));
    const local = done(parseProxyHeader(v2Header({ command: 'local', familyProtocol: 0x11, addresses: Buffer.concat([ADDRESSES, block]) }))).header;
    expect(local).toMatchObject({ command: 'local', tlvs: [] });
    expect(local.details).toBeUndefined();
    const unspec = done(parseProxyHeader(v2Header({ familyProtocol: 0x00, trailing: block }))).header;
    expect(unspec.details).toBeUndefined();
  });

  it('v1 headers have none', () => {
    expect(done(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'))).header.details).toBeUndefined();
  });
});

describe('TLV lengths', () => {
  it.each([
    ['a lone type byte', Buffer.from([0x02])],
    ['a type and one length byte', Buffer.from([0x02, 0x00])],
    ['a value one byte short', Buffer.concat([Buffer.from([0x02, 0x00, 0x05]), ascii('abcd')])],
    ['a length of 65535 in a small header', Buffer.from([0x01, 0xff, 0xff, 0x68, 0x32])],
    ['a good TLV, then one that overruns', Buffer.concat([tlvBytes(0x01, ascii('h2')), Buffer.from([0x05, 0x00, 0x10, 1, 2])])],
  ])('%s: refused as invalid_tlv', (_name, trailing) => {
    expect(refused(parseProxyHeader(v2Header({ familyProtocol: 0x11, addresses: ADDRESSES, trailing }))).reason).toBe('invalid_tlv');
  });

  it('a header cut inside its TLVs is not complete: need_more, never a partial decode', () => {
    const bytes = header([{ type: 0x02, value: ascii('cut.example') }, { type: 0x20, value: sslValue(1, 0, [[0x21, 'TLSv1.3']]) }]);
    for (let n = 28; n < bytes.length; n++) expect(parseProxyHeader(bytes.subarray(0, n)).status).toBe('need_more');
  });
});

describe('CRC32C 0x03 (spec 2.2.3)', () => {
  const crcTlv = { type: 0x03, value: Buffer.alloc(4) };

  it('the reference CRC32C and the library agree (RFC 3720 check value "123456789")', () => {
    expect(crc32cReference(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
  });

  it.each([
    ['alone', [crcTlv]],
    ['first, with TLVs after it', [crcTlv, { type: 0x02, value: ascii('crc.example') }, { type: 0x05, value: ascii('u-1') }]],
    ['last, after an SSL TLV', [{ type: 0x20, value: sslValue(1, 0, [[0x21, 'TLSv1.3']]) }, { type: 0x04, value: Buffer.alloc(7) }, crcTlv]],
  ])('a good checksum (%s) is accepted, and said so', (_name, tlvs) => {
    const bytes = withCrc32c(header(tlvs));
    const parsed = done(parseProxyHeader(Buffer.concat([bytes, PAYLOAD])));
    expect(parsed.consumed).toBe(bytes.length);
    expect(parsed.header.details?.crc32c).toBe(true);
    // and incrementally, split anywhere
    for (let split = 0; split <= bytes.length; split++) {
      const parser = new ProxyHeaderParser();
      const first = parser.push(bytes.subarray(0, split));
      const result = first.status === 'need_more' ? parser.push(Buffer.concat([bytes.subarray(split), PAYLOAD])) : first;
      expect(done(result).header.details?.crc32c, `split ${split}`).toBe(true);
    }
  });

  it('over INET6 as well', () => {
    expect(done(parseProxyHeader(withCrc32c(header([crcTlv], 0x21)))).header.details).toEqual({ crc32c: true });
  });

  it('a checksum that does not match is refused (bad_checksum), whichever bit is off', () => {
    for (const xor of [1, 0x80000000, 0xffffffff]) {
      expect(refused(parseProxyHeader(withCrc32c(header([crcTlv, { type: 0x02, value: ascii('x.example') }]), xor))).reason).toBe('bad_checksum');
    }
    // the field left at zero, as a sender that forgot to fill it in
    expect(refused(parseProxyHeader(header([crcTlv]))).reason).toBe('bad_checksum');
  });

  it('any byte changed after the checksum was computed is caught (addresses, ports, other TLVs)', () => {
    const good = withCrc32c(header([crcTlv, { type: 0x02, value: ascii('tamper.example') }]));
    const crcField = new Set([28 + 3, 28 + 4, 28 + 5, 28 + 6]);
    for (let at = 16; at < good.length; at++) {
      if (crcField.has(at) || (at >= 28 && at < 31) || (at >= 35 && at < 38)) continue; // the checksum itself and the TLV heads
      const bad = Buffer.from(good);
      bad[at] = (bad[at] as number) ^ 0x01;
      expect(refused(parseProxyHeader(bad)).reason, `byte ${at}`).toBe('bad_checksum');
    }
  });

  it('a checksum over the header with its field zeroed, not over the header as sent', () => {
    const bytes = withCrc32c(header([crcTlv]));
    const naive = Buffer.from(bytes);
    naive.writeUInt32BE(crc32cReference(bytes), 31); // the checksum of the header as it stands: wrong
    expect(refused(parseProxyHeader(naive)).reason).toBe('bad_checksum');
  });

  it.each([
    ['3 bytes', [{ type: 0x03, value: Buffer.alloc(3) }]],
    ['5 bytes', [{ type: 0x03, value: Buffer.alloc(5) }]],
    ['two of them', [crcTlv, crcTlv]],
  ])('a CRC32C TLV of %s is refused as invalid_tlv', (_name, tlvs) => {
    expect(refused(parseProxyHeader(header(tlvs))).reason).toBe('invalid_tlv');
  });
});

describe('cloud TLVs (0xE0-0xEF, the application range)', () => {
  it('AWS 0xEA subtype 0x01: the VPC endpoint ID', () => {
    expect(details([{ type: 0xea, value: awsVpceValue('vpce-08d2bf15fac5001c9') }])).toEqual({ awsVpceId: 'vpce-08d2bf15fac5001c9' });
  });

  it('Azure 0xEE subtype 0x01: the Private Link LINKID, 32-bit little-endian', () => {
    expect(details([{ type: 0xee, value: azureLinkIdValue(0x21000105) }])).toEqual({ azureLinkId: 0x21000105 });
    expect(details([{ type: 0xee, value: azureLinkIdValue(0xffffffff) }])).toEqual({ azureLinkId: 4294967295 });
    expect(details([{ type: 0xee, value: Buffer.from([0x01, 0x01, 0x00, 0x00, 0x00]) }])).toEqual({ azureLinkId: 1 });
  });

  it('GCP 0xE0: the Private Service Connect connection ID, 64-bit big-endian, in decimal', () => {
    expect(details([{ type: 0xe0, value: gcpPscValue(0x0123456789abcdefn) }])).toEqual({ gcpPscConnectionId: '81985529216486895' });
    expect(details([{ type: 0xe0, value: gcpPscValue(0xffffffffffffffffn) }])).toEqual({ gcpPscConnectionId: '18446744073709551615' });
  });

  it('all three with the standard ones and a checksum', () => {
    const tlvs = [
      { type: 0x03, value: Buffer.alloc(4) },
      { type: 0xea, value: awsVpceValue('vpce-0abc') },
      { type: 0xee, value: azureLinkIdValue(7) },
      { type: 0xe0, value: gcpPscValue(42n) },
      { type: 0x02, value: ascii('cloud.example') },
    ];
    expect(done(parseProxyHeader(withCrc32c(header(tlvs)))).header.details).toEqual({ crc32c: true, awsVpceId: 'vpce-0abc', azureLinkId: 7, gcpPscConnectionId: '42', authority: 'cloud.example' });
  });

  it.each([
    ['AWS, another subtype', 0xea, awsVpceValue('something', 0x02)],
    ['AWS, empty', 0xea, Buffer.alloc(0)],
    ['Azure, another subtype', 0xee, azureLinkIdValue(1, 0x02)],
    ['Azure subtype 0x01, 3 bytes of ID', 0xee, Buffer.from([0x01, 1, 2, 3])],
    ['GCP, 7 bytes', 0xe0, Buffer.alloc(7)],
    ['GCP, 300 bytes', 0xe0, Buffer.alloc(300, 7)],
  ])('%s: not the provider\'s shape, so maybe another application\'s: kept raw, not decoded, not refused', (_name, type, value) => {
    expect(details([{ type, value }])).toBeUndefined();
  });
});
