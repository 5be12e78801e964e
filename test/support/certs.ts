// A throwaway PKI for tests, made in this process with node:crypto (no openssl command): EC P-256
// keys, X.509 v3 certificates signed ECDSA-SHA256, valid for two days, written as PEM files.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  readonly cn: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA certificate: trust it in clients, and give it to the server as ECHO_TLS_CLIENT_CA. */
  readonly caFile: string;
  /** CN 'tcp-echo test server', SAN IP:127.0.0.1 and DNS:localhost. */
  readonly server: TestCert;
  /** CN 'tcp-echo test client', extendedKeyUsage clientAuth. */
  readonly client: TestCert;
  /** Another certificate from the same CA; `name` picks the file names (default: the CN). */
  issue(kind: 'server' | 'client', cn: string, name?: string): TestCert;
  /** A self-signed certificate no CA vouches for (a rogue client, or an untrusted server). */
  selfSigned(cn: string, name?: string): TestCert;
  cleanup(): void;
}

// ---- DER, just what a certificate needs (X.690) ----
function tlv(tag: number, content: Buffer): Buffer {
  if (content.length < 0x80) return Buffer.concat([Buffer.from([tag, content.length]), content]);
  const length: number[] = [];
  for (let n = content.length; n > 0; n >>= 8) length.unshift(n & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | length.length, ...length]), content]);
}
const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
/** A non-negative INTEGER from its big-endian bytes (minimal: no leading zero byte unless the top bit is set). */
const integer = (bytes: Buffer) => tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
const boolean = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
const octetString = (bytes: Buffer) => tlv(0x04, bytes);
const bitString = (bytes: Buffer, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
const utf8String = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const explicit = (tagNumber: number, content: Buffer) => tlv(0xa0 | tagNumber, content);
function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) base128.unshift((n & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}
/** UTCTime (the years this PKI lives in are before 2050). */
function utcTime(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  return tlv(0x17, Buffer.from(`${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`, 'ascii'));
}
const commonName = (cn: string) => sequence(set(sequence(oid('2.5.4.3'), utf8String(cn))));
const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));
const extension = (id: string, critical: boolean, value: Buffer) => sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));

interface Party {
  readonly cn: string;
  readonly key: KeyObject;
  /** SubjectPublicKeyInfo, DER. */
  readonly spki: Buffer;
  /** SHA-1 of the public key (RFC 5280 4.2.1.2, method 1), for the key identifier extensions. */
  readonly keyId: Buffer;
}

function newParty(cn: string): Party {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { x, y } = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(x!, 'base64url'), Buffer.from(y!, 'base64url')]);
  return { cn, key: privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }), keyId: createHash('sha1').update(point).digest() };
}

type Profile = 'ca' | 'server' | 'client' | 'self-signed';

/** A certificate for `subject` signed by `issuer` (the same party for a CA or a self-signed one), as PEM. */
function certificate(subject: Party, issuer: Party, profile: Profile): string {
  const serial = randomBytes(8);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, and minimal as DER wants it
  const now = Date.now();
  const extensions = [extension('2.5.29.14', false, octetString(subject.keyId)), extension('2.5.29.35', false, sequence(tlv(0x80, issuer.keyId)))];
  if (profile === 'server' || profile === 'client') {
    extensions.push(extension('2.5.29.19', true, sequence()), extension('2.5.29.15', true, bitString(Buffer.from([0x80]), 7))); // CA:FALSE; digitalSignature
    extensions.push(extension('2.5.29.37', false, sequence(oid(profile === 'server' ? '1.3.6.1.5.5.7.3.1' : '1.3.6.1.5.5.7.3.2'))));
  } else {
    extensions.push(extension('2.5.29.19', true, sequence(boolean(true)))); // CA:TRUE, as `openssl req -x509` makes them
  }
  if (profile === 'ca') extensions.push(extension('2.5.29.15', true, bitString(Buffer.from([0x86]), 1))); // digitalSignature, keyCertSign, cRLSign
  const loopback = tlv(0x87, Buffer.from([127, 0, 0, 1]));
  if (profile === 'server') extensions.push(extension('2.5.29.17', false, sequence(loopback, tlv(0x82, Buffer.from('localhost', 'ascii')))));
  if (profile === 'self-signed') extensions.push(extension('2.5.29.17', false, sequence(loopback)));
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ECDSA_WITH_SHA256,
    commonName(issuer.cn),
    sequence(utcTime(new Date(now - 60_000)), utcTime(new Date(now + 2 * 24 * 3600 * 1000))),
    commonName(subject.cn),
    subject.spki,
    explicit(3, sequence(...extensions)),
  );
  const der = sequence(tbs, ECDSA_WITH_SHA256, bitString(sign('sha256', tbs, issuer.key)));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

const fileName = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, '-');

export function createTestPki(dir = mkdtempSync(join(tmpdir(), 'tcp-echo-tls-'))): TestPki {
  const ca = newParty('tcp-echo test CA');
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, certificate(ca, ca, 'ca'));

  const write = (party: Party, issuer: Party, profile: Profile, name: string): TestCert => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(keyFile, party.key.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(certFile, certificate(party, issuer, profile));
    return { cn: party.cn, certFile, keyFile };
  };
  const issue = (kind: 'server' | 'client', cn: string, name = fileName(cn)) => write(newParty(cn), ca, kind, name);
  const selfSigned = (cn: string, name = fileName(cn)) => {
    const party = newParty(cn);
    return write(party, party, 'self-signed', name);
  };

  return {
    dir,
    caFile,
    server: issue('server', 'tcp-echo test server', 'server'),
    client: issue('client', 'tcp-echo test client', 'client'),
    issue,
    selfSigned,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
