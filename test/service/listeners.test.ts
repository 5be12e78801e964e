// What the listeners do in the built service (`node dist/main.js`): the banner from its template
// and environment, and a TLS certificate reloaded on SIGHUP. The listeners built in process:
// test/unit/listeners/.
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki, type TestPki } from '../support/certs.js';
import { collectUntilEnd, openClient } from '../support/echo-client.js';
import { listenerPorts, sample, scrape } from '../support/metrics.js';
import { spawnServicesPerTest } from '../support/process.js';
import { openTls, tlsRoundTrip } from '../support/tls.js';
import { waitFor } from '../support/wait.js';

const spawnService = spawnServicesPerTest();

describe('banner (ECHO_BANNER)', () => {
  it('sends one line from the template on connect, then a byte-exact echo; the banner is not counted as echo', async () => {
    const service = await spawnService({ env: { ECHO_BANNER: 'tcp-echo {pod_name}/{pod_namespace} on {listener} for {client_addr} env={env:EXTRA}', POD_NAME: 'pod-7', POD_NAMESPACE: 'ns-1', EXTRA: 'x1' } });
    const socket = await openClient(service.echoPort);
    const clientPort = socket.localPort;
    const received = collectUntilEnd(socket);
    socket.end('payload');
    const text = (await received).toString();
    const [banner, rest] = [text.slice(0, text.indexOf('\n')), text.slice(text.indexOf('\n') + 1)];
    expect(banner).toBe(`tcp-echo pod-7/ns-1 on tcp://127.0.0.1:0 for 127.0.0.1:${clientPort} env=x1`);
    expect(rest).toBe('payload');
    const samples = await waitFor(async () => {
      const s = await scrape(service.httpPort);
      return sample(s, 'echo_connections_active') === 0 ? s : undefined;
    });
    expect(sample(samples, 'echo_received_bytes_total')).toBe(7);
    expect(sample(samples, 'echo_sent_bytes_total')).toBe(7);
  });
});

describe('SIGHUP reloads the TLS certificate without dropping connections', () => {
  let pki: TestPki;
  afterAll(() => pki?.cleanup());

  it('an open connection keeps echoing; new handshakes get the new certificate', async () => {
    pki = await createTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'tcp-echo-reload-'));
    const certFile = join(dir, 'server.crt');
    const keyFile = join(dir, 'server.key');
    copyFileSync(pki.server.certFile, certFile);
    copyFileSync(pki.server.keyFile, keyFile);
    const service = await spawnService({ env: { ECHO_LISTENERS: 'tls://127.0.0.1:0', ECHO_TLS_CERT: certFile, ECHO_TLS_KEY: keyFile } });
    const port = (await listenerPorts(service.httpPort)).get('tls') as number;

    const tls = { ca: pki.caFile, servername: 'localhost' };
    const open = await openTls(port, tls);
    expect(open.getPeerCertificate().subject?.CN).toBe('tcp-echo test server');

    const next = await pki.issue('server', 'tcp-echo renewed server');
    copyFileSync(next.certFile, certFile);
    copyFileSync(next.keyFile, keyFile);
    service.kill('SIGHUP');
    await waitFor(async () => sample(await scrape(service.httpPort), 'echo_tls_reloads_total{result="ok"}') === 1, { what: 'the reload' });

    const { peerCN } = await tlsRoundTrip(port, Buffer.from('new'), tls);
    expect(peerCN).toBe('tcp-echo renewed server');
    const echoed = collectUntilEnd(open);
    open.end('old connection still echoes');
    expect((await echoed).toString()).toBe('old connection still echoes');

    // A broken key keeps the current certificate.
    writeFileSync(keyFile, 'not a key');
    service.kill('SIGHUP');
    await waitFor(async () => sample(await scrape(service.httpPort), 'echo_tls_reloads_total{result="error"}') === 1, { what: 'the failed reload' });
    expect((await tlsRoundTrip(port, Buffer.from('x'), tls)).peerCN).toBe('tcp-echo renewed server');
    expect(service.child.exitCode).toBe(null);
    rmSync(dir, { recursive: true, force: true });
  });
});

