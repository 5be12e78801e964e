import { describe, expect, it } from 'vitest';
import { parseProxyHeader, proxiedRemote, readProxyHeader, ProxyProtocolError } from '../../../src/proxy/index.js';
import { unixBlock, v1Header, v2Header } from '../../support/proxy-encode.js';

const header = (bytes: Buffer) => {
  const result = parseProxyHeader(bytes);
  if (result.status !== 'done') throw new Error(JSON.stringify(result));
  return result.header;
};

describe('src/proxy entry point', () => {
  it('exports the reader and the error type', () => {
    expect(typeof readProxyHeader).toBe('function');
    expect(new ProxyProtocolError('timeout', 'x', { bytesReceived: 0 })).toBeInstanceOf(Error);
  });

  it('proxiedRemote: the client a header names, in the logs\' remote form', () => {
    expect(proxiedRemote(header(v1Header('TCP4', '203.0.113.7', '127.0.0.1', 51000, 7001)))).toBe('203.0.113.7:51000');
    expect(proxiedRemote(header(v1Header('TCP6', '2001:db8::1', '::1', 1, 2)))).toBe('[2001:db8::1]:1');
    expect(proxiedRemote(header(v2Header({ familyProtocol: 0x31, addresses: unixBlock('/run/a.sock', '/run/b.sock') })))).toBe('unix:/run/a.sock');
    expect(proxiedRemote(header(v2Header({ command: 'local' })))).toBeUndefined();
    expect(proxiedRemote(header(Buffer.from('PROXY UNKNOWN\r\n')))).toBeUndefined();
  });
});
