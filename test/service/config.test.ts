// The built entry point (`node dist/main.js`) and its configuration: --help, exit 2 with one stderr
// line for an invalid setting, and a clear exit for a port already in use. The parser itself:
// test/unit/config/parse.test.ts.
import { describe, expect, it } from 'vitest';
import { DOCUMENTED_SETTINGS as SETTINGS } from '../support/config.js';
import { connectOutcome } from '../support/echo-client.js';
import { httpRequest } from '../support/metrics.js';
import { busyPortsPerTest, freePort } from '../support/ports.js';
import { runToExit } from '../support/process.js';

describe('the entry point', () => {
  it.each(['--help', '-h'])('%s prints every flag with its variable and default, and exits 0', async (flag) => {
    const { code, signal, stdout, stderr } = await runToExit({ args: [flag] });
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(stderr).toBe('');
    const lines = stdout.split('\n');
    for (const setting of SETTINGS) {
      const line = lines.find((l) => l.trimStart().startsWith(`${setting.flag} `));
      expect(line, `help line for ${setting.flag}`).toBeDefined();
      expect(line).toContain(setting.env);
      // The default stands as a word of its own (`*` has no word boundary, so spaces around it).
      expect(line).toMatch(new RegExp(`(^|\\s)${setting.fallback.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`));
    }
    expect(stdout).toContain('--help');
    expect(stdout).not.toContain('"event"'); // no service started: no log lines
  });

  const CHILD_INVALID: Array<{ what: string; args: string[]; env: Record<string, string>; setting: string; value: string; allowed: RegExp }> = [
    { what: 'non-numeric port', args: [], env: { ECHO_PORT: 'seven' }, setting: 'ECHO_PORT', value: 'seven', allowed: /0 to 65535/ },
    { what: 'port 65536', args: ['--port', '65536'], env: {}, setting: '--port', value: '65536', allowed: /0 to 65535/ },
    { what: 'negative timeout', args: ['--shutdown-timeout-ms=-5'], env: {}, setting: '--shutdown-timeout-ms', value: '-5', allowed: /milliseconds from 0/ },
    { what: 'unknown flag', args: ['--verbose'], env: {}, setting: 'option', value: '--verbose', allowed: /--host/ },
    { what: 'unknown log level', args: ['--log-level', 'loud'], env: {}, setting: '--log-level', value: 'loud', allowed: /one of fatal/ },
    { what: 'empty value', args: [], env: { SHUTDOWN_TIMEOUT_MS: '' }, setting: 'SHUTDOWN_TIMEOUT_MS', value: '', allowed: /milliseconds/ },
  ];

  it.each(CHILD_INVALID)('exits 2 on $what with exactly one stderr line, before anything listens', async ({ args, env, setting, value, allowed }) => {
    const { code, signal, stdout, stderr } = await runToExit({ args, env });
    expect({ code, signal }).toEqual({ code: 2, signal: null });
    expect(stdout).toBe(''); // no logger yet: in particular no 'listening' line
    expect(stderr.endsWith('\n')).toBe(true);
    const lines = stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    const line = lines[0] as string;
    expect(line).toContain(setting);
    expect(line).toContain(JSON.stringify(value));
    expect(line).toMatch(allowed);
  });
});

describe('a port already in use', () => {
  const occupyPort = busyPortsPerTest().tcp;

  function logLines(stdout: string): Array<Record<string, unknown>> {
    return stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  it.each([
    { listener: 'echo', portVariable: 'ECHO_PORT', otherVariable: 'HTTP_PORT', name: /echo listener/, settings: /ECHO_PORT/ },
    { listener: 'sidecar', portVariable: 'HTTP_PORT', otherVariable: 'ECHO_PORT', name: /sidecar/, settings: /HTTP_PORT/ },
  ])('$listener port in use: a clear error, a non-zero exit, never listening nor ready', async ({ portVariable, otherVariable, name, settings }) => {
    const busy = await occupyPort();
    const other = await freePort();
    const child = runToExit({ env: { [portVariable]: String(busy), [otherVariable]: String(other) } });
    // While it runs, whatever answers on the other port must never say ready.
    const readiness: number[] = [];
    let finished = false;
    const done = () => {
      finished = true;
    };
    child.then(done, done);
    const poller = (async () => {
      const until = Date.now() + 10_000;
      while (!finished && Date.now() < until) {
        if (portVariable === 'ECHO_PORT') {
          await httpRequest(other, '/readyz').then(
            (response) => readiness.push(response.status),
            () => undefined,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const { code, signal, stdout, stderr } = await child;
    await poller;

    expect(signal).toBeNull();
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    const lines = stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(name);
    expect(lines[0]).toContain(`127.0.0.1:${busy}`);
    expect(lines[0]).toMatch(/address already in use/);
    expect(lines[0]).toMatch(settings);

    const logs = logLines(stdout);
    expect(logs.some((line) => line.event === 'listening')).toBe(false);
    expect(logs.some((line) => line.event === 'lifecycle' && line.to === 'ready')).toBe(false);
    expect(logs.find((line) => line.event === 'start_failed')).toBeDefined();
    expect(readiness.filter((status) => status !== 503)).toEqual([]);
    // Nothing stays behind on the port the failed service had bound (it has exited).
    expect(await connectOutcome(other)).toBe('refused');
  });
});

describe('ECHO_LISTENERS validation', () => {
  it('a bad entry or a tls listener without a certificate is a one-line configuration error (exit 2)', async () => {
    for (const [env, pattern] of [
      [{ ECHO_LISTENERS: 'tcp://127.0.0.1:0,sctp://127.0.0.1:7' }, /ECHO_LISTENERS=.*entry "sctp:\/\/127\.0\.0\.1:7" is not scheme:\/\/host:port/],
      [{ ECHO_LISTENERS: 'tcp://127.0.0.1:70000' }, /ECHO_LISTENERS=.*port 0-65535/],
      [{ ECHO_LISTENERS: 'tls://127.0.0.1:0' }, /ECHO_TLS_CERT="": a tls listener needs a PEM certificate file/],
      [{ ECHO_LISTENERS: 'tls://127.0.0.1:0', ECHO_TLS_CERT: '/nonexistent/cert.pem', ECHO_TLS_KEY: '/nonexistent/key.pem' }, /invalid configuration: ECHO_TLS_CERT: .*\/nonexistent\/cert\.pem/],
      [{ ECHO_UDP_MAX_DATAGRAM_BYTES: '70000' }, /ECHO_UDP_MAX_DATAGRAM_BYTES="70000": an integer from 0/],
    ] as const) {
      const result = await runToExit({ env });
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(pattern);
    }
  });
});

