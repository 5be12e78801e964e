// The probe's PROXY header encoder, held to the test-side builders written from the specification
// (test/support/proxy-encode.ts) and to the service's own parser.
import { describe, expect, it } from 'vitest';
import { encodeProxyHeader } from '../../../src/probe/proxy-header.js';
import { parseProxyHeader } from '../../../src/proxy/parse.js';
import { inet4Block, inet6Block, v1Header, v2Header } from '../../support/proxy-encode.js';

const V4 = { source: { address: '203.0.113.7', port: 4242 }, destination: { address: '127.0.0.1', port: 7000 } };
const V6 = { source: { address: '2001:db8::1', port: 1 }, destination: { address: '::1', port: 65535 } };

describe('encodeProxyHeader', () => {
  it('v1 over IPv4 and IPv6: the spec line', () => {
    expect(encodeProxyHeader(1, V4)).toEqual(v1Header('TCP4', '203.0.113.7', '127.0.0.1', 4242, 7000));
    expect(encodeProxyHeader(1, V6)).toEqual(v1Header('TCP6', '2001:db8::1', '::1', 1, 65535));
  });

  it('v2 over IPv4 and IPv6: PROXY command, TCP, the address block, no TLVs', () => {
    expect(encodeProxyHeader(2, V4)).toEqual(v2Header({ command: 'proxy', familyProtocol: 0x11, addresses: inet4Block('203.0.113.7', '127.0.0.1', 4242, 7000) }));
    expect(encodeProxyHeader(2, V6)).toEqual(v2Header({ command: 'proxy', familyProtocol: 0x21, addresses: inet6Block('2001:db8::1', '::1', 1, 65535) }));
  });

  it.each([1, 2] as const)('v%i with one IPv6 and one IPv4 address: TCP6 with the IPv4 one mapped', (version) => {
    const result = parseProxyHeader(encodeProxyHeader(version, { source: V6.source, destination: V4.destination }));
    if (result.status !== 'done') throw new Error(JSON.stringify(result));
    expect(result.header).toMatchObject({ family: 'inet6', source: { address: '2001:db8::1', port: 1 }, destination: { address: '::ffff:127.0.0.1', port: 7000 } });
  });

  it.each([1, 2] as const)('v%i: the service parses back the endpoints it names', (version) => {
    for (const endpoints of [V4, V6]) {
      const header = encodeProxyHeader(version, endpoints);
      const result = parseProxyHeader(header);
      if (result.status !== 'done') throw new Error(JSON.stringify(result));
      expect(result.consumed).toBe(header.length);
      expect(result.header).toMatchObject({ version, command: 'proxy', transport: 'stream', source: endpoints.source, destination: endpoints.destination });
    }
  });
});
