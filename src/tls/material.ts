import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';

/** Where the TLS listener's PEM files are. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle that client certificates must chain to; given = mutual TLS. */
  readonly clientCaFile?: string;
}

export type TlsFileRole = 'cert' | 'key' | 'clientCa';

export type TlsMaterialProblem = 'missing' | 'unreadable' | 'not_pem' | 'invalid' | 'encrypted_key' | 'key_mismatch';

const ROLE_NAMES: Record<TlsFileRole, string> = {
  cert: 'TLS certificate file',
  key: 'TLS private key file',
  clientCa: 'TLS client CA file',
};

/** A PEM file that cannot be used; `message` names the file and what is wrong with it. */
export class TlsMaterialError extends Error {
  override readonly name = 'TlsMaterialError';
  constructor(
    readonly role: TlsFileRole,
    readonly file: string,
    readonly problem: TlsMaterialProblem,
    detail: string,
  ) {
    super(`${ROLE_NAMES[role]} '${file}' ${detail}`);
  }
}

/** What the leaf certificate says, for logs and an expiry gauge. */
export interface CertificateSummary {
  readonly subject: string;
  /** The subject's CN, or undefined if it has none. */
  readonly commonName: string | undefined;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Validated PEM contents, ready for tls.createServer / server.setSecureContext. */
export interface TlsMaterial {
  readonly files: TlsFiles;
  /** Leaf first, then any intermediates, as read. */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
  readonly certificate: CertificateSummary;
}

/**
 * Reads and checks the PEM files: each exists and is readable, holds PEM blocks of the right kind
 * that parse, the key is not encrypted, the key belongs to the (first) certificate, and OpenSSL
 * accepts the lot as a secure context. Throws TlsMaterialError naming the file and the problem.
 */
export async function loadTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  const read = (role: TlsFileRole, file: string) => readFile(file).catch((error: unknown) => Promise.reject(readError(role, file, error)));
  const [cert, key, clientCa] = await Promise.all([
    read('cert', files.certFile),
    read('key', files.keyFile),
    files.clientCaFile === undefined ? undefined : read('clientCa', files.clientCaFile),
  ]);
  return checkTlsMaterial(files, cert, key, clientCa);
}

/** loadTlsMaterial for configuration parsing, before anything listens. */
export function loadTlsMaterialSync(files: TlsFiles): TlsMaterial {
  const readAs = (role: TlsFileRole, file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw readError(role, file, error);
    }
  };
  return checkTlsMaterial(
    files,
    readAs('cert', files.certFile),
    readAs('key', files.keyFile),
    files.clientCaFile === undefined ? undefined : readAs('clientCa', files.clientCaFile),
  );
}

function readError(role: TlsFileRole, file: string, error: unknown): TlsMaterialError {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new TlsMaterialError(role, file, 'missing', 'does not exist');
    case 'EACCES':
    case 'EPERM':
      return new TlsMaterialError(role, file, 'unreadable', `cannot be read: permission denied (${code})`);
    case 'EISDIR':
      return new TlsMaterialError(role, file, 'unreadable', 'is a directory, not a PEM file');
    default:
      return new TlsMaterialError(role, file, 'unreadable', `cannot be read: ${code ?? (error as Error).message}`);
  }
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN (RSA |EC |ENCRYPTED |)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----/;
const ANY_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/;

function certificateBlocks(role: TlsFileRole, file: string, pem: string): X509Certificate[] {
  const blocks = pem.match(CERT_BLOCK);
  if (!blocks) {
    const other = ANY_BLOCK.exec(pem)?.[1];
    const hint = other ? `: it holds a '${other}' block, not a certificate${other.includes('PRIVATE KEY') ? ' (certificate and key swapped?)' : ''}` : ": expected a '-----BEGIN CERTIFICATE-----' block";
    throw new TlsMaterialError(role, file, 'not_pem', `is not a PEM certificate${hint}`);
  }
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new TlsMaterialError(role, file, 'invalid', `holds a certificate (#${index + 1}) that does not parse: ${(error as Error).message}`);
    }
  });
}

function privateKey(file: string, pem: string): KeyObject {
  const match = KEY_BLOCK.exec(pem);
  if (!match) {
    const other = ANY_BLOCK.exec(pem)?.[1];
    const hint = other ? `: it holds a '${other}' block${other === 'CERTIFICATE' ? ' (certificate and key swapped?)' : ''}` : ": expected a '-----BEGIN PRIVATE KEY-----' block";
    throw new TlsMaterialError('key', file, 'not_pem', `is not a PEM private key${hint}`);
  }
  if (match[1] === 'ENCRYPTED ' || /Proc-Type:\s*4,ENCRYPTED/.test(match[0])) {
    throw new TlsMaterialError('key', file, 'encrypted_key', 'is encrypted; give an unencrypted key (e.g. openssl pkey -in key.pem -out plain.pem)');
  }
  try {
    return createPrivateKey(match[0]);
  } catch (error) {
    throw new TlsMaterialError('key', file, 'invalid', `holds a private key that does not parse: ${(error as Error).message}`);
  }
}

function checkTlsMaterial(files: TlsFiles, cert: Buffer, key: Buffer, clientCa: Buffer | undefined): TlsMaterial {
  const [leaf] = certificateBlocks('cert', files.certFile, cert.toString('latin1')) as [X509Certificate, ...X509Certificate[]];
  const keyObject = privateKey(files.keyFile, key.toString('latin1'));
  if (!leaf.checkPrivateKey(keyObject)) {
    throw new TlsMaterialError('key', files.keyFile, 'key_mismatch', `does not match the certificate in '${files.certFile}' (subject ${oneLine(leaf.subject)})`);
  }
  if (clientCa !== undefined && files.clientCaFile !== undefined) certificateBlocks('clientCa', files.clientCaFile, clientCa.toString('latin1'));
  try {
    createSecureContext({ cert, key, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (error) {
    // What is left is OpenSSL refusing something the checks above let through (e.g. a key too small).
    const [role, file] = clientCa && files.clientCaFile && /ca|x509|cert/i.test((error as Error).message) && !/key/i.test((error as Error).message) ? (['clientCa', files.clientCaFile] as const) : (['cert', files.certFile] as const);
    throw new TlsMaterialError(role, file, 'invalid', `is not accepted by OpenSSL: ${(error as Error).message}`);
  }
  return { files, cert, key, clientCa, certificate: summarize(leaf) };
}

function oneLine(distinguishedName: string): string {
  return distinguishedName.split('\n').filter(Boolean).join(', ');
}

function summarize(certificate: X509Certificate): CertificateSummary {
  const commonName = /^CN=(.*)$/m.exec(certificate.subject)?.[1];
  return {
    subject: oneLine(certificate.subject),
    commonName,
    issuer: oneLine(certificate.issuer),
    serialNumber: certificate.serialNumber,
    fingerprint256: certificate.fingerprint256,
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
  };
}
