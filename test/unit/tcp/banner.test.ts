// The banner template (ECHO_BANNER), compiled once and rendered per connection: fixed
// placeholders, {client_addr} and the PROXY v2 ones, values sanitized so a client cannot add lines.
import { describe, expect, it } from 'vitest';
import { BANNER_VALUE_MAX_CHARS, bannerValue, compileBanner } from '../../../src/tcp/banner.js';
import type { ProxyTlvDetails } from '../../../src/proxy/tlv.js';

const context = { listener: 'tcp+proxy://0.0.0.0:7000', env: { POD_NAME: 'echo-0', POD_NAMESPACE: 'net', ZONE: 'eu-1' }, hostname: 'host-a' };

const FULL: ProxyTlvDetails = {
  authority: 'echo.example.com',
  alpn: 'h2',
  uniqueId: 'abc-123',
  ssl: { clientSsl: true, clientCertConnection: true, clientCertSession: true, verify: 0, version: 'TLSv1.3', cn: 'client-1', cipher: 'TLS_AES_128_GCM_SHA256' },
  awsVpceId: 'vpce-0123',
  azureLinkId: 4294967295,
  gcpPscConnectionId: '18446744073709551615',
};

const ALL_PROXY = '{proxy_authority}|{proxy_alpn}|{proxy_unique_id}|{proxy_ssl_version}|{proxy_ssl_cn}|{proxy_ssl_cipher}|{proxy_aws_vpce_id}|{proxy_azure_link_id}|{proxy_gcp_psc_id}';

describe('compileBanner', () => {
  it('fills the fixed placeholders once; the same buffer every time when nothing varies', () => {
    const render = compileBanner('{hostname} {listener} {pod_name}/{pod_namespace} {env:ZONE}{env:MISSING} {unknown} {proxy_nope}', context);
    const line = render('1.2.3.4:5');
    expect(line.toString()).toBe('host-a tcp+proxy://0.0.0.0:7000 echo-0/net eu-1 {unknown} {proxy_nope}\n');
    expect(render('6.7.8.9:10', FULL)).toBe(line);
  });

  it('{client_addr} per connection', () => {
    const render = compileBanner('hi {client_addr}, {client_addr} again', context);
    expect(render('[2001:db8::1]:443').toString()).toBe('hi [2001:db8::1]:443, [2001:db8::1]:443 again\n');
  });

  it('the PROXY v2 placeholders from the header\'s details', () => {
    const render = compileBanner(`{client_addr} ${ALL_PROXY}`, context);
    expect(render('203.0.113.7:51000', FULL).toString()).toBe('203.0.113.7:51000 echo.example.com|h2|abc-123|TLSv1.3|client-1|TLS_AES_128_GCM_SHA256|vpce-0123|4294967295|18446744073709551615\n');
  });

  it('empty when absent: no header details, or not that TLV', () => {
    const render = compileBanner(`[${ALL_PROXY}]`, context);
    expect(render('1.2.3.4:5').toString()).toBe('[||||||||]\n');
    expect(render('1.2.3.4:5', { uniqueId: 'only' }).toString()).toBe('[||only||||||]\n');
    expect(render('1.2.3.4:5', { ssl: { clientSsl: false, clientCertConnection: false, clientCertSession: false, verify: 0 } }).toString()).toBe('[||||||||]\n');
  });

  it('a client cannot add lines or bytes outside printable ASCII: CR, LF, NUL, DEL and non-ASCII become "?"', () => {
    const render = compileBanner('sni={proxy_authority} cn={proxy_ssl_cn} end', context);
    const line = render('1.2.3.4:5', { authority: 'evil\r\nINJECTED: yes', ssl: { clientSsl: true, clientCertConnection: true, clientCertSession: true, verify: 0, cn: 'ü\u0000\u007f\u2028x' } }).toString('latin1');
    expect(line).toBe('sni=evil??INJECTED: yes cn=????x end\n');
    expect(line.split('\n')).toHaveLength(2);
  });

  it('each value is capped, so the line stays bounded whatever the header carried', () => {
    const render = compileBanner('{proxy_unique_id}|{proxy_authority}', context);
    const line = render('1.2.3.4:5', { uniqueId: 'u'.repeat(128), authority: 'a'.repeat(4000) }).toString();
    expect(line).toBe(`${'u'.repeat(128)}|${'a'.repeat(BANNER_VALUE_MAX_CHARS)}\n`);
  });

  it('values are not read as placeholders again', () => {
    const render = compileBanner('{env:TRICK} {proxy_authority}', { ...context, env: { TRICK: '{client_addr}' } });
    expect(render('1.2.3.4:5', { authority: '{hostname}' }).toString()).toBe('{client_addr} {hostname}\n');
  });
});

describe('bannerValue', () => {
  it('numbers as decimal, undefined as empty, printable ASCII unchanged', () => {
    expect(bannerValue(7)).toBe('7');
    expect(bannerValue(undefined)).toBe('');
    expect(bannerValue(' !~az09')).toBe(' !~az09');
  });
});
