import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatIPv6, ipv6TextToBytes, parseProxyHeader, ProxyHeaderParser, V1_PREFIX, V2_SIGNATURE, type ProxyParseResult } from '../../../src/proxy/parse.js';
import { inet4Block, inet6Block, unixBlock, v1Header, v2Header, withCrc32c } from '../../support/proxy-encode.js';

const RUNS = 500;
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));

/** Random cut points → chunks of `stream` (empty chunks included). */
const chunking = fc.array(fc.nat(), { maxLength: 8 });
function cut(stream: Buffer, cuts: number[]): Buffer[] {
  const points = cuts.map((cutAt) => cutAt % (stream.length + 1)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let previous = 0;
  for (const point of points) {
    chunks.push(stream.subarray(previous, point));
    previous = point;
  }
  chunks.push(stream.subarray(previous));
  return chunks;
}

/** Feeds the chunks; returns the terminal result and the bytes after the header. */
function feed(chunks: Buffer[]): { result: ProxyParseResult; rest: Buffer } {
  const parser = new ProxyHeaderParser();
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i] as Buffer;
    const result = parser.push(chunk);
    expect(['need_more', 'done', 'error']).toContain(result.status);
    if (result.status === 'need_more') continue;
    if (result.status === 'done') {
      expect(result.consumed).toBeGreaterThanOrEqual(0);
      expect(result.consumed).toBeLessThanOrEqual(chunk.length);
      return { result, rest: Buffer.concat([chunk.subarray(result.consumed), ...chunks.slice(i + 1)]) };
    }
    return { result, rest: Buffer.alloc(0) };
  }
  return { result: { status: 'need_more' }, rest: Buffer.alloc(0) };
}

/** Byte strings that get past the first checks often: random, or behind a v1 prefix or the v2 signature (plus a plausible version byte). */
const fuzzInput = fc.oneof(
  bytes(300),
  bytes(150).map((tail) => Buffer.concat([V1_PREFIX, tail])),
  fc.tuple(fc.constantFrom('TCP4 ', 'TCP6 ', 'UNKNOWN'), fc.oneof(fc.string({ maxLength: 100 }), fc.string({ unit: fc.constantFrom(...'0125.: af\r'), maxLength: 60 }))).map(([protocol, tail]) => Buffer.from(`PROXY ${protocol}${tail}\r\n`, 'latin1')),
  // v1 with the right shape and near-miss fields
  fc
    .tuple(fc.constantFrom('TCP4', 'TCP6'), fc.array(fc.string({ unit: fc.constantFrom(...'0125.:af'), minLength: 1, maxLength: 16 }), { minLength: 4, maxLength: 4 }))
    .map(([protocol, fields]) => Buffer.from(`PROXY ${protocol} ${fields.join(' ')}\r\n`, 'latin1')),
  // v2 TCP4 with a soup of TLVs of every interesting type, lengths right or not
  fc
    .array(fc.tuple(fc.constantFrom(0x01, 0x02, 0x03, 0x04, 0x05, 0x20, 0x30, 0xe0, 0xea, 0xee, 0x99), bytes(40), fc.integer({ min: -2, max: 2 })), { maxLength: 4 })
    .map((tlvs) => {
      const block = Buffer.concat(
        tlvs.map(([type, value, skew]) => {
          const head = Buffer.from([type, 0, 0]);
          head.writeUInt16BE(Math.max(0, value.length + skew), 1);
          return Buffer.concat([head, value]);
        }),
      );
      return v2Header({ familyProtocol: 0x11, addresses: inet4Block('1.2.3.4', '5.6.7.8', 1, 2), trailing: block });
    }),
  fc.tuple(fc.constantFrom(0x20, 0x21, 0x22), fc.constantFrom(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32, 0x13), fc.nat(300), bytes(300)).map(([versionCommand, familyProtocol, length, tail]) => {
    const fixed = Buffer.alloc(16);
    V2_SIGNATURE.copy(fixed);
    fixed[12] = versionCommand;
    fixed[13] = familyProtocol;
    fixed.writeUInt16BE(length, 14);
    return Buffer.concat([fixed, tail]);
  }),
);

describe('fuzz: any bytes, any chunking', () => {
  it('never throws; only need_more, done or error; incremental agrees with one-shot', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fuzzInput, chunking, (stream, cuts) => {
        const whole = parseProxyHeader(stream);
        seen.add(whole.status === 'error' ? whole.reason : whole.status);
        const { result, rest } = feed(cut(stream, cuts));
        expect(result.status).toBe(whole.status);
        if (whole.status === 'error' && result.status === 'error') expect(result.reason).toBe(whole.reason);
        if (whole.status === 'done' && result.status === 'done') {
          expect(result.header).toEqual(whole.header);
          expect(rest.equals(stream.subarray(whole.consumed))).toBe(true);
        }
      }),
      { numRuns: RUNS * 4 },
    );
    // the generators reach every outcome, not just the first check
    expect([...seen].sort()).toEqual(expect.arrayContaining(['bad_signature', 'done', 'invalid_address', 'invalid_tlv', 'malformed', 'need_more', 'truncated']));
  });

  it('a done header never claims more than its format allows', () => {
    fc.assert(
      fc.property(fuzzInput, (stream) => {
        const result = parseProxyHeader(stream);
        if (result.status !== 'done') return;
        expect(result.consumed).toBe(result.header.length);
        expect(result.consumed).toBeLessThanOrEqual(stream.length);
        expect(result.consumed).toBeLessThanOrEqual(result.header.version === 1 ? 107 : 4096);
      }),
      { numRuns: RUNS * 4 },
    );
  });
});

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
const ipv6 = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  // runs of zeros, so that '::' compression gets exercised
  fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xabcd), { minLength: 8, maxLength: 8 }).map((groups) => {
    const out = new Uint8Array(16);
    groups.forEach((group, i) => {
      out[2 * i] = group >> 8;
      out[2 * i + 1] = group & 0xff;
    });
    return out;
  }),
).map((array) => Buffer.from(array));
const port = fc.nat(65535);
// Any type but the two whose values have a fixed shape (CRC32C 0x03, SSL 0x20: tlv.test.ts and the
// checksum property below); random bytes under the other types decode or stay raw, never refuse.
const tlv = fc.record({ type: fc.nat(255).filter((type) => type !== 0x03 && type !== 0x20), value: bytes(64) });
const payload = bytes(200);

/** The uncompressed hex form, written here independently of the parser's formatter. */
const longForm = (address: Buffer) => Array.from({ length: 8 }, (_, i) => address.readUInt16BE(2 * i).toString(16).padStart(4, '0')).join(':');

describe('round trip: headers built from random addresses parse back to them', () => {
  it('v1 TCP4', () => {
    fc.assert(
      fc.property(ipv4, ipv4, port, port, payload, chunking, (src, dst, srcPort, dstPort, data, cuts) => {
        const { result, rest } = feed(cut(Buffer.concat([v1Header('TCP4', src, dst, srcPort, dstPort), data]), cuts));
        expect(result.status).toBe('done');
        if (result.status !== 'done') return;
        expect(result.header).toMatchObject({ version: 1, family: 'inet4', source: { address: src, port: srcPort }, destination: { address: dst, port: dstPort } });
        expect(rest.equals(data)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('v1 TCP6 (long form in, RFC 5952 out, same address)', () => {
    fc.assert(
      fc.property(ipv6, ipv6, port, port, payload, chunking, (src, dst, srcPort, dstPort, data, cuts) => {
        const { result, rest } = feed(cut(Buffer.concat([v1Header('TCP6', longForm(src), longForm(dst), srcPort, dstPort), data]), cuts));
        expect(result.status).toBe('done');
        if (result.status !== 'done' || result.header.family !== 'inet6') throw new Error('not inet6');
        expect(ipv6TextToBytes(result.header.source.address)?.equals(src)).toBe(true);
        expect(ipv6TextToBytes(result.header.destination.address)?.equals(dst)).toBe(true);
        expect(new URL(`http://[${result.header.source.address}]/`).hostname).toBe(new URL(`http://[${longForm(src)}]/`).hostname);
        expect(result.header.source.port).toBe(srcPort);
        expect(result.header.destination.port).toBe(dstPort);
        expect(rest.equals(data)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('v2 INET4/INET6, stream/dgram, with random TLVs', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), ipv6, ipv6, port, port, fc.array(tlv, { maxLength: 5 }), payload, chunking, (six, dgram, src6, dst6, srcPort, dstPort, tlvs, data, cuts) => {
        const src = six ? src6 : src6.subarray(0, 4);
        const dst = six ? dst6 : dst6.subarray(0, 4);
        const addresses = six ? inet6Block(src, dst, srcPort, dstPort) : inet4Block([...src].join('.'), [...dst].join('.'), srcPort, dstPort);
        const familyProtocol = (six ? 0x20 : 0x10) | (dgram ? 2 : 1);
        const header = v2Header({ familyProtocol, addresses, tlvs });
        const { result, rest } = feed(cut(Buffer.concat([header, data]), cuts));
        if (result.status !== 'done') throw new Error(JSON.stringify(result));
        const parsed = result.header;
        expect(parsed.version).toBe(2);
        expect(parsed.length).toBe(header.length);
        expect(parsed.transport).toBe(dgram ? 'dgram' : 'stream');
        expect(parsed.tlvs).toEqual(tlvs);
        if (parsed.family !== 'inet4' && parsed.family !== 'inet6') throw new Error(parsed.family);
        expect(parsed.family).toBe(six ? 'inet6' : 'inet4');
        const back = (text: string) => (six ? ipv6TextToBytes(text) : Buffer.from(text.split('.').map(Number)));
        expect(back(parsed.source.address)?.equals(src)).toBe(true);
        expect(back(parsed.destination.address)?.equals(dst)).toBe(true);
        expect([parsed.source.port, parsed.destination.port]).toEqual([srcPort, dstPort]);
        expect(rest.equals(data)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('v2 with a CRC32C among random TLVs: accepted as sent; any address or port byte changed: refused', () => {
    fc.assert(
      fc.property(fc.array(tlv, { maxLength: 4 }), fc.array(tlv, { maxLength: 4 }), fc.nat(11), fc.integer({ min: 1, max: 255 }), chunking, (before, after, at, flip, cuts) => {
        const tlvs = [...before, { type: 0x03, value: Buffer.alloc(4) }, ...after];
        const header = withCrc32c(v2Header({ familyProtocol: 0x11, addresses: inet4Block('198.51.100.9', '10.1.2.3', 40000, 7000), tlvs }));
        const { result } = feed(cut(header, cuts));
        if (result.status !== 'done') throw new Error(JSON.stringify(result));
        expect(result.header.details?.crc32c).toBe(true);
        const bad = Buffer.from(header);
        bad[16 + at] = (bad[16 + at] as number) ^ flip;
        expect(parseProxyHeader(bad)).toMatchObject({ status: 'error', reason: 'bad_checksum' });
      }),
      { numRuns: RUNS },
    );
  });

  it('v2 UNIX paths', () => {
    const path = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789/._-'), minLength: 1, maxLength: 108 });
    fc.assert(
      fc.property(path, path, fc.boolean(), payload, chunking, (src, dst, dgram, data, cuts) => {
        const header = v2Header({ familyProtocol: dgram ? 0x32 : 0x31, addresses: unixBlock(src, dst) });
        const { result, rest } = feed(cut(Buffer.concat([header, data]), cuts));
        if (result.status !== 'done' || result.header.family !== 'unix') throw new Error(JSON.stringify(result));
        expect(result.header.source.path).toBe(src);
        expect(result.header.destination.path).toBe(dst);
        expect(rest.equals(data)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('v2 LOCAL with any block', () => {
    fc.assert(
      fc.property(fc.nat(255), bytes(300), payload, chunking, (familyProtocol, block, data, cuts) => {
        const header = v2Header({ command: 'local', familyProtocol, trailing: block });
        const { result, rest } = feed(cut(Buffer.concat([header, data]), cuts));
        if (result.status !== 'done') throw new Error(JSON.stringify(result));
        expect(result.header).toMatchObject({ command: 'local', family: 'unspec', length: header.length });
        expect(rest.equals(data)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('IPv6 text: format then parse is the identity on bytes', () => {
    fc.assert(
      fc.property(ipv6, (address) => {
        const text = formatIPv6(address);
        expect(ipv6TextToBytes(text)?.equals(address)).toBe(true);
        expect(text).toBe(text.toLowerCase());
        expect(text.split('::').length).toBeLessThanOrEqual(2);
      }),
      { numRuns: RUNS * 4 },
    );
  });
});
