// The probe's TLS channel against the service's TLS endpoint with a test PKI: verification by CA
// and name, --insecure, mutual TLS, handshake failures by kind; and the certificate files read up
// front, a bad one an argument error naming its option.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProbeArgumentError, type TlsOptions } from '../../../src/probe/args.js';
import { ProbeFailure } from '../../../src/probe/errors.js';
import { createMessagePattern } from '../../../src/probe/pattern.js';
import { loadTlsClientMaterial, tlsChannels, type TlsClientMaterial } from '../../../src/probe/tls.js';
import type { TestPki } from '../../support/certs.js';
import { startTcpServer } from '../../support/probe-targets.js';
import { startTlsEcho, startTlsEchoWithPki, type TlsEcho } from '../../support/tls.js';

const NO_FILES: TlsOptions = { caFile: undefined, certFile: undefined, keyFile: undefined, insecure: false, servername: undefined };
const pattern = createMessagePattern(256);

/** One message over a new channel, closed after; rejects with the ProbeFailure. */
async function probeOnce(port: number, material: TlsClientMaterial, host = '127.0.0.1'): Promise<void> {
  const channel = await tlsChannels({ host, port, timeoutMs: 5000, proxy: undefined, bannerLines: 0 }, material)(0);
  await channel.exchange(pattern.message(3), 3);
  await channel.close();
}

async function failureOf(promise: Promise<unknown>): Promise<ProbeFailure> {
  const error = await promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof ProbeFailure)) throw new Error(`expected a ProbeFailure, got ${String(error)}`);
  return error;
}

describe('tls channel', () => {
  let pki: TestPki;
  let echo: TlsEcho;
  let mutual: TlsEcho;
  let stop: Array<() => Promise<void>>;
  const material = (options: Partial<TlsOptions>) => loadTlsClientMaterial({ ...NO_FILES, ...options }, (path) => readFileSync(path));

  beforeAll(async () => {
    const plain = await startTlsEchoWithPki();
    pki = plain.pki;
    echo = plain.echo;
    mutual = await startTlsEcho({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCaFile: pki.caFile });
    stop = [() => mutual.stop(), plain.stop];
  });
  afterAll(async () => {
    for (const step of stop) await step();
  });

  it('verifies the server against --ca, by IP address (no SNI) or by --servername', async () => {
    await probeOnce(echo.port, material({ caFile: pki.caFile }));
    await probeOnce(echo.port, material({ caFile: pki.caFile, servername: 'localhost' }));
  });

  it('a certificate no trusted CA signed: tls_handshake; --insecure goes ahead', async () => {
    expect((await failureOf(probeOnce(echo.port, material({})))).kind).toBe('tls_handshake');
    await probeOnce(echo.port, material({ insecure: true }));
  });

  it('a name the certificate does not hold: tls_handshake', async () => {
    const failure = await failureOf(probeOnce(echo.port, material({ caFile: pki.caFile, servername: 'elsewhere.example' })));
    expect(failure.kind).toBe('tls_handshake');
    expect(failure.message).toMatch(/elsewhere\.example/);
  });

  it('mutual TLS: without a client certificate, tls_handshake; with --cert/--key from the CA, the echo', async () => {
    expect((await failureOf(probeOnce(mutual.port, material({ caFile: pki.caFile })))).kind).toBe('tls_handshake');
    await probeOnce(mutual.port, material({ caFile: pki.caFile, certFile: pki.client.certFile, keyFile: pki.client.keyFile }));
  });

  it('a server that does not speak TLS: tls_handshake', async () => {
    const plainTcp = await startTcpServer((socket) => socket.end('SSH-2.0-not-tls\r\n'));
    try {
      expect((await failureOf(probeOnce(plainTcp.port, material({ insecure: true })))).kind).toBe('tls_handshake');
    } finally {
      await plainTcp.close();
    }
  });

  describe('loadTlsClientMaterial', () => {
    const argumentError = (options: Partial<TlsOptions>): ProbeArgumentError => {
      try {
        material(options);
      } catch (error) {
        if (error instanceof ProbeArgumentError) return error;
        throw error;
      }
      throw new Error('accepted');
    };

    it('a file that cannot be read: names the option and the file', () => {
      const error = argumentError({ caFile: join(pki.dir, 'missing.crt') });
      expect(error.option).toBe('--ca');
      expect(error.message).toBe(`invalid argument: --ca=${JSON.stringify(join(pki.dir, 'missing.crt'))}: cannot read the file: ENOENT`);
    });

    it('not PEM, or a key that does not match the certificate: names the option', () => {
      const junk = join(pki.dir, 'junk.pem');
      writeFileSync(junk, 'not a certificate\n');
      expect(argumentError({ caFile: junk }).option).toBe('--ca');
      expect(argumentError({ certFile: pki.client.certFile, keyFile: pki.server.keyFile }).option).toBe('--cert');
      expect(argumentError({ certFile: junk, keyFile: pki.client.keyFile }).option).toBe('--cert');
    });
  });
});
