import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_HEADER_BYTES,
  formatIPv6,
  ipv6TextToBytes,
  parseProxyHeader,
  ProxyHeaderParser,
  V1_MAX_BYTES,
  V2_SIGNATURE,
  type ProxyParseResult,
} from '../../../src/proxy/parse.js';
import { inet4Block, inet6Block, unixBlock, v1Header, v2Header, withCrc32c } from '../../support/proxy-encode.js';

const PAYLOAD = Buffer.from('payload after the header\r\n\0\xff', 'latin1');

function done(result: ProxyParseResult) {
  if (result.status !== 'done') throw new Error(`expected done, got ${JSON.stringify(result)}`);
  return result;
}

function errorReason(result: ProxyParseResult): string {
  if (result.status !== 'error') throw new Error(`expected error, got ${JSON.stringify(result)}`);
  return result.reason;
}

/** Feeds `chunks` to a fresh incremental parser; returns the final result, the index of the chunk it came on, and what the rest was. */
function feed(chunks: Buffer[], options?: { maxHeaderBytes?: number }) {
  const parser = new ProxyHeaderParser(options);
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i] as Buffer;
    const result = parser.push(chunk);
    if (result.status === 'need_more') continue;
    const rest = result.status === 'done' ? Buffer.concat([chunk.subarray(result.consumed), ...chunks.slice(i + 1)]) : Buffer.alloc(0);
    return { result, index: i, rest };
  }
  return { result: { status: 'need_more' } as ProxyParseResult, index: chunks.length, rest: Buffer.alloc(0) };
}

// One representative of every kind of valid header, for the split tests.
const SAMPLES: Array<[string, Buffer]> = [
  ['v1 TCP4', v1Header('TCP4', '192.168.0.1', '10.0.0.2', 56324, 443)],
  ['v1 TCP6', v1Header('TCP6', '2001:db8::1', 'fe80::abcd:1', 1, 65535)],
  ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n')],
  ['v1 UNKNOWN with addresses', Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n')],
  ['v2 TCP4', v2Header({ familyProtocol: 0x11, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1000, 2000) })],
  ['v2 UDP6 + TLVs', v2Header({ familyProtocol: 0x22, addresses: inet6Block('::1', '2001:db8::2', 7, 8), tlvs: [{ type: 0x02, value: Buffer.from('example.com') }, { type: 0x04, value: Buffer.alloc(0) }, { type: 0xe0, value: Buffer.alloc(300, 7) }] })],
  ['v2 UNIX', v2Header({ familyProtocol: 0x31, addresses: unixBlock('/run/src.sock', '/run/dst.sock') })],
  ['v2 LOCAL', v2Header({ command: 'local' })],
  ['v2 LOCAL with a block', v2Header({ command: 'local', familyProtocol: 0x11, addresses: inet4Block('1.1.1.1', '2.2.2.2', 3, 4) })],
  ['v2 PROXY AF_UNSPEC', v2Header({ familyProtocol: 0x00, trailing: Buffer.from([1, 2, 3]) })],
];

describe('v1', () => {
  it('parses every field of TCP4', () => {
    const header = v1Header('TCP4', '192.168.0.1', '10.0.0.2', 56324, 443);
    const { header: parsed, consumed } = done(parseProxyHeader(Buffer.concat([header, PAYLOAD])));
    expect(consumed).toBe(header.length);
    expect(parsed).toEqual({
      version: 1,
      command: 'proxy',
      length: header.length,
      tlvs: [],
      family: 'inet4',
      transport: 'stream',
      source: { address: '192.168.0.1', port: 56324 },
      destination: { address: '10.0.0.2', port: 443 },
    });
  });

  it('parses TCP6 and reports addresses in RFC 5952 form', () => {
    const header = v1Header('TCP6', '2001:DB8:0:0:0:0:0:1', '::FFFF:10.0.0.1', 0, 65535);
    const { header: parsed } = done(parseProxyHeader(header));
    expect(parsed.family).toBe('inet6');
    expect(parsed.source).toEqual({ address: '2001:db8::1', port: 0 });
    expect(parsed.destination).toEqual({ address: '::ffff:10.0.0.1', port: 65535 });
  });

  it('accepts the longest TCP6 line and the 107-byte UNKNOWN worst case', () => {
    const max6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const tcp6 = v1Header('TCP6', max6, max6, 65535, 65535);
    expect(done(parseProxyHeader(tcp6)).consumed).toBe(tcp6.length);
    const unknown = Buffer.from(`PROXY UNKNOWN ${max6} ${max6} 65535 65535\r\n`);
    expect(unknown.length).toBe(V1_MAX_BYTES);
    expect(done(parseProxyHeader(unknown)).header).toMatchObject({ version: 1, command: 'proxy', family: 'unspec', source: undefined, destination: undefined });
  });

  it('UNKNOWN: anything before CRLF is ignored, the real peer is used', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN 1.2.3.4 whatever\r\n', 'PROXY UNKNOWN \r\n']) {
      const { header, consumed } = done(parseProxyHeader(Buffer.from(line + 'data')));
      expect(consumed).toBe(line.length);
      expect(header.family).toBe('unspec');
      expect(header.source).toBeUndefined();
    }
  });

  it('refuses a line longer than 107 bytes, as soon as 107 bytes have no CRLF', () => {
    const long = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}\r\n`);
    expect(parseProxyHeader(long.subarray(0, V1_MAX_BYTES - 1)).status).toBe('need_more');
    expect(errorReason(parseProxyHeader(long.subarray(0, V1_MAX_BYTES)))).toBe('too_long');
    const oneTooMany = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES + 1 - 16)}\r\n`);
    expect(oneTooMany.length).toBe(V1_MAX_BYTES + 1);
    expect(errorReason(parseProxyHeader(oneTooMany))).toBe('too_long');
  });

  it.each([
    ['lowercase keyword', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'bad_signature'],
    ['no space after PROXY', 'PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'bad_signature'],
    ['HTTP request', 'GET / HTTP/1.1\r\n', 'bad_signature'],
    ['unknown protocol', 'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', 'bad_family'],
    ['UDP4 is not v1', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', 'bad_family'],
    ['empty protocol', 'PROXY  1.2.3.4 5.6.7.8 1 2\r\n', 'malformed'],
    ['bare PROXY', 'PROXY \r\n', 'malformed'],
    ['LF without CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'malformed'],
    ['CR inside the line', 'PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n', 'malformed'],
    ['tab separator', 'PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n', 'malformed'],
    ['non-ASCII byte', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\xe9\r\n', 'malformed'],
    ['NUL byte', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\x002\r\n', 'malformed'],
    ['too few fields', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'malformed'],
    ['too many fields', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', 'malformed'],
    ['double space', 'PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n', 'malformed'],
    ['trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', 'malformed'],
    ['octet > 255', 'PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n', 'invalid_address'],
    ['leading zero octet', 'PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n', 'invalid_address'],
    ['three octets', 'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', 'invalid_address'],
    ['hostname', 'PROXY TCP4 localhost 5.6.7.8 1 2\r\n', 'invalid_address'],
    ['IPv6 under TCP4', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n', 'invalid_address'],
    ['IPv4 under TCP6', 'PROXY TCP6 ::1 5.6.7.8 1 2\r\n', 'invalid_address'],
    ['two ::', 'PROXY TCP6 1::2::3 ::1 1 2\r\n', 'invalid_address'],
    ['nine groups', 'PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n', 'invalid_address'],
    ['group of 5 digits', 'PROXY TCP6 12345:: ::1 1 2\r\n', 'invalid_address'],
    ['zone id', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', 'invalid_address'],
    ['port 65536', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', 'invalid_port'],
    ['negative port', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', 'invalid_port'],
    ['hex port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 0x50\r\n', 'invalid_port'],
    ['six-digit port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 000080\r\n', 'invalid_port'],
  ])('refuses %s', (_name, line, reason) => {
    expect(errorReason(parseProxyHeader(Buffer.from(line, 'latin1')))).toBe(reason);
  });

  it('reports a wrong prefix at its first wrong byte, without waiting for more', () => {
    expect(errorReason(parseProxyHeader(Buffer.from('G')))).toBe('bad_signature');
    expect(errorReason(parseProxyHeader(Buffer.from('PROXX')))).toBe('bad_signature');
    expect(parseProxyHeader(Buffer.from('PROX')).status).toBe('need_more');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')).status).toBe('need_more');
    expect(errorReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2\x01')))).toBe('malformed');
  });

  it('the port range edges', () => {
    expect(done(parseProxyHeader(Buffer.from('PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n'))).header).toMatchObject({
      source: { address: '0.0.0.0', port: 0 },
      destination: { address: '255.255.255.255', port: 65535 },
    });
  });
});

describe('v2', () => {
  it('parses every field of TCP4', () => {
    const header = v2Header({ familyProtocol: 0x11, addresses: inet4Block('192.0.2.1', '198.51.100.7', 50000, 7001) });
    expect(header.length).toBe(28);
    const { header: parsed, consumed } = done(parseProxyHeader(Buffer.concat([header, PAYLOAD])));
    expect(consumed).toBe(28);
    expect(parsed).toEqual({
      version: 2,
      command: 'proxy',
      length: 28,
      tlvs: [],
      family: 'inet4',
      transport: 'stream',
      source: { address: '192.0.2.1', port: 50000 },
      destination: { address: '198.51.100.7', port: 7001 },
    });
  });

  it('UDP4 and UDP6 are dgram, TCP6 is stream', () => {
    expect(done(parseProxyHeader(v2Header({ familyProtocol: 0x12, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1, 2) }))).header.transport).toBe('dgram');
    const tcp6 = done(parseProxyHeader(v2Header({ familyProtocol: 0x21, addresses: inet6Block('2001:db8::1', '::ffff:192.0.2.9', 443, 8443) }))).header;
    expect(tcp6).toMatchObject({ family: 'inet6', transport: 'stream', source: { address: '2001:db8::1', port: 443 }, destination: { address: '::ffff:192.0.2.9', port: 8443 } });
    expect(done(parseProxyHeader(v2Header({ familyProtocol: 0x22, addresses: inet6Block('::', '::1', 0, 65535) }))).header).toMatchObject({
      family: 'inet6',
      transport: 'dgram',
      source: { address: '::', port: 0 },
      destination: { address: '::1', port: 65535 },
    });
  });

  it('UNIX stream and dgram, NUL-padded paths, abstract names, a path filling all 108 bytes', () => {
    const header = v2Header({ familyProtocol: 0x31, addresses: unixBlock('/var/run/haproxy.sock', '/tmp/echo.sock') });
    expect(header.length).toBe(16 + 216);
    expect(done(parseProxyHeader(header)).header).toMatchObject({ family: 'unix', transport: 'stream', source: { path: '/var/run/haproxy.sock' }, destination: { path: '/tmp/echo.sock' } });
    const full = '/'.padEnd(108, 'p');
    const abstract = Buffer.concat([Buffer.from([0]), Buffer.from('abstract-name')]);
    expect(done(parseProxyHeader(v2Header({ familyProtocol: 0x32, addresses: unixBlock(full, abstract) }))).header).toMatchObject({
      transport: 'dgram',
      source: { path: full },
      destination: { path: '@abstract-name' },
    });
    expect(done(parseProxyHeader(v2Header({ familyProtocol: 0x31, addresses: unixBlock('', '') }))).header).toMatchObject({ source: { path: '' } });
  });

  it('LOCAL (balancer health check): accepted, no addresses, the block skipped whatever the family', () => {
    const bare = v2Header({ command: 'local' });
    expect(done(parseProxyHeader(Buffer.concat([bare, PAYLOAD])))).toEqual({
      status: 'done',
      consumed: 16,
      header: { version: 2, command: 'local', length: 16, tlvs: [], family: 'unspec', transport: undefined, source: undefined, destination: undefined },
    });
    // HAProxy may send LOCAL with a family and addresses, and a receiver must ignore them; even unspecified family bytes.
    for (const familyProtocol of [0x11, 0x21, 0xff]) {
      const withBlock = v2Header({ command: 'local', familyProtocol, addresses: Buffer.alloc(5, 9) });
      const parsed = done(parseProxyHeader(withBlock));
      expect(parsed.consumed).toBe(21);
      expect(parsed.header).toMatchObject({ command: 'local', family: 'unspec', source: undefined });
    }
  });

  it('PROXY with AF_UNSPEC: accepted, the real peer is used, the block skipped', () => {
    const parsed = done(parseProxyHeader(v2Header({ familyProtocol: 0x00, trailing: Buffer.alloc(10) })));
    expect(parsed.header).toMatchObject({ command: 'proxy', family: 'unspec', source: undefined, destination: undefined, length: 26 });
  });

  it('TLVs: reported raw in order, lengths checked, zero-length allowed (decoding: tlv.test.ts)', () => {
    const tlvs = [
      { type: 0x01, value: Buffer.from('h2') },
      { type: 0x04, value: Buffer.alloc(0) },
      { type: 0x05, value: Buffer.from('unique-id-123') },
      { type: 0xee, value: Buffer.alloc(1000, 0xab) },
    ];
    const header = v2Header({ familyProtocol: 0x11, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1, 2), tlvs });
    const parsed = done(parseProxyHeader(Buffer.concat([header, PAYLOAD])));
    expect(parsed.consumed).toBe(header.length);
    expect(parsed.header.tlvs).toEqual(tlvs);
    expect(parsed.header.source).toEqual({ address: '1.2.3.4', port: 1 });
  });

  it.each([
    ['a lone TLV type byte', Buffer.from([0x01])],
    ['a TLV type and one length byte', Buffer.from([0x01, 0x00])],
    ['a TLV longer than the block', Buffer.from([0x01, 0x00, 0x05, 1, 2, 3, 4])],
    ['a good TLV then a bad one', Buffer.from([0x04, 0x00, 0x00, 0x02, 0xff, 0xff])],
  ])('refuses %s', (_name, trailing) => {
    expect(errorReason(parseProxyHeader(v2Header({ familyProtocol: 0x11, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1, 2), trailing })))).toBe('invalid_tlv');
  });

  it('refuses a signature that differs at any of its 12 bytes, at that byte', () => {
    for (let i = 0; i < 12; i++) {
      const bad = v2Header({ command: 'local' });
      bad[i] = (bad[i] as number) ^ 0x40;
      const reason = errorReason(parseProxyHeader(bad.subarray(0, i + 1)));
      // flipping byte 0 from \r makes it neither v1 nor v2
      expect(reason, `byte ${i}`).toBe('bad_signature');
    }
  });

  it.each([
    [0x01, 'bad_version'],
    [0x11, 'bad_version'],
    [0x31, 'bad_version'],
    [0xf1, 'bad_version'],
    [0x22, 'bad_command'],
    [0x2f, 'bad_command'],
  ])('refuses version/command byte %i at byte 13', (versionCommand, reason) => {
    const bad = v2Header({ familyProtocol: 0x11, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1, 2) });
    bad[12] = versionCommand;
    expect(errorReason(parseProxyHeader(bad.subarray(0, 13)))).toBe(reason);
  });

  it.each([0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x3f, 0x41, 0x42, 0xf1])('refuses family/protocol byte %i for PROXY', (familyProtocol) => {
    const bad = v2Header({ familyProtocol, addresses: inet6Block('::1', '::1', 1, 2) });
    expect(errorReason(parseProxyHeader(bad.subarray(0, 14)))).toBe('bad_family');
  });

  it.each([
    [0x11, 11],
    [0x12, 0],
    [0x21, 35],
    [0x21, 12],
    [0x31, 215],
  ])('refuses family byte %i with an address block of %i bytes (truncated), at the fixed part', (familyProtocol, size) => {
    const bad = v2Header({ familyProtocol, addresses: Buffer.alloc(size) });
    expect(errorReason(parseProxyHeader(bad.subarray(0, 16)))).toBe('truncated');
  });

  it('bounds the header size: refused as soon as the length field is read', () => {
    const big = v2Header({ familyProtocol: 0x11, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1, 2), tlvs: [{ type: 0xe0, value: Buffer.alloc(DEFAULT_MAX_HEADER_BYTES) }] });
    expect(errorReason(parseProxyHeader(big.subarray(0, 16)))).toBe('too_long');
    const atBound = v2Header({ command: 'local', trailing: Buffer.alloc(DEFAULT_MAX_HEADER_BYTES - 16) });
    expect(done(parseProxyHeader(atBound)).consumed).toBe(DEFAULT_MAX_HEADER_BYTES);
    const overBound = v2Header({ command: 'local', trailing: Buffer.alloc(DEFAULT_MAX_HEADER_BYTES - 15) });
    expect(errorReason(parseProxyHeader(overBound))).toBe('too_long');
    // configurable, up to what the format can carry
    expect(done(parseProxyHeader(overBound, { maxHeaderBytes: 65551 })).consumed).toBe(DEFAULT_MAX_HEADER_BYTES + 1);
    expect(errorReason(parseProxyHeader(v2Header({ familyProtocol: 0x11, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1, 2) }).subarray(0, 16), { maxHeaderBytes: 27 }))).toBe('too_long');
    expect(() => parseProxyHeader(atBound, { maxHeaderBytes: 15 })).toThrow(RangeError);
    expect(() => new ProxyHeaderParser({ maxHeaderBytes: 65552 })).toThrow(RangeError);
  });

  it('needs more until the last byte, then is done', () => {
    const header = withCrc32c(v2Header({ familyProtocol: 0x21, addresses: inet6Block('::1', '::2', 1, 2), tlvs: [{ type: 3, value: Buffer.alloc(4) }] }));
    for (let n = 0; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n)).status, `${n} bytes`).toBe('need_more');
    expect(done(parseProxyHeader(header)).consumed).toBe(header.length);
  });

  it('the v2 signature alone is not mistaken for anything else', () => {
    expect(parseProxyHeader(V2_SIGNATURE).status).toBe('need_more');
    expect(parseProxyHeader(Buffer.from('\r\n\r\n')).status).toBe('need_more');
    expect(errorReason(parseProxyHeader(Buffer.from('\r\n\r\nX')))).toBe('bad_signature');
  });
});

describe('incremental parsing: the header split anywhere, payload never lost', () => {
  it.each(SAMPLES)('%s: split at every byte boundary', (_name, header) => {
    const whole = done(parseProxyHeader(header)).header;
    const stream = Buffer.concat([header, PAYLOAD]);
    for (let split = 0; split <= stream.length; split++) {
      const { result, index, rest } = feed([stream.subarray(0, split), stream.subarray(split)]);
      const parsed = done(result);
      expect(parsed.header, `split ${split}`).toEqual(whole);
      expect(index, `split ${split}`).toBe(split >= header.length ? 0 : 1);
      expect(rest.equals(PAYLOAD), `split ${split}`).toBe(true);
    }
  });

  it.each(SAMPLES)('%s: one byte at a time', (_name, header) => {
    const stream = Buffer.concat([header, PAYLOAD]);
    const chunks = [...stream].map((byte) => Buffer.from([byte]));
    const { result, index, rest } = feed(chunks);
    expect(done(result).consumed).toBe(1);
    expect(index).toBe(header.length - 1);
    expect(rest.equals(PAYLOAD)).toBe(true);
  });

  it.each(SAMPLES.filter(([, header]) => header.length < 120))('%s: split at every pair of boundaries (three chunks, empty ones included)', (_name, header) => {
    const whole = done(parseProxyHeader(header)).header;
    const stream = Buffer.concat([header, PAYLOAD]);
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        const { result, rest } = feed([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
        expect(done(result).header).toEqual(whole);
        expect(rest.equals(PAYLOAD), `${a}/${b}`).toBe(true);
      }
    }
  });

  it('a header and payload in one chunk: consumed is the header, the payload is the rest', () => {
    const header = v1Header('TCP4', '1.2.3.4', '5.6.7.8', 1, 2);
    const parser = new ProxyHeaderParser();
    const chunk = Buffer.concat([header, Buffer.alloc(64 * 1024, 1)]);
    const result = done(parser.push(chunk));
    expect(result.consumed).toBe(header.length);
    expect(parser.bufferedBytes).toBeLessThanOrEqual(V1_MAX_BYTES); // never copied the 64 KiB
  });

  it('errors come as early incrementally as on the whole input', () => {
    const parser = new ProxyHeaderParser();
    expect(parser.push(Buffer.from('PROXY TCP4 1.2.3.4 ')).status).toBe('need_more');
    expect(errorReason(parser.push(Buffer.from('\x00')))).toBe('malformed');
    expect(() => parser.push(Buffer.from('x'))).toThrow(/after the header/);
    const v2 = new ProxyHeaderParser();
    expect(v2.push(V2_SIGNATURE.subarray(0, 5)).status).toBe('need_more');
    expect(errorReason(v2.push(Buffer.from([0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0xff, 0xff])))).toBe('too_long');
  });

  it('empty chunks are harmless', () => {
    const parser = new ProxyHeaderParser();
    expect(parser.push(Buffer.alloc(0)).status).toBe('need_more');
    expect(parser.push(Buffer.from('PROXY UNKNOWN\r')).status).toBe('need_more');
    expect(parser.push(Buffer.alloc(0)).status).toBe('need_more');
    expect(done(parser.push(Buffer.from('\n'))).consumed).toBe(1);
  });

  it('a done on a later chunk counts only that chunk', () => {
    const header = v2Header({ familyProtocol: 0x11, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1, 2), tlvs: [{ type: 1, value: Buffer.alloc(200) }] });
    const parser = new ProxyHeaderParser();
    expect(parser.push(header.subarray(0, 100)).status).toBe('need_more');
    const result = done(parser.push(Buffer.concat([header.subarray(100), PAYLOAD])));
    expect(result.consumed).toBe(header.length - 100);
  });
});

describe('IPv6 text', () => {
  it.each([
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of equal runs
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:0:0:0:ffff:c000:0201', '::ffff:192.0.2.1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['::1.2.3.4', '::102:304'],
    ['FE80::ABCD', 'fe80::abcd'],
  ])('%s -> %s', (text, canonical) => {
    const bytes = ipv6TextToBytes(text);
    expect(bytes).toBeDefined();
    expect(formatIPv6(bytes as Buffer)).toBe(canonical);
    // and agree with the WHATWG URL serializer on which address it is
    expect(new URL(`http://[${canonical}]/`).hostname).toBe(new URL(`http://[${text}]/`).hostname);
  });

  it.each(['', ':', ':::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '::g', '12345::', '1:2:3:4:5:6:7:1.2.3.4', '::1.2.3', '::256.1.1.1', '1.2.3.4', ':1::', '1::2:'])('refuses %j', (text) => {
    expect(ipv6TextToBytes(text)).toBeUndefined();
  });
});
