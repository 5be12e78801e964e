// The TLS endpoint (src/tls) under the service's EchoConnection, over real sockets: echo, handshake
// failures and how each is counted, mutual TLS, reloads. The same against the openssl command:
// test/external/openssl.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { EchoConnection } from '../../../src/tcp/connection.js';
import { rawBytesRead, TlsMaterialError, type TlsFiles } from '../../../src/tls/index.js';
import { createTestPki, type TestPki } from '../../support/certs.js';
import { patternedBytes, readExactly } from '../../support/echo-client.js';
import { openTls, startTlsEcho, startTlsEchoWithPki, tlsRoundTrip, type TlsEcho } from '../../support/tls.js';
import { waitFor, within } from '../../support/wait.js';

function failureCount(echo: TlsEcho): number {
  return Object.values(echo.endpoint.stats.handshakeFailures).reduce((sum, n) => sum + n, 0);
}

describe('TLS echo endpoint', () => {
  let pki: TestPki;
  let echo: TlsEcho;
  let stop: () => Promise<void>;
  beforeAll(async () => ({ pki, echo, stop } = await startTlsEchoWithPki()));
  afterAll(() => stop?.());

  it('echoes byte-exact through Node TLS, verified against the test CA (all byte values, 1 MiB)', async () => {
    const allBytes = Buffer.from(Array.from({ length: 1024 }, (_, i) => i & 0xff));
    const small = await tlsRoundTrip(echo.port, allBytes, { ca: pki.caFile });
    expect(small.echoed.equals(allBytes)).toBe(true);
    expect(small.peerCN).toBe('tcp-echo test server');
    const mib = patternedBytes(1024 * 1024, 42);
    const big = await tlsRoundTrip(echo.port, mib, { ca: pki.caFile });
    expect(big.echoed.length).toBe(mib.length);
    expect(big.echoed.equals(mib)).toBe(true);
    expect(echo.endpoint.stats.handshakeFailures).toEqual({ handshake_failed: 0, client_cert_rejected: 0, server_cert_rejected: 0, timeout: 0, aborted: 0 });
  });

  it('half-close: a client that ends its side with data in flight still receives the whole echo, then EOF', async () => {
    const payload = patternedBytes(300_000, 3);
    const socket = await openTls(echo.port, { ca: pki.caFile });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.end(payload);
    await within(once(socket, 'end'), 20_000, 'echo after half-close');
    expect(Buffer.concat(chunks).equals(payload)).toBe(true);
  });

  it('socket.bytesRead / bytesWritten of a TLSSocket count plaintext, so EchoConnection.bytes() is exact over TLS', async () => {
    const before = echo.sockets.length;
    const client = await openTls(echo.port, { ca: pki.caFile });
    const payload = patternedBytes(100_000, 5);
    const echoed = readExactly(client, payload.length);
    client.write(payload);
    expect((await echoed).equals(payload)).toBe(true);
    const server = await waitFor(() => echo.sockets[before], { what: 'the server-side socket' });
    const connection = [...echo.open].at(-1) as EchoConnection;

    // While the connection is open (what a scrape sees): plaintext, exactly what the client sent.
    await waitFor(() => server.writableLength === 0, { what: 'the echo to be flushed' });
    expect(server.bytesRead).toBe(payload.length);
    expect(server.bytesWritten).toBe(payload.length);
    expect(connection.bytes()).toEqual({ received: payload.length, sent: payload.length });
    expect(client.bytesWritten).toBe(payload.length);
    expect(client.bytesRead).toBe(payload.length);
    // The TCP connection underneath carried more: the handshake plus per-record framing and tags.
    const raw = rawBytesRead(server);
    expect(raw).toBeGreaterThan(payload.length + 200);
    console.log(`plaintext received ${server.bytesRead}, ciphertext read by the TCP socket under it ${raw}`);

    // And after close (the listener adds closed connections' bytes in onClosed).
    const closedBefore = echo.closed.length;
    client.end();
    await within(once(client, 'close'), 5000, 'close');
    await waitFor(() => echo.closed.length > closedBefore, { what: 'the server to close' });
    expect(echo.closed.at(-1)).toEqual({ reason: 'client_end', bytes: { received: payload.length, sent: payload.length } });
  });

  it('a plaintext client on the TLS port is a counted handshake failure, logged at debug; the server keeps serving', async () => {
    const before = echo.endpoint.stats.handshakeFailures.handshake_failed;
    const lines = echo.logLines.length;
    const plain = netConnect({ host: '127.0.0.1', port: echo.port });
    let received = Buffer.alloc(0);
    plain.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    plain.on('error', () => {});
    plain.write('hello, plaintext\n');
    await within(once(plain, 'close'), 5000, 'the server to drop the plaintext client');
    expect(received.includes('hello')).toBe(false);
    await waitFor(() => echo.endpoint.stats.handshakeFailures.handshake_failed === before + 1, { what: 'the failure to be counted' });
    const logged = echo.logLines.slice(lines).filter((line) => line.event === 'tls_handshake_failed');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 20, reason: 'handshake_failed', code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
    expect(echo.logLines.filter((line) => (line.level as number) > 30)).toEqual([]);

    const payload = patternedBytes(5000, 9);
    expect((await tlsRoundTrip(echo.port, payload, { ca: pki.caFile })).echoed.equals(payload)).toBe(true);
  });

  it('a TCP probe (connect, close) is not a failure and is let go at once, not at the handshake timeout', async () => {
    const failures = failureCount(echo);
    const probes = echo.endpoint.stats.probes;
    const probe = netConnect({ host: '127.0.0.1', port: echo.port });
    await once(probe, 'connect');
    probe.end();
    // The handshake timeout of this server is 30 s; the server must close its side well before.
    await within(once(probe, 'close'), 5000, 'the server to close the probe');
    await waitFor(() => echo.endpoint.stats.probes === probes + 1, { what: 'the probe to be counted' });
    expect(failureCount(echo)).toBe(failures);
  });

  it('a client that resets mid-handshake is counted as aborted', async () => {
    const before = echo.endpoint.stats.handshakeFailures.aborted;
    const client = netConnect({ host: '127.0.0.1', port: echo.port });
    await once(client, 'connect');
    client.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // the start of a ClientHello record
    client.resetAndDestroy();
    await waitFor(() => echo.endpoint.stats.handshakeFailures.aborted === before + 1, { what: 'the abort to be counted' });
  });

  it('a Node client that refuses the server certificate just hangs up mid-handshake (no alert): counted as aborted', async () => {
    const before = echo.endpoint.stats.handshakeFailures.aborted;
    const accepted = echo.sockets.length;
    const otherCa = await pki.selfSigned('yet another CA', 'other-ca-2');
    await expect(openTls(echo.port, { ca: otherCa.certFile })).rejects.toThrow(/certificate/i);
    await waitFor(() => echo.endpoint.stats.handshakeFailures.aborted === before + 1, { what: 'the hang-up to be counted' });
    expect(echo.sockets.length).toBe(accepted);
    const logged = echo.logLines.filter((line) => line.event === 'tls_handshake_failed').at(-1);
    expect(logged).toMatchObject({ level: 20, reason: 'aborted', remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
  });

  // Same server: what it does after the handshake.
  describe('errors on an established connection: each one closes it', () => {

    /** An established TLS 1.2 connection (the last version with renegotiation) that has echoed once. */
    async function establishedTls12(raw?: ReturnType<typeof netConnect>): Promise<TLSSocket> {
      const socket = tlsConnect({ ...(raw ? { socket: raw } : { host: '127.0.0.1', port: echo.port }), rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      await within(once(socket, 'secureConnect'), 10_000, 'TLS handshake');
      socket.write('before\n');
      expect((await readExactly(socket, 7)).toString()).toBe('before\n');
      return socket;
    }

    it('client-initiated renegotiation (Node client) is refused: the connection is closed and counted, the server keeps serving', async () => {
      const refused = echo.endpoint.stats.renegotiationsRefused;
      const closed = echo.closed.length;
      const socket = await establishedTls12();
      socket.on('error', () => {});
      let renegotiated = false;
      socket.renegotiate({ rejectUnauthorized: false }, (error) => (renegotiated ||= !error));
      await within(once(socket, 'close'), 5000, 'the server to close the renegotiating client');
      expect(renegotiated).toBe(false);
      await waitFor(() => echo.closed.length > closed, { what: 'the server side to close' });
      expect(echo.closed.at(-1)).toMatchObject({ reason: 'error', bytes: { received: 7, sent: 7 } });
      expect(echo.endpoint.stats.renegotiationsRefused).toBe(refused + 1);
      expect(echo.logLines.filter((line) => line.event === 'tls_renegotiation_refused').at(-1)).toMatchObject({ level: 20 });
      const payload = patternedBytes(3000, 4);
      expect((await tlsRoundTrip(echo.port, payload, { ca: pki.caFile })).echoed.equals(payload)).toBe(true);
    });

    it('a record that is not TLS, sent under an established session, closes the connection as an error', async () => {
      const closed = echo.closed.length;
      const raw = netConnect({ host: '127.0.0.1', port: echo.port });
      await once(raw, 'connect');
      const socket = await establishedTls12(raw);
      socket.on('error', () => {});
      raw.write(Buffer.from('GET / HTTP/1.1\r\n\r\n')); // bypasses TLS: garbage to the server's record layer
      await within(once(raw, 'close'), 5000, 'the server to close');
      await waitFor(() => echo.closed.length > closed, { what: 'the server side to close' });
      expect(echo.closed.at(-1)?.reason).toBe('error');
    });

    it('a client reset closes the connection, counted as reset', async () => {
      const closed = echo.closed.length;
      const raw = netConnect({ host: '127.0.0.1', port: echo.port });
      await once(raw, 'connect');
      const socket = await establishedTls12(raw);
      socket.on('error', () => {});
      raw.resetAndDestroy();
      await waitFor(() => echo.closed.length > closed, { what: 'the server side to close' });
      expect(echo.closed.at(-1)?.reason).toBe('reset');
    });
  });
});

describe('handshake timeout', () => {
  let echo: TlsEcho;
  let stop: () => Promise<void>;
  beforeAll(async () => ({ echo, stop } = await startTlsEchoWithPki({ handshakeTimeoutMs: 300 })));
  afterAll(() => stop?.());

  it('cuts a client that connects and stays silent, counted as timeout', async () => {
    const silent = netConnect({ host: '127.0.0.1', port: echo.port });
    silent.on('error', () => {});
    await once(silent, 'connect');
    await within(once(silent, 'close'), 5000, 'the server to cut the silent client');
    await waitFor(() => echo.endpoint.stats.handshakeFailures.timeout === 1, { what: 'the timeout to be counted' });
    expect(echo.endpoint.stats.probes).toBe(0);
  });
});

describe('mutual TLS', () => {
  let pki: TestPki;
  let echo: TlsEcho;
  let stop: () => Promise<void>;
  beforeAll(async () => ({ pki, echo, stop } = await startTlsEchoWithPki({ mutual: true })));
  afterAll(() => stop?.());

  it('echoes for a client with a certificate from the client CA', async () => {
    const payload = patternedBytes(70_000, 11);
    const client = await openTls(echo.port, { ca: pki.caFile, client: pki.client });
    const echoed = readExactly(client, payload.length);
    client.write(payload);
    expect((await echoed).equals(payload)).toBe(true);
    const server = echo.sockets.at(-1) as TLSSocket;
    expect(server.authorized).toBe(true);
    expect(server.getPeerCertificate().subject.CN).toBe('tcp-echo test client');
    client.destroy();
    const more = patternedBytes(3000, 14);
    expect((await tlsRoundTrip(echo.port, more, { ca: pki.caFile, client: pki.client })).echoed.equals(more)).toBe(true);
    expect(echo.endpoint.mutual).toBe(true);
  });

  it('rejects a client without a certificate, counted as client_cert_rejected, and keeps serving', async () => {
    const accepted = echo.sockets.length;
    const rejection = openTls(echo.port, { ca: pki.caFile }).then(async (socket) => {
      // TLS 1.3: the client finishes first and learns of the rejection on its first read.
      socket.write('anyone there?');
      await within(once(socket, 'error'), 5000, 'the rejection alert');
      throw new Error('rejected');
    });
    await expect(rejection).rejects.toThrow();
    await waitFor(() => echo.endpoint.stats.handshakeFailures.client_cert_rejected === 1, { what: 'the rejection to be counted' });
    expect(echo.sockets.length).toBe(accepted);
    const payload = patternedBytes(1000, 12);
    expect((await tlsRoundTrip(echo.port, payload, { ca: pki.caFile, client: pki.client })).echoed.equals(payload)).toBe(true);
  });

  it('rejects a client whose certificate no trusted CA signed, counted as client_cert_rejected', async () => {
    const before = echo.endpoint.stats.handshakeFailures.client_cert_rejected;
    const accepted = echo.sockets.length;
    const rogue = await pki.selfSigned('rogue client', 'rogue');
    const socket = await openTls(echo.port, { ca: pki.caFile, client: rogue }).catch(() => undefined);
    if (socket) {
      socket.on('error', () => {});
      socket.write('let me in');
      await within(once(socket, 'close'), 5000, 'the server to drop the rogue client');
      expect(socket.bytesRead).toBe(0);
    }
    await waitFor(() => echo.endpoint.stats.handshakeFailures.client_cert_rejected === before + 1, { what: 'the rejection to be counted' });
    expect(echo.sockets.length).toBe(accepted);
    expect(echo.logLines.some((line) => line.event === 'tls_handshake_failed' && line.authorizationError === 'DEPTH_ZERO_SELF_SIGNED_CERT' && line.level === 20)).toBe(true);
  });

  it('still requires a client certificate after a reload', async () => {
    expect(await echo.endpoint.reload()).toMatchObject({ ok: true });
    const before = echo.endpoint.stats.handshakeFailures.client_cert_rejected;
    const rejected = openTls(echo.port, { ca: pki.caFile }).then(async (socket) => {
      socket.write('x');
      await within(once(socket, 'error'), 5000, 'the rejection alert');
    });
    await rejected.catch(() => {});
    await waitFor(() => echo.endpoint.stats.handshakeFailures.client_cert_rejected === before + 1, { what: 'the rejection to be counted' });
    const payload = patternedBytes(1000, 13);
    expect((await tlsRoundTrip(echo.port, payload, { ca: pki.caFile, client: pki.client })).echoed.equals(payload)).toBe(true);
  });
});

describe('reload', () => {
  let pki: TestPki;
  let echo: TlsEcho;
  let files: TlsFiles;
  const cleanups: Array<() => void> = [];
  /** Replaces a served file the way a deploy should: write beside it, then rename over it. */
  const replace = (target: string, source: string | Buffer) => {
    const temporary = `${target}.new`;
    if (typeof source === 'string') copyFileSync(source, temporary);
    else writeFileSync(temporary, source);
    renameSync(temporary, target);
  };
  beforeAll(async () => {
    pki = await createTestPki();
    const first = await pki.issue('server', 'server-one');
    files = { certFile: join(pki.dir, 'live.crt'), keyFile: join(pki.dir, 'live.key') };
    replace(files.certFile, first.certFile);
    replace(files.keyFile, first.keyFile);
    echo = await startTlsEcho(files);
  });
  afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));
  afterAll(async () => {
    await echo?.stop();
    pki?.cleanup();
  });

  it('serves a new certificate to new connections while open connections keep echoing', async () => {
    const old = await openTls(echo.port, { ca: pki.caFile });
    cleanups.push(() => old.destroy());
    expect(old.getPeerCertificate().subject.CN).toBe('server-one');
    const first = patternedBytes(50_000, 21);
    let echoed = readExactly(old, first.length);
    old.write(first);
    expect((await echoed).equals(first)).toBe(true);

    const second = await pki.issue('server', 'server-two');
    replace(files.certFile, second.certFile);
    replace(files.keyFile, second.keyFile);
    const result = await echo.endpoint.reload();
    expect(result).toMatchObject({ ok: true, certificate: { commonName: 'server-two' } });
    expect(echo.endpoint.material.certificate.commonName).toBe('server-two');
    expect(echo.endpoint.stats.reloads).toBe(1);
    expect(echo.logLines.some((line) => line.event === 'tls_reloaded' && line.level === 30)).toBe(true);

    // The connection from before the reload: same session, still echoing.
    const more = patternedBytes(200_000, 22);
    echoed = readExactly(old, more.length);
    old.write(more);
    expect((await echoed).equals(more)).toBe(true);
    expect(old.getPeerCertificate().subject.CN).toBe('server-one');

    // A new connection: the new certificate.
    const payload = patternedBytes(10_000, 23);
    const fresh = await tlsRoundTrip(echo.port, payload, { ca: pki.caFile });
    expect(fresh.peerCN).toBe('server-two');
    expect(fresh.echoed.equals(payload)).toBe(true);

    // And the old one once more, after the new handshake.
    echoed = readExactly(old, 3);
    old.write('end');
    expect((await echoed).toString()).toBe('end');
  });

  it('a reload with a broken key keeps the certificate in use and reports why, without throwing', async () => {
    const serving = echo.endpoint.material.certificate.commonName;
    const failuresBefore = echo.endpoint.stats.reloadFailures;
    const open = await openTls(echo.port, { ca: pki.caFile });
    cleanups.push(() => open.destroy());

    // A key that belongs to another certificate (a half-finished deploy)...
    const other = await pki.issue('server', 'server-three');
    replace(files.keyFile, other.keyFile);
    const mismatch = await echo.endpoint.reload();
    expect(mismatch.ok).toBe(false);
    if (mismatch.ok) return;
    expect(mismatch.error).toBeInstanceOf(TlsMaterialError);
    expect((mismatch.error as TlsMaterialError).problem).toBe('key_mismatch');
    expect(mismatch.error.message).toContain(files.keyFile);

    // ...and a key file that is not a key at all.
    replace(files.keyFile, Buffer.from('-----BEGIN PRIVATE KEY-----\ntruncated'));
    const broken = await echo.endpoint.reload();
    expect(broken).toMatchObject({ ok: false, error: { problem: 'not_pem' } });
    expect(echo.endpoint.stats.reloadFailures).toBe(failuresBefore + 2);
    const errors = echo.logLines.filter((line) => line.event === 'tls_reload_failed');
    expect(errors.at(-1)).toMatchObject({ level: 50, keptSubject: `CN=${serving}` });

    // Still the previous certificate, for new connections and the open one.
    expect(echo.endpoint.material.certificate.commonName).toBe(serving);
    const payload = patternedBytes(4000, 24);
    const fresh = await tlsRoundTrip(echo.port, payload, { ca: pki.caFile });
    expect(fresh.peerCN).toBe(serving);
    expect(fresh.echoed.equals(payload)).toBe(true);
    const echoed = readExactly(open, 5);
    open.write('still');
    expect((await echoed).toString()).toBe('still');
  });

  it('a session from before a reload is not resumed after it (so new connections see the new certificate)', async () => {
    const ca = readFileSync(pki.caFile);
    const sessionFrom = async (session?: Buffer) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: echo.port, ca, ...(session ? { session } : {}) });
      const ticket = session ? undefined : within(once(socket, 'session'), 10_000, 'a session ticket');
      await within(once(socket, 'secureConnect'), 10_000, 'handshake');
      const echoed = readExactly(socket, 2);
      socket.write('hi'); // TLS 1.3 tickets arrive after the handshake
      await echoed;
      const [next] = ticket ? ((await ticket) as [Buffer]) : [undefined];
      const reused = socket.isSessionReused();
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.destroy();
      return { next, reused, cn };
    };
    const first = await sessionFrom();
    expect(first.next).toBeInstanceOf(Buffer);
    expect((await sessionFrom(first.next)).reused).toBe(true); // resumption works without a reload
    const fifth = await pki.issue('server', 'server-five');
    replace(files.certFile, fifth.certFile);
    replace(files.keyFile, fifth.keyFile);
    expect(await echo.endpoint.reload()).toMatchObject({ ok: true });
    const after = await sessionFrom(first.next);
    expect(after.reused).toBe(false);
    expect(after.cn).toBe('server-five');
  });

  it('concurrent reloads are serialised and all succeed', async () => {
    const fourth = await pki.issue('server', 'server-four');
    replace(files.certFile, fourth.certFile);
    replace(files.keyFile, fourth.keyFile);
    const results = await Promise.all([echo.endpoint.reload(), echo.endpoint.reload(), echo.endpoint.reload()]);
    expect(results.map((result) => result.ok)).toEqual([true, true, true]);
    const payload = patternedBytes(100, 25);
    expect((await tlsRoundTrip(echo.port, payload, { ca: pki.caFile })).peerCN).toBe('server-four');
    expect(echo.endpoint.stats.reloads).toBe(5);
  });
});
