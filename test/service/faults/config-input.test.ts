// Random environment and flag values: parseConfig either gives a valid Config (or help) or throws a
// ConfigError whose message is one line; the built entry point either starts cleanly or exits 2 with
// one stderr line and no stack trace.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ConfigError, parseConfig } from '../../../src/config/parse.js';
import { SETTING_KEYS, SETTINGS } from '../../../src/config/settings.js';
import { LOG_LEVELS } from '../../../src/config/types.js';
import { openClient, collectUntilEnd } from '../../support/echo-client.js';
import { httpRequest, listenerPorts, scrape, sample } from '../../support/metrics.js';
import { freePort } from '../../support/ports.js';
import { MAIN, spawnService } from '../../support/process.js';
import { waitFor } from '../../support/wait.js';

interface Knob {
  env: string;
  flag: string;
}
/** Every setting in the table: a new one is covered without touching this file. */
const KNOBS: Knob[] = SETTING_KEYS.map((key) => SETTINGS[key]);

/** Values near and across every boundary, plus arbitrary text. */
const value = fc.oneof(
  fc.integer({ min: -10, max: 70_000 }).map(String),
  fc.constantFrom('0', '1', '99', '100', '1023', '1024', '65535', '65536', '67108864', '67108865', '600000', '600001', '2147483647', '2147483648', '1e3', '0x10', '1.5', ' 7 ', '', 'auto', 'localhost', '127.0.0.1', '::1', 'not a host', 'abc==', 'a=b', 'on', 'off', ...LOG_LEVELS),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);
const setting = fc.record({ knob: fc.constantFrom(...KNOBS), value, asFlag: fc.boolean(), inlineFlag: fc.boolean() });

function inputs(settings: Array<{ knob: Knob; value: string; asFlag: boolean; inlineFlag: boolean }>) {
  const argv: string[] = [];
  const env: Record<string, string> = {};
  for (const { knob, value, asFlag, inlineFlag } of settings) {
    if (!asFlag) env[knob.env] = value;
    else if (inlineFlag) argv.push(`${knob.flag}=${value}`);
    else argv.push(knob.flag, value);
  }
  return { argv, env };
}

describe('configuration under random input', () => {
  it('parses to a valid Config or throws a one-line ConfigError, nothing else', () => {
    fc.assert(
      fc.property(fc.array(setting, { maxLength: 6 }), fc.array(fc.string({ maxLength: 12 }), { maxLength: 2 }), (settings, stray) => {
        const { argv, env } = inputs(settings);
        try {
          const outcome = parseConfig([...argv, ...stray], env);
          if (outcome.kind === 'help') return;
          const { config } = outcome;
          expect(Number.isInteger(config.echo.port) && config.echo.port >= 0 && config.echo.port <= 65535).toBe(true);
          expect(config.echo.maxPendingBytes).toBeGreaterThanOrEqual(1024);
          expect(config.http.requestTimeoutMs).toBeGreaterThanOrEqual(100);
          expect(config.shutdown.delayMs).toBeLessThanOrEqual(config.shutdown.timeoutMs);
          expect(config.workers).toBeGreaterThanOrEqual(1);
          expect(LOG_LEVELS).toContain(config.logLevel);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          const message = (error as ConfigError).message;
          expect(message).not.toMatch(/[\r\n]/);
          expect(message.startsWith('invalid configuration: ')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  // Child processes are slow; a few dozen random cases, on loopback and ephemeral ports only, one
  // worker (ECHO_WORKERS and the addresses are left out of the random settings).
  const CHILD_KNOBS = KNOBS.filter((knob) => !/HOST|PORT|WORKERS/.test(knob.env));
  const childSetting = fc.record({ knob: fc.constantFrom(...CHILD_KNOBS), value, asFlag: fc.boolean(), inlineFlag: fc.boolean() });

  it('the entry point starts cleanly or exits 2 with one stderr line and no stack trace', { timeout: 180_000 }, async () => {
    const seen = { started: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(childSetting, { minLength: 1, maxLength: 4 }), async (settings) => {
        const { argv, env } = inputs(settings);
        // A NUL byte cannot be passed to a process at all: not something an operator can type.
        if ([...argv, ...Object.values(env)].some((v) => v.includes('\0'))) return;
        const outcome = await runBriefly(argv, env);
        if (outcome.kind === 'started') {
          seen.started++;
          expect(outcome.stderr).toBe('');
        } else {
          seen.refused++;
          expect(outcome.code, outcome.stderr).toBe(2);
          const lines = outcome.stderr.split('\n').filter((line) => line !== '');
          expect(lines).toHaveLength(1);
          expect(lines[0]).toMatch(/^tcp-echo: invalid configuration: /);
          expect(outcome.stderr).not.toMatch(/\n\s+at /);
          expect(outcome.stdout).toBe('');
        }
      }),
      // Found by this property once: a service that starts at LOG_LEVEL=warn logs nothing at all.
      { numRuns: 30, examples: [[[{ knob: { env: 'LOG_LEVEL', flag: '--log-level' }, value: 'warn', asFlag: false, inlineFlag: false }]]] },
    );
    console.log(`random configurations at the entry point: ${seen.started} started, ${seen.refused} refused with exit 2`);
  });

  // A value the parser allows must also be one every part accepts when it is used: once, a PROXY
  // timeout of 0 parsed and then threw on the first connection, taking the process down.
  it('every timeout and size at the smallest value it allows is used without a crash', async () => {
    const smallest: Record<string, string> = {
      ECHO_PROXY_TIMEOUT_MS: '1', ECHO_IDLE_TIMEOUT_MS: '1', ECHO_MAX_CONNECTION_LIFETIME_MS: '1', ECHO_MAX_PENDING_BYTES: '1024',
      ECHO_UDP_MAX_DATAGRAM_BYTES: '0', ECHO_UDP_RECV_BUFFER_BYTES: '0', ECHO_UDP_SEND_BUFFER_BYTES: '0', ECHO_UDP_MAX_QUEUED_SENDS: '1',
      ECHO_UDP_SOURCE_RATE: '1', ECHO_UDP_SOURCE_BURST: '1', HTTP_REQUEST_TIMEOUT_MS: '100', SHUTDOWN_QUIET_MS: '0',
    };
    const service = await spawnService({ env: { ...smallest, ECHO_LISTENERS: 'tcp://127.0.0.1:0,tcp+proxy://127.0.0.1:0,udp://127.0.0.1:0' } });
    try {
      const ports = await listenerPorts(service.httpPort);
      for (const scheme of ['tcp', 'tcp+proxy']) {
        const client = await openClient(ports.get(scheme) as number);
        client.write('x');
        await collectUntilEnd(client).catch(() => Buffer.alloc(0)); // closed by a 1 ms deadline
      }
      const metrics = await scrape(service.httpPort);
      expect(sample(metrics, 'echo_proxy_protocol_errors_total{listener="tcp+proxy://127.0.0.1:0"}')).toBe(1);
      expect((await httpRequest(service.httpPort, '/readyz')).status).toBe(200);
      expect(service.stderr()).toBe('');
    } finally {
      await service.ensureStopped();
    }
  });

  it.each([
    ['ECHO_PROXY_TIMEOUT_MS', 'an integer number of milliseconds from 1 '],
    ['ECHO_TLS_HANDSHAKE_TIMEOUT_MS', 'an integer number of milliseconds from 1 '],
    ['ECHO_UDP_MAX_QUEUED_SENDS', 'an integer from 1 '],
  ])('%s=0 (a setting its part cannot use) is refused as configuration', (env, allowed) => {
    expect(() => parseConfig([], { [env]: '0' })).toThrow(`invalid configuration: ${env}="0": ${allowed}`);
  });
});

type Outcome = { kind: 'started'; stderr: string } | { kind: 'exited'; code: number | null; stdout: string; stderr: string };

/**
 * Runs the entry point until its sidecar answers ready (then SIGKILLs it) or it exits by itself.
 * Readiness, not the `listening` log line: at LOG_LEVEL=warn and above a started service logs nothing.
 */
async function runBriefly(argv: string[], env: Record<string, string>): Promise<Outcome> {
  const [echoPort, httpPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [MAIN, ...argv], {
    env: { ...process.env, ECHO_HOST: '127.0.0.1', ECHO_PORT: String(echoPort), HTTP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), LOG_LEVEL: 'info', ECHO_WORKERS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let exitCode: number | null | undefined;
  const closed = once(child, 'close').then(([code]) => (exitCode = code as number | null));
  try {
    const how = await waitFor(async () => (exitCode !== undefined ? 'exited' : (await httpRequest(httpPort, '/readyz')).status === 200 ? 'started' : undefined), {
      timeoutMs: 15_000,
      what: `node dist/main.js ${argv.join(' ')} to start or exit`,
    });
    if (how === 'exited') return { kind: 'exited', code: exitCode ?? null, stdout, stderr };
    return { kind: 'started', stderr };
  } finally {
    child.kill('SIGKILL');
    await closed;
  }
}
