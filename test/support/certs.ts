// A throwaway PKI for tests, made in this process (no openssl command) with @peculiar/x509 on
// WebCrypto: EC P-256 keys, X.509 v3 certificates signed ECDSA-SHA256, valid for two days, as PEM files.
// (A well-kept library instead of encoding DER by hand; it needs the reflect-metadata polyfill.)
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

x509.cryptoProvider.set(webcrypto);

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
  issue(kind: 'server' | 'client', cn: string, name?: string): Promise<TestCert>;
  /** A self-signed certificate no CA vouches for (a rogue client, or an untrusted server). */
  selfSigned(cn: string, name?: string): Promise<TestCert>;
  cleanup(): void;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const VALID_MS = 2 * 24 * 3600 * 1000;

interface Party {
  readonly cn: string;
  readonly keys: webcrypto.CryptoKeyPair;
}
type Profile = 'ca' | 'server' | 'client' | 'self-signed';

const newParty = async (cn: string): Promise<Party> => ({ cn, keys: await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) });

async function certificate(subject: Party, issuer: Party, profile: Profile): Promise<string> {
  const { KeyUsageFlags: usage } = x509;
  const extensions: x509.Extension[] = [await x509.SubjectKeyIdentifierExtension.create(subject.keys.publicKey), await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey)];
  if (profile === 'server' || profile === 'client') {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(usage.digitalSignature, true));
    extensions.push(new x509.ExtendedKeyUsageExtension([profile === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]));
  } else {
    extensions.push(new x509.BasicConstraintsExtension(true, undefined, true)); // CA:TRUE, as `openssl req -x509` makes them
  }
  if (profile === 'ca') extensions.push(new x509.KeyUsagesExtension(usage.digitalSignature | usage.keyCertSign | usage.cRLSign, true));
  if (profile === 'server') extensions.push(new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }, { type: 'dns', value: 'localhost' }]));
  if (profile === 'self-signed') extensions.push(new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]));
  const serial = randomBytes(8);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40; // positive
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    issuer: `CN=${issuer.cn}`,
    subject: `CN=${subject.cn}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + VALID_MS),
    signingAlgorithm: ALGORITHM,
    publicKey: subject.keys.publicKey,
    signingKey: issuer.keys.privateKey,
    extensions,
  });
  return `${cert.toString('pem').trimEnd()}\n`; // PEM files end with a newline (chains are concatenated)
}

async function privateKeyPem(party: Party): Promise<string> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', party.keys.privateKey));
  return `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

const fileName = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, '-');

export async function createTestPki(dir = mkdtempSync(join(tmpdir(), 'tcp-echo-tls-'))): Promise<TestPki> {
  const ca = await newParty('tcp-echo test CA');
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, await certificate(ca, ca, 'ca'));

  const write = async (party: Party, issuer: Party, profile: Profile, name: string): Promise<TestCert> => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(keyFile, await privateKeyPem(party));
    writeFileSync(certFile, await certificate(party, issuer, profile));
    return { cn: party.cn, certFile, keyFile };
  };
  const issue = async (kind: 'server' | 'client', cn: string, name = fileName(cn)) => write(await newParty(cn), ca, kind, name);
  const selfSigned = async (cn: string, name = fileName(cn)) => {
    const party = await newParty(cn);
    return write(party, party, 'self-signed', name);
  };

  return {
    dir,
    caFile,
    server: await issue('server', 'tcp-echo test server', 'server'),
    client: await issue('client', 'tcp-echo test client', 'client'),
    issue,
    selfSigned,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
