import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway PKI for tests, made with the `openssl` command (Debian package `openssl`; check with
 * toolAvailable('openssl', 'openssl') first). EC P-256 keys, valid for two days.
 */
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

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const fileName = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, '-');

export function createTestPki(dir = mkdtempSync(join(tmpdir(), 'tcp-echo-tls-'))): TestPki {
  const caFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKeyFile, '-out', caFile, '-days', '2', '-subj', '/CN=tcp-echo test CA']);

  const issue = (kind: 'server' | 'client', cn: string, name = fileName(cn)): TestCert => {
    const keyFile = join(dir, `${name}.key`);
    const certFile = join(dir, `${name}.crt`);
    const csrFile = join(dir, `${name}.csr`);
    const extFile = join(dir, `${name}.ext`);
    const extensions = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'];
    if (kind === 'server') extensions.push('extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
    else extensions.push('extendedKeyUsage=clientAuth');
    writeFileSync(extFile, `${extensions.join('\n')}\n`);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${cn}`]);
    openssl(['x509', '-req', '-in', csrFile, '-CA', caFile, '-CAkey', caKeyFile, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-extfile', extFile, '-out', certFile]);
    return { cn, certFile, keyFile };
  };

  const selfSigned = (cn: string, name = fileName(cn)): TestCert => {
    const keyFile = join(dir, `${name}.key`);
    const certFile = join(dir, `${name}.crt`);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1']);
    return { cn, certFile, keyFile };
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
