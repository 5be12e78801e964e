// Random environment and flag values at the built entry point: it either starts cleanly or exits 2
// with one stderr line and no stack trace; and every setting at the smallest value it allows is used
// without a crash. The parser under random input: test/unit/config/parse.property.test.ts.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { configInputs, randomSetting, SETTING_FLAGS } from '../../support/config.js';
import { collectUntilEnd, openClient } from '../../support/echo-client.js';
import { httpRequest, listenerPorts, sample, scrape } from '../../support/metrics.js';
import { freePort } from '../../support/ports.js';
import { MAIN, serviceEnv, spawnService } from '../../support/process.js';
import { spawnLogged } from '../../support/spawn-service.mjs';
import { waitFor } from '../../support/wait.js';

describe('configuration under random input', () => {
  // Child processes are slow; a few dozen random cases, on loopback and ephemeral ports only, one
  // worker (ECHO_WORKERS and the addresses are left out of the random settings).
  const childSetting = randomSetting(SETTING_FLAGS.filter((knob) => !/HOST|PORT|WORKERS/.test(knob.env)));

  it('the entry point starts cleanly or exits 2 with one stderr line and no stack trace', { timeout: 180_000 }, async () => {
    const seen = { started: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(childSetting, { minLength: 1, maxLength: 4 }), async (settings) => {
        const { argv, env } = configInputs(settings);
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
});

type Outcome = { kind: 'started'; stderr: string } | { kind: 'exited'; code: number | null; stdout: string; stderr: string };

/**
 * Runs the entry point until its sidecar answers ready (then SIGKILLs it) or it exits by itself.
 * Readiness, not the `listening` log line: at LOG_LEVEL=warn and above a started service logs nothing.
 */
async function runBriefly(argv: string[], env: Record<string, string>): Promise<Outcome> {
  const [echoPort, httpPort] = [await freePort(), await freePort()];
  const run = spawnLogged(process.execPath, [MAIN, ...argv], {
    env: serviceEnv({ ECHO_PORT: String(echoPort), HTTP_PORT: String(httpPort), ECHO_WORKERS: '1', ...env }),
    keepStdout: true,
  });
  let exitCode: number | null | undefined;
  void run.closed.then(async () => (exitCode = (await run.exited).code));
  try {
    const how = await waitFor(async () => (exitCode !== undefined ? 'exited' : (await httpRequest(httpPort, '/readyz')).status === 200 ? 'started' : undefined), {
      timeoutMs: 15_000,
      what: `node dist/main.js ${argv.join(' ')} to start or exit`,
    });
    if (how === 'exited') return { kind: 'exited', code: exitCode ?? null, stdout: run.stdout(), stderr: run.stderr() };
    return { kind: 'started', stderr: run.stderr() };
  } finally {
    run.child.kill('SIGKILL');
    await run.closed;
  }
}
