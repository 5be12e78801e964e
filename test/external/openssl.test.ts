// TLS against the openssl command (Debian package `openssl`): `openssl s_client` echoing a line, giving
// up on a server certificate no CA it trusts signed, and renegotiating; against the TLS endpoint with
// the service's EchoConnection (as in test/unit/tls/endpoint.test.ts) and a tls listener of the service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createTestPki, type TestPki } from '../support/certs.js';
import { listenerPorts } from '../support/metrics.js';
import { startService, type RunningService } from '../support/service.js';
import { startTlsEchoWithPki, type TlsEcho } from '../support/tls.js';
import { toolAvailable } from '../support/tools.js';
import { waitFor, within } from '../support/wait.js';

const haveOpenssl = toolAvailable('openssl', 'openssl');

/**
 * `openssl s_client -connect 127.0.0.1:<port> ...args`: what it prints (stdout, and both streams in
 * the order they came). It keeps the connection while its stdin is open: stop() ends it.
 */
function sClient(port: number, args: string[]) {
  const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '', all: '' };
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    output.stdout += text;
    output.all += text;
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    output.stderr += text;
    output.all += text;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill();
        await within(exited, 5000, 's_client exit');
      }
    },
  };
}

describe.runIf(haveOpenssl)('TLS echo endpoint', () => {
  let pki: TestPki;
  let echo: TlsEcho;
  let stop: () => Promise<void>;
  beforeAll(async () => ({ pki, echo, stop } = await startTlsEchoWithPki()));
  afterAll(() => stop?.());

  it('echoes a line through `openssl s_client -quiet`, verifying the server certificate', async () => {
    const client = sClient(echo.port, ['-quiet', '-CAfile', pki.caFile, '-verify_return_error', '-verify_ip', '127.0.0.1']);
    try {
      const line = `hello from s_client ${Date.now()}\n`;
      client.child.stdin.write(line); // s_client sends it once the handshake is done
      await waitFor(() => client.output.stdout.includes(line), { timeoutMs: 10_000, what: `the echoed line (stderr: ${client.output.stderr})` });
      expect(client.output.stdout).toBe(line);
    } finally {
      // -quiet implies -ign_eof: s_client would wait forever for the server, so end it here.
      await client.stop();
    }
  });

  it('a client that rejects the server certificate (openssl s_client, unknown CA) is counted as server_cert_rejected', async () => {
    const before = echo.endpoint.stats.handshakeFailures.server_cert_rejected;
    const otherCa = await pki.selfSigned('some other CA', 'other-ca');
    const client = sClient(echo.port, ['-quiet', '-CAfile', otherCa.certFile, '-verify_return_error']);
    try {
      // With -verify_return_error s_client aborts the handshake with an unknown_ca alert and exits.
      const [code] = await within(client.exited, 10_000, 's_client to give up');
      expect(code).not.toBe(0);
    } finally {
      await client.stop();
    }
    await waitFor(() => echo.endpoint.stats.handshakeFailures.server_cert_rejected === before + 1, { what: 'the rejection to be counted' });
  });

  // Same server: what it does after the handshake.
  describe('errors on an established connection: each one closes it', () => {
    it('`openssl s_client -tls1_2` with R lines: the first renegotiation ends the connection, none succeeds', async () => {
      const refused = echo.endpoint.stats.renegotiationsRefused;
      const client = sClient(echo.port, ['-tls1_2', '-CAfile', pki.caFile]);
      try {
        client.child.stdin.write('hello\n');
        await waitFor(() => /^hello$/m.test(client.output.all.split('---').at(-1) ?? ''), { timeoutMs: 10_000, what: `the echoed line (output: ${client.output.all})` });
        client.child.stdin.write('R\n'.repeat(20));
        await within(client.exited, 10_000, 's_client to see the connection closed');
      } finally {
        await client.stop();
      }
      expect(echo.endpoint.stats.renegotiationsRefused).toBe(refused + 1);
    });
  });
});

describe.runIf(haveOpenssl)('ECHO_LISTENERS: every kind of listener in one service', () => {
  let pki: TestPki;
  let running: RunningService;
  let ports: Map<string, number>;
  beforeAll(async () => {
    pki = await createTestPki();
    running = await startService({ ECHO_LISTENERS: 'tls://127.0.0.1:0', ECHO_TLS_CERT: pki.server.certFile, ECHO_TLS_KEY: pki.server.keyFile });
    ports = await listenerPorts(running.httpPort);
  });
  afterAll(async () => {
    await running?.stop();
    pki?.cleanup();
  });

  it('tls: openssl s_client gets its line back', async () => {
    // s_client keeps the connection while stdin is open: wait for the echoed line, then end it.
    const client = sClient(ports.get('tls') as number, ['-CAfile', pki.caFile, '-quiet', '-verify_return_error']);
    client.child.stdin.write('hello through openssl\n');
    try {
      await waitFor(() => client.output.stdout.includes('hello through openssl'), { timeoutMs: 10_000, what: 'the echo through openssl s_client' });
    } finally {
      await client.stop();
    }
    expect(client.output.stdout).toContain('hello through openssl');
  });
});
