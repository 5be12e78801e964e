// The process shell (src/process/shell.ts) around a stub workload: the order of start and shutdown,
// readiness on the way, and a start that fails.
import { afterEach, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { StartError } from '../../../src/listeners/start-error.js';
import { createProcessShell, type Runnable, type Workload } from '../../../src/process/shell.js';
import { connectOutcome } from '../../support/echo-client.js';
import { capturingLogger, silentLogger } from '../../support/logger.js';
import { httpRequest } from '../../support/metrics.js';
import { testConfig } from '../../support/service.js';
import { waitFor } from '../../support/wait.js';

const ECHO_ADDRESS: AddressInfo = { address: '127.0.0.1', port: 1, family: 'IPv4' };

/** A workload that starts at once and drains to nothing, but for what `overrides` says. */
function stubWorkload(overrides: Partial<Workload> = {}): Workload {
  return {
    start: async () => ECHO_ADDRESS,
    abort: async () => undefined,
    ready: () => true,
    drain: async () => ({}),
    reload: async () => 'nothing',
    status: () => ({ listeners: {} }),
    describe: () => ({}),
    connections: () => ({ total: 0, connections: [] }),
    ...overrides,
  };
}

const shells: Runnable[] = [];
afterEach(async () => {
  await Promise.all(shells.splice(0).filter((shell) => shell.state !== 'stopped').map((shell) => shell.shutdown()));
});

function shellFor(workload: Workload, { logger = silentLogger(), now = () => performance.now(), env = {} as Record<string, string> } = {}): Runnable {
  const shell = createProcessShell({ config: testConfig(env), logger, version: 'test', now, workload, metrics: { render: async () => ({ contentType: 'text/plain', body: '' }) }, registry: new Registry() });
  shells.push(shell);
  return shell;
}

const sidecarPort = (shell: Runnable) => (shell.status().listeners as { http: { port?: number } }).http.port;

describe('health routes', () => {
  it('/readyz is 503 until the workload has started, then 200', async () => {
    let finishStart: (() => void) | undefined;
    const workloadStarted = new Promise<void>((resolve) => (finishStart = resolve));
    const workload = stubWorkload({
      start: async () => {
        await workloadStarted;
        return ECHO_ADDRESS;
      },
    });
    const shell = shellFor(workload);
    const starting = shell.start();
    const port = await waitFor(() => (shell.status().listeners as { http: { port?: number } }).http.port, { what: 'the sidecar listening' });
    const before = await httpRequest(port, '/readyz');
    expect(before.status).toBe(503);
    expect(JSON.parse(before.body)).toEqual({ status: 'not ready' });
    expect((await httpRequest(port, '/livez')).status).toBe(200);
    finishStart?.();
    await starting;
    const after = await httpRequest(port, '/readyz');
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body)).toEqual({ status: 'ready' });
  });
});

describe('the process shell', () => {
  it('starts the sidecar, then the workload, then is ready; start() again is the same start', async () => {
    const { logger, lines } = capturingLogger('info');
    const shell = shellFor(stubWorkload(), { logger });
    expect(shell.state).toBe('starting');
    const starting = shell.start();
    expect(shell.start()).toBe(starting);
    const addresses = await starting;
    expect(addresses.echo).toEqual(ECHO_ADDRESS);
    expect(addresses.http.port).toBe(sidecarPort(shell));
    expect(shell.state).toBe('ready');
    expect(shell.status()).toMatchObject({ status: 'ready', ready: true, version: 'test' });
    expect(lines.filter((line) => line.event === 'lifecycle').map((line) => [line.from, line.to])).toEqual([['starting', 'ready']]);
  });

  it('shutdown: draining at once, the workload drained by the deadline, then stopped and the sidecar closed; shutdown() again is the same', async () => {
    const { logger, lines } = capturingLogger('info');
    let clock = 1000;
    const deadlines: number[] = [];
    const shell = shellFor(stubWorkload({ drain: async (deadline) => (deadlines.push(deadline), { outcome: 'drained' }) }), { logger, now: () => clock, env: { SHUTDOWN_TIMEOUT_MS: '5000' } });
    const { http } = await shell.start();
    clock = 2000;
    const stopping = shell.shutdown('test');
    expect(shell.shutdown('again')).toBe(stopping);
    expect(shell.state).toBe('draining');
    expect(shell.status()).toMatchObject({ status: 'draining', ready: false });
    await stopping;
    expect(shell.state).toBe('stopped');
    expect(deadlines).toEqual([2000 + 5000]);
    expect(await connectOutcome(http.port)).toBe('refused');
    expect(lines.filter((line) => line.event === 'lifecycle').map((line) => line.to)).toEqual(['ready', 'draining', 'stopped']);
    expect(lines.find((line) => line.event === 'shutdown_started')).toMatchObject({ reason: 'test', timeoutMs: 5000, delayMs: 0 });
    expect(lines.find((line) => line.event === 'shutdown_complete')).toMatchObject({ outcome: 'drained', sidecarClosed: true });
  });

  it('a workload that cannot start: aborted, the sidecar closed, stopped, and start() rejects with its error', async () => {
    const failure = new StartError({ what: 'echo listener tcp://127.0.0.1:1', host: '127.0.0.1', port: 1, origin: 'ECHO_PORT' }, Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }));
    let aborted = 0;
    let fail: () => void = () => {};
    const failing = new Promise<never>((_, reject) => (fail = () => reject(failure)));
    const shell = shellFor(
      stubWorkload({
        start: () => failing,
        abort: async () => {
          aborted++;
        },
      }),
    );
    const starting = shell.start();
    const port = await waitFor(() => sidecarPort(shell), { what: 'the sidecar listening' });
    fail();
    await expect(starting).rejects.toBe(failure);
    expect(aborted).toBe(1);
    expect(shell.state).toBe('stopped');
    expect(await connectOutcome(port)).toBe('refused');
  });
});
