// Loading TLS certificates and keys (src/tls/material.ts): what loads, and a message naming the file
// and the problem for everything that does not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTlsMaterial, loadTlsMaterialSync, TlsMaterialError, type TlsFiles, type TlsMaterialProblem, type TlsFileRole } from '../../../src/tls/material.js';
import { createTestPki, type TestPki } from '../../support/certs.js';

describe('loadTlsMaterial', () => {
  let pki: TestPki;
  const file = (name: string, content: string | Buffer) => {
    const path = join(pki.dir, name);
    writeFileSync(path, content);
    return path;
  };
  beforeAll(async () => {
    pki = await createTestPki();
  });
  afterAll(() => pki.cleanup());

  /** Both loaders fail the same way, with a message naming the file. */
  async function expectFailure(files: TlsFiles, role: TlsFileRole, problem: TlsMaterialProblem, message: RegExp): Promise<TlsMaterialError> {
    const failure = await loadTlsMaterial(files).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(TlsMaterialError);
    const error = failure as TlsMaterialError;
    expect({ role: error.role, problem: error.problem }).toEqual({ role, problem });
    expect(error.message).toContain(`'${error.file}'`);
    expect(error.message).toMatch(message);
    let syncFailure: unknown;
    try {
      loadTlsMaterialSync(files);
    } catch (caught) {
      syncFailure = caught;
    }
    expect(syncFailure).toBeInstanceOf(TlsMaterialError);
    expect((syncFailure as TlsMaterialError).message).toBe(error.message);
    return error;
  }

  it('loads a certificate and its key and summarises the certificate', async () => {
    const material = await loadTlsMaterial({ certFile: pki.server.certFile, keyFile: pki.server.keyFile });
    expect(material.cert.equals(readFileSync(pki.server.certFile))).toBe(true);
    expect(material.key.equals(readFileSync(pki.server.keyFile))).toBe(true);
    expect(material.clientCa).toBeUndefined();
    expect(material.certificate.commonName).toBe('tcp-echo test server');
    expect(material.certificate.issuer).toBe('CN=tcp-echo test CA');
    expect(material.certificate.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(material.certificate.notAfter.getTime()).toBeGreaterThan(Date.now() + 24 * 3600 * 1000);
    expect(loadTlsMaterialSync({ certFile: pki.server.certFile, keyFile: pki.server.keyFile }).certificate).toEqual(material.certificate);
  });

  it('loads a client CA bundle for mutual TLS, and a certificate file with the chain after the leaf', async () => {
    const chain = file('chain.crt', readFileSync(pki.server.certFile, 'utf8') + readFileSync(pki.caFile, 'utf8'));
    const material = await loadTlsMaterial({ certFile: chain, keyFile: pki.server.keyFile, clientCaFile: pki.caFile });
    expect(material.clientCa?.equals(readFileSync(pki.caFile))).toBe(true);
    expect(material.certificate.commonName).toBe('tcp-echo test server');
  });

  it('names a missing file', async () => {
    const missing = join(pki.dir, 'nope.crt');
    await expectFailure({ certFile: missing, keyFile: pki.server.keyFile }, 'cert', 'missing', /TLS certificate file '.*nope\.crt' does not exist/);
    await expectFailure({ certFile: pki.server.certFile, keyFile: join(pki.dir, 'nope.key') }, 'key', 'missing', /TLS private key file .* does not exist/);
    await expectFailure({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCaFile: join(pki.dir, 'no', 'ca.crt') }, 'clientCa', 'missing', /TLS client CA file .* does not exist/);
  });

  it('names an unreadable file', async () => {
    await expectFailure({ certFile: pki.dir, keyFile: pki.server.keyFile }, 'cert', 'unreadable', /is a directory/);
    if (process.getuid?.() !== 0) {
      // root reads anything, so this half only runs as an ordinary user
      const locked = file('locked.key', readFileSync(pki.server.keyFile));
      chmodSync(locked, 0o000);
      await expectFailure({ certFile: pki.server.certFile, keyFile: locked }, 'key', 'unreadable', /permission denied \(EACCES\)/);
    }
  });

  it('says when a file is not PEM, or holds the wrong kind of PEM (swapped settings)', async () => {
    const text = file('text.crt', 'hello, I am not a certificate\n');
    const empty = file('empty.key', '');
    await expectFailure({ certFile: text, keyFile: pki.server.keyFile }, 'cert', 'not_pem', /is not a PEM certificate: expected a '-----BEGIN CERTIFICATE-----' block/);
    await expectFailure({ certFile: pki.server.certFile, keyFile: empty }, 'key', 'not_pem', /is not a PEM private key/);
    await expectFailure({ certFile: pki.server.keyFile, keyFile: pki.server.certFile }, 'cert', 'not_pem', /holds a 'PRIVATE KEY' block, not a certificate \(certificate and key swapped\?\)/);
    await expectFailure({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCaFile: text }, 'clientCa', 'not_pem', /TLS client CA file/);
  });

  it('says when a PEM block does not parse', async () => {
    const pem = readFileSync(pki.server.certFile, 'utf8');
    const mangled = file('mangled.crt', pem.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA'));
    await expectFailure({ certFile: mangled, keyFile: pki.server.keyFile }, 'cert', 'invalid', /does not parse/);
    const keyPem = readFileSync(pki.server.keyFile, 'utf8');
    const badKey = file('bad.key', keyPem.replace(/\n[A-Za-z0-9+/]{16}/, '\n////////////////'));
    await expectFailure({ certFile: pki.server.certFile, keyFile: badKey }, 'key', 'invalid', /private key that does not parse/);
  });

  it('says when the key does not belong to the certificate', async () => {
    const error = await expectFailure({ certFile: pki.server.certFile, keyFile: pki.client.keyFile }, 'key', 'key_mismatch', /does not match the certificate in '.*server\.crt' \(subject CN=tcp-echo test server\)/);
    expect(error.file).toBe(pki.client.keyFile);
  });

  it('refuses an encrypted key with a hint', async () => {
    // PKCS#8 encrypted with AES-256 (an '-----BEGIN ENCRYPTED PRIVATE KEY-----' block), as `openssl pkey -aes256` writes it.
    const encrypted = file('encrypted.key', createPrivateKey(readFileSync(pki.server.keyFile)).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }));
    await expectFailure({ certFile: pki.server.certFile, keyFile: encrypted }, 'key', 'encrypted_key', /is encrypted; give an unencrypted key/);
  });
});
