// The running service refuses client-initiated TLS renegotiation on every TLS listener kind: the
// connection is closed, counted per listener, and the service goes on echoing for everyone else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { v1Header } from '../../support/proxy-encode.js';
import { listenerPorts, scrape, sample } from '../../support/metrics.js';
import { spawnService, type ServiceProcess } from '../../support/process.js';
import { waitFor, within } from '../../support/wait.js';
import { createTestPki, type TestPki } from '../../support/certs.js';

describe('TLS renegotiation against the running service', () => {
  let pki: TestPki;
  let service: ServiceProcess;
  let ports: Map<string, number>;
  beforeAll(async () => {
    pki = await createTestPki();
    service = await spawnService({
      env: { ECHO_LISTENERS: 'tls://127.0.0.1:0,tls+proxy://127.0.0.1:0', ECHO_TLS_CERT: pki.server.certFile, ECHO_TLS_KEY: pki.server.keyFile },
    });
    ports = await listenerPorts(service.httpPort);
  });
  afterAll(async () => {
    await service?.ensureStopped();
    pki?.cleanup();
  });

  it.each(['tls', 'tls+proxy'])('%s: a client that renegotiates 20 times is closed at the first attempt; others keep echoing', async (scheme) => {
    const port = ports.get(scheme) as number;
    const listener = `${scheme}://127.0.0.1:0`; // the label is the configured name
    const attempt = async () => {
      const raw = netConnect({ host: '127.0.0.1', port });
      await once(raw, 'connect');
      if (scheme === 'tls+proxy') raw.write(v1Header('TCP4', '203.0.113.7', '127.0.0.1', 51000, port));
      const socket = tlsConnect({ socket: raw, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      socket.on('error', () => {});
      await within(once(socket, 'secureConnect'), 10_000, 'TLS handshake');
      return socket;
    };

    const attacker = await attempt();
    let completed = 0;
    for (let i = 0; i < 20; i++) attacker.renegotiate({ rejectUnauthorized: false }, (error) => (completed += error ? 0 : 1));
    await within(once(attacker, 'close'), 5000, 'the service to close the renegotiating client');
    expect(completed).toBe(0);

    const honest = await attempt();
    const echoed: Buffer[] = [];
    honest.on('data', (chunk: Buffer) => echoed.push(chunk));
    honest.end('still echoing\n');
    await within(once(honest, 'end'), 5000, 'the echo');
    expect(Buffer.concat(echoed).toString()).toBe('still echoing\n');

    await waitFor(async () => sample(await scrape(service.httpPort), `echo_tls_renegotiations_refused_total{listener="${listener}"}`) === 1, {
      what: `the refusal counted for ${listener}`,
    });
    const metrics = await scrape(service.httpPort);
    expect(sample(metrics, `echo_connections_closed_total{listener="${listener}",reason="error"}`)).toBe(1);
  });
});
