// `node dist/main.js probe` (the built probe, a child process) against the built service over each
// listener kind: tcp, tls (and mutual TLS), udp, and tcp+proxy with a PROXY v2 header whose source
// the service's banner shows back; its JSON report checked. And the failures it is there to find:
// a server that corrupts a byte (mismatch), a closed port (refused), an untrusted certificate, and
// exit 2 on a bad option. The parts in process: test/unit/probe/.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeReport } from '../../src/probe/report.js';
import { createTestPki, type TestPki } from '../support/certs.js';
import { listenerPorts, sample, scrape } from '../support/metrics.js';
import { corruptingEcho, startTcpServer, type TestTcpServer } from '../support/probe-targets.js';
import { runToExit, spawnServicesPerTest, type FinishedProcess } from '../support/process.js';
import { waitFor } from '../support/wait.js';

const spawnService = spawnServicesPerTest();
/** Every probe run is bounded: a count, and this deadline for the whole process. */
const PROBE_DEADLINE_MS = 30_000;

function probe(...args: string[]): Promise<FinishedProcess> {
  return runToExit({ args: ['probe', ...args], timeoutMs: PROBE_DEADLINE_MS });
}

/** The probe's --json report; fails the test (with its stderr) if stdout is not one JSON object. */
function report({ stdout, stderr }: FinishedProcess): ProbeReport {
  const lines = stdout.split('\n').filter((line) => line !== '');
  expect(lines, `stdout: ${stdout}\nstderr: ${stderr}`).toHaveLength(1);
  return JSON.parse(lines[0] as string) as ProbeReport;
}

/** A clean run of `count` messages: every one echoed, no error, percentiles there and in order. */
function expectClean(result: FinishedProcess, count: number, size: number): ProbeReport {
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  const parsed = report(result);
  expect(parsed).toMatchObject({ result: 'pass', exitCode: 0, reasons: [], messages: { attempted: count, echoed: count, failed: 0 }, bytes: { sent: count * size, verified: count * size } });
  expect(parsed.errors.total).toBe(0);
  expect(Object.values(parsed.errors.byKind).every((n) => n === 0)).toBe(true);
  expect(parsed.mismatches).toEqual([]);
  const { count: timed, min, p50, p90, p99, max } = parsed.rttMs;
  expect(timed).toBe(count);
  for (const value of [min, p50, p90, p99, max]) expect(value).toBeGreaterThan(0);
  expect(min! <= p50! && p50! <= p90! && p90! <= p99! && p99! <= max!, JSON.stringify(parsed.rttMs)).toBe(true);
  expect(parsed.throughput.messagesPerSecond).toBeGreaterThan(0);
  return parsed;
}

describe('the probe against the built service', () => {
  it('tcp: 200 messages of 1 KiB over 4 connections, each echoed byte-exact; the service counted exactly those bytes', async () => {
    const service = await spawnService({ env: { ECHO_HOST: '127.0.0.1' } });
    const parsed = expectClean(await probe(`tcp://127.0.0.1:${service.echoPort}`, '--count', '200', '--size', '1Ki', '--concurrency', '4', '--json'), 200, 1024);
    expect(parsed.connections.opened).toBe(4);
    expect(parsed.settings).toMatchObject({ transport: 'tcp', size: 1024, count: 200, concurrency: 4, proxy: null });
    const samples = await waitFor(async () => {
      const s = await scrape(service.httpPort);
      return sample(s, 'echo_connections_active') === 0 ? s : undefined;
    });
    expect(sample(samples, 'echo_received_bytes_total')).toBe(200 * 1024);
    expect(sample(samples, 'echo_sent_bytes_total')).toBe(200 * 1024);
  });

  it('tcp, text report: PASS and the percentiles; --rate and --duration bound the run', async () => {
    const service = await spawnService();
    const result = await probe(`tcp://127.0.0.1:${service.echoPort}`, '--duration', '1s', '--rate', '50', '--messages-per-connection', '10');
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(new RegExp(`^tcp-echo probe tcp://127\\.0\\.0\\.1:${service.echoPort}: PASS\\n`));
    expect(result.stdout).toMatch(/round trip {3}p50 \d+\.\d{3} ms {2}p90 .* p99 .* max /);
    const attempted = Number(/messages {5}(\d+) attempted/.exec(result.stdout)?.[1]);
    expect(attempted).toBeGreaterThanOrEqual(30); // 50 slots in the second, less any a loaded machine runs past the end with
    expect(attempted).toBeLessThanOrEqual(50);
    expect(Number(/connections {2}(\d+) opened/.exec(result.stdout)?.[1])).toBe(Math.ceil(attempted / 10));
  });

  it('udp: 100 datagrams of 1200 bytes, each echoed whole', async () => {
    const service = await spawnService({ env: { ECHO_LISTENERS: 'tcp://127.0.0.1:0,udp://127.0.0.1:0' } });
    const port = (await listenerPorts(service.httpPort)).get('udp') as number;
    const parsed = expectClean(await probe(`udp://127.0.0.1:${port}`, '--count', '100', '--size', '1200', '--concurrency', '2', '--json'), 100, 1200);
    expect(parsed.settings.transport).toBe('udp');
  });

  it('tcp+proxy with --proxy v2: the service takes the header, and its banner ({client_addr}) shows the source the probe named', async () => {
    const service = await spawnService({ env: { ECHO_LISTENERS: 'tcp+proxy://127.0.0.1:0', ECHO_BANNER: '{client_addr}' } });
    const port = (await listenerPorts(service.httpPort)).get('tcp+proxy') as number;
    const named = expectClean(await probe(`tcp://127.0.0.1:${port}`, '--proxy', 'v2', '--proxy-source', '203.0.113.7:4242', '--banner-lines', '1', '--count', '20', '--concurrency', '2', '--json'), 20, 64);
    expect(named.banners).toEqual([{ text: '203.0.113.7:4242', connections: 2 }]);
    expect(named.settings).toMatchObject({ proxy: 'v2', bannerLines: 1 });
    // v1 and an IPv6 source: the same, in the banner's bracketed form.
    const v6 = expectClean(await probe(`tcp://127.0.0.1:${port}`, '--proxy', 'v1', '--proxy-source', '[2001:db8::7]:4242', '--banner-lines', '1', '--count', '5', '--json'), 5, 64);
    expect(v6.banners).toEqual([{ text: '[2001:db8::7]:4242', connections: 1 }]);
    // Without --proxy-source the header names the probe's own address.
    const own = expectClean(await probe(`tcp://127.0.0.1:${port}`, '--proxy', 'v2', '--banner-lines', '1', '--count', '5', '--json'), 5, 64);
    expect(own.banners[0]?.text).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('a banner the probe was not told of: every message a mismatch, exit 1, and the report points at --banner-lines', async () => {
    const service = await spawnService({ env: { ECHO_BANNER: 'hello from {hostname}' } });
    const result = await probe(`tcp://127.0.0.1:${service.echoPort}`, '--count', '3');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/: FAIL\n/);
    expect(result.stdout).toContain('see --banner-lines');
    expect(result.stdout).toMatch(/errors {7}3 \(budget 0\): mismatch 3/);
  });

  describe('tls', () => {
    let pki: TestPki;
    beforeAll(async () => {
      pki = await createTestPki();
    });
    afterAll(() => pki?.cleanup());

    const tlsService = async (extra: Record<string, string> = {}) => {
      const service = await spawnService({ env: { ECHO_LISTENERS: 'tls://127.0.0.1:0', ECHO_TLS_CERT: pki.server.certFile, ECHO_TLS_KEY: pki.server.keyFile, ...extra } });
      return (await listenerPorts(service.httpPort)).get('tls') as number;
    };

    it('verified against --ca with --servername: every message echoed', async () => {
      const port = await tlsService();
      expectClean(await probe(`tls://127.0.0.1:${port}`, '--ca', pki.caFile, '--servername', 'localhost', '--count', '50', '--size', '4Ki', '--concurrency', '2', '--json'), 50, 4096);
    });

    it('mutual TLS: with --cert/--key every message is echoed; without, each connection fails its handshake', async () => {
      const port = await tlsService({ ECHO_TLS_CLIENT_CA: pki.caFile });
      expectClean(await probe(`tls://127.0.0.1:${port}`, '--ca', pki.caFile, '--cert', pki.client.certFile, '--key', pki.client.keyFile, '--count', '20', '--json'), 20, 64);
      const refused = await probe(`tls://127.0.0.1:${port}`, '--ca', pki.caFile, '--count', '3', '--json');
      expect(refused.code).toBe(1);
      const parsed = report(refused);
      expect(parsed.errors.byKind.tls_handshake).toBe(3);
      expect(parsed.messages.echoed).toBe(0);
    });

    it('a server certificate no trusted CA signed: tls_handshake errors, exit 1; within --max-errors 100%, exit 0', async () => {
      const port = await tlsService();
      const untrusted = await probe(`tls://127.0.0.1:${port}`, '--count', '2', '--json');
      expect(untrusted.code).toBe(1);
      expect(report(untrusted)).toMatchObject({ result: 'fail', errors: { total: 2, byKind: { tls_handshake: 2 } } });
      expect(report(untrusted).errors.examples.tls_handshake).toMatch(/certificate/);
      const tolerated = await probe(`tls://127.0.0.1:${port}`, '--count', '2', '--max-errors', '100%', '--json');
      expect(tolerated.code).toBe(0);
    });
  });
});

describe('the failures it finds', () => {
  let corrupting: TestTcpServer | undefined;
  afterEach(async () => {
    await corrupting?.close();
    corrupting = undefined;
  });

  it('a server that corrupts one byte: the mismatch counted and located, exit 1', async () => {
    corrupting = await startTcpServer(corruptingEcho(5 * 100 + 42)); // message 5's byte 42 on the first connection
    const result = await probe(`tcp://127.0.0.1:${corrupting.port}`, '--count', '10', '--size', '100', '--max-errors', '5', '--json');
    expect(result.code).toBe(1);
    const parsed = report(result);
    expect(parsed).toMatchObject({ result: 'fail', messages: { attempted: 10, echoed: 9, failed: 1 }, errors: { total: 1, byKind: { mismatch: 1 } } });
    expect(parsed.mismatches).toEqual([expect.objectContaining({ connection: 0, message: 5, offset: 42 })]);
    expect(parsed.reasons).toEqual(['1 echo did not match what was sent']); // within --max-errors 5, failed all the same
    expect(parsed.connections.opened).toBe(2); // the stream out of step is replaced
  });

  it('a closed port: every message refused, exit 1', async () => {
    const gone = await startTcpServer(() => undefined);
    await gone.close();
    const result = await probe(`tcp://127.0.0.1:${gone.port}`, '--count', '3', '--json');
    expect(result.code).toBe(1);
    expect(report(result)).toMatchObject({ result: 'fail', messages: { attempted: 3, echoed: 0, failed: 3 }, errors: { total: 3, byKind: { refused: 3 } }, connections: { opened: 0 } });
    expect(report(result).rttMs).toMatchObject({ count: 0, p50: null, max: null });
  });

  it.each([
    [['tcp://127.0.0.1:7000', '--rate', 'fast'], '--rate', 'fast'],
    [['tcp://127.0.0.1:7000', '--colour'], 'option', '--colour'],
    [['udp://127.0.0.1:7000', '--proxy', 'v2'], '--proxy', 'v2'],
    [['sctp://127.0.0.1:7000'], 'target', 'sctp://127.0.0.1:7000'],
  ])('%j: exit 2, one stderr line naming %s, nothing on stdout, nothing sent', async (args, option, value) => {
    const { code, signal, stdout, stderr } = await probe(...args);
    expect({ code, signal, stdout }).toEqual({ code: 2, signal: null, stdout: '' });
    const lines = stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^tcp-echo probe: invalid argument: ${option.replace(/[-+]/g, '\\$&')}=${JSON.stringify(value).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
  });

  it('--help: the probe’s help, exit 0 (the service’s own --help is unchanged)', async () => {
    const { code, stdout } = await probe('--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: tcp-echo probe \[options\] <target>/);
    expect((await runToExit({ args: ['--help'] })).stdout).toMatch(/^Usage: tcp-echo \[options\]/);
  });
});
