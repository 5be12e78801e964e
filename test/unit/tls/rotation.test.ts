// Certificates that rotate by themselves: the service watches its certificate files and reloads them
// once they settle, the way Kubernetes delivers a renewed Secret (the kubelet writes a new timestamped
// directory, re-points `..data` at it atomically, and removes the old one). Real files, a real
// service in this process, real TLS clients.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestPki, type TestCert, type TestPki } from '../../support/certs.js';
import { patternedBytes, roundTrip } from '../../support/echo-client.js';
import { listenerPorts, sample, scrape } from '../../support/metrics.js';
import { capturingLogger } from '../../support/logger.js';
import { startService, type RunningService } from '../../support/service.js';
import { openTls, tlsRoundTrip } from '../../support/tls.js';
import { waitFor } from '../../support/wait.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
afterAll(() => pki.cleanup());

let running: RunningService | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** A Secret volume as the kubelet lays it out: tls.crt and tls.key are links through `..data` to a timestamped directory. */
function secretVolume(first: TestCert, name: string) {
  const volume = join(pki.dir, name);
  let generation = 0;
  const writeGeneration = (cert: TestCert) => {
    const directory = `..2026_11_30_00_00_${String(generation++).padStart(2, '0')}`;
    mkdirSync(join(volume, directory));
    copyFileSync(cert.certFile, join(volume, directory, 'tls.crt'));
    copyFileSync(cert.keyFile, join(volume, directory, 'tls.key'));
    return directory;
  };
  mkdirSync(volume);
  let current = writeGeneration(first);
  symlinkSync(current, join(volume, '..data'));
  symlinkSync('..data/tls.crt', join(volume, 'tls.crt'));
  symlinkSync('..data/tls.key', join(volume, 'tls.key'));
  return {
    certFile: join(volume, 'tls.crt'),
    keyFile: join(volume, 'tls.key'),
    /** The kubelet's update: new directory, atomic swap of `..data`, old directory removed. */
    swapTo(cert: TestCert) {
      const next = writeGeneration(cert);
      symlinkSync(next, join(volume, '..data_tmp'));
      renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
      rmSync(join(volume, current), { recursive: true });
      current = next;
    },
  };
}

const peerCN = async (port: number) => (await tlsRoundTrip(port, Buffer.from('x'))).peerCN;
const reloads = async (httpPort: number, result: 'ok' | 'error') => sample(await scrape(httpPort), `echo_tls_reloads_total{result="${result}"}`);

describe('certificate files that change on disk', () => {
  it('a kubelet Secret update reaches new handshakes within seconds; open connections keep echoing', async () => {
    const volume = secretVolume(await pki.issue('server', 'generation one'), 'secret-swap');
    running = await startService({ ECHO_LISTENERS: 'tls://127.0.0.1:0', ECHO_TLS_CERT: volume.certFile, ECHO_TLS_KEY: volume.keyFile });
    const port = (await listenerPorts(running.httpPort)).get('tls') as number;
    expect(await peerCN(port)).toBe('generation one');
    const open = await openTls(port);
    try {
      volume.swapTo(await pki.issue('server', 'generation two'));
      await waitFor(async () => (await peerCN(port)) === 'generation two', { timeoutMs: 5000, what: 'the renewed certificate in a new handshake' });
      expect(await reloads(running.httpPort, 'ok')).toBe(1);
      // The connection made before the swap keeps its session and echoes on.
      expect(open.getPeerCertificate().subject?.CN).toBe('generation one');
      const payload = patternedBytes(50_000, 2);
      expect((await roundTrip(open, payload)).equals(payload)).toBe(true);
    } finally {
      open.destroy();
    }
  });

  it('a pair written in place one file at a time is loaded only once it matches; a broken one keeps the old, counted', async () => {
    const directory = join(pki.dir, 'in-place');
    mkdirSync(directory);
    const first = await pki.issue('server', 'in place one');
    const certFile = join(directory, 'server.crt');
    const keyFile = join(directory, 'server.key');
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    running = await startService({ ECHO_LISTENERS: 'tls://127.0.0.1:0', ECHO_TLS_CERT: certFile, ECHO_TLS_KEY: keyFile });
    const port = (await listenerPorts(running.httpPort)).get('tls') as number;

    // Half a pair: the new certificate beside the old key. Never loaded; the failed reload is counted.
    const second = await pki.issue('server', 'in place two');
    copyFileSync(second.certFile, certFile);
    await waitFor(async () => (await reloads(running!.httpPort, 'error')) === 1, { timeoutMs: 5000, what: 'the mismatched pair refused' });
    expect(await peerCN(port)).toBe('in place one');

    // The key follows: the pair matches and is loaded.
    copyFileSync(second.keyFile, keyFile);
    await waitFor(async () => (await peerCN(port)) === 'in place two', { timeoutMs: 5000, what: 'the completed pair loaded' });
    expect(await reloads(running.httpPort, 'ok')).toBe(1);

    // Truncated mid-write: refused, the working certificate stays.
    writeFileSync(certFile, readFileSync(second.certFile).subarray(0, 100));
    await waitFor(async () => (await reloads(running!.httpPort, 'error')) === 2, { timeoutMs: 5000, what: 'the truncated certificate refused' });
    expect(await peerCN(port)).toBe('in place two');
  });

  it('a change that leaves the files as they were reloads nothing', async () => {
    const volume = secretVolume(await pki.issue('server', 'unchanged'), 'secret-touch');
    const { logger, lines } = capturingLogger();
    running = await startService({ ECHO_LISTENERS: 'tls://127.0.0.1:0', ECHO_TLS_CERT: volume.certFile, ECHO_TLS_KEY: volume.keyFile, LOG_LEVEL: 'debug' }, logger);
    const port = (await listenerPorts(running.httpPort)).get('tls') as number;
    // The same certificate through a new directory (what the kubelet does when another key of the Secret changes).
    volume.swapTo({ cn: 'unchanged', certFile: volume.certFile, keyFile: volume.keyFile });
    utimesSync(volume.certFile, new Date(), new Date());
    await waitFor(() => lines.some((line) => line.event === 'tls_files_unchanged'), { timeoutMs: 5000, what: 'the watch to look and find nothing new' });
    expect(await reloads(running.httpPort, 'ok')).toBe(0);
    expect(await peerCN(port)).toBe('unchanged');
    volume.swapTo(await pki.issue('server', 'changed'));
    await waitFor(async () => (await peerCN(port)) === 'changed', { timeoutMs: 5000, what: 'the later change loaded' });
    expect(await reloads(running.httpPort, 'ok')).toBe(1);
  });
});
