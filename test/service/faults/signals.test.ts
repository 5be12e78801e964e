// Signals from anyone who can send them: only SIGTERM and SIGINT stop the service. Every other signal
// that ends a Node process by default, or opens its inspector, is sent to the service, to its whole
// process group and (with workers) to a worker directly, while a client is connected: the service
// logs and counts each, keeps echoing, stays ready, opens no debugger, and still drains on SIGTERM.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import { echoOnce, openClient } from '../../support/echo-client.js';
import { httpRequest, scrape, sample } from '../../support/metrics.js';
import { socketDescriptors, tcpSockets } from '../../support/proc-net.js';
import { spawnServicesPerTest } from '../../support/process.js';
import { waitFor, within } from '../../support/wait.js';

/** Signals whose default action ends a process (or, SIGUSR1, opens Node's inspector), less SIGTERM/SIGINT and the crash and profiler signals. */
const NON_STOPPING = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGALRM', 'SIGVTALRM', 'SIGIO', 'SIGPWR', 'SIGSTKFLT', 'SIGXCPU', 'SIGXFSZ'].filter(
  (signal) => signal in constants.signals,
) as NodeJS.Signals[];

/** TCP ports on which one of `pids` has a listening socket (IPv4, this network namespace). */
function listeningPorts(pids: readonly number[]): number[] {
  const inodes = new Set(pids.flatMap((pid) => [...socketDescriptors(pid).keys()]));
  return tcpSockets()
    .filter((row) => row.state === '0A' && inodes.has(row.inode))
    .map((row) => row.localPort)
    .sort((a, b) => a - b);
}

const spawnService = spawnServicesPerTest();

it('the inspector check finds a debugger that SIGUSR1 opens in a process without the guard (control)', async () => {
  const child = spawn(process.execPath, ['--inspect-port=0', '-e', 'setInterval(() => {}, 1000); console.log("up")'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await once(child.stdout!, 'data');
    const pid = child.pid as number;
    expect(listeningPorts([pid])).toEqual([]);
    child.kill('SIGUSR1');
    await waitFor(() => listeningPorts([pid]).length > 0, { what: 'the inspector to listen', timeoutMs: 10_000 });
  } finally {
    child.kill('SIGKILL');
  }
});

describe.each([
  { mode: 'one process', env: {} as Record<string, string> },
  { mode: 'ECHO_WORKERS=2', env: { ECHO_WORKERS: '2' } as Record<string, string> },
])('signals other than SIGTERM/SIGINT ($mode)', ({ env }) => {
  it('are logged and counted, and never stop the service nor open a debugger', { timeout: 60_000 }, async () => {
    const service = await spawnService({ env: { ...env, SHUTDOWN_QUIET_MS: '100' }, detached: true, startTimeoutMs: 20_000 });
    const pid = service.child.pid as number;
    const health = async () => JSON.parse((await httpRequest(service.httpPort, '/healthz')).body) as { workers?: { processes: Array<{ pid: number }>; restarts: number } };
    const workerPids = (await health()).workers?.processes.map((worker) => worker.pid) ?? [];
    const pids = [pid, ...workerPids];
    const known = [service.echoPort, service.httpPort].sort((a, b) => a - b);
    expect(listeningPorts(pids).filter((port) => !known.includes(port))).toEqual([]);

    const client = await openClient(service.echoPort);
    await echoOnce(client, Buffer.from('before any signal'));
    const logged = (signal: string) => service.logs.filter((line) => line.event === 'signal' && line.signal === signal).length;
    for (const signal of NON_STOPPING) {
      process.kill(pid, signal); // to the service (the primary, with workers)
      await service.waitForLog(() => logged(signal) >= 1, 5000);
      process.kill(-pid, signal); // to its whole process group: every worker too
      await waitFor(() => logged(signal) >= 2, { what: `the second ${signal} to be logged` });
      for (const worker of workerPids) process.kill(worker, signal); // straight to a worker
      await echoOnce(client, Buffer.from(`after ${signal}`));
    }
    expect(service.child.exitCode).toBeNull();
    expect((await httpRequest(service.httpPort, '/readyz')).status).toBe(200);
    const reload = service.logs.find((line) => line.event === 'reload_done');
    expect(reload?.reloaded).toMatch(/nothing to reload/);
    const status = service.logs.find((line) => line.event === 'signal' && line.signal === 'SIGUSR1') as { status?: { status?: string } };
    expect(status.status?.status).toBe('ready');

    const metrics = await scrape(service.httpPort);
    for (const signal of NON_STOPPING) expect(sample(metrics, `echo_signals_received_total{signal="${signal}"}`), signal).toBe(2);
    expect(sample(metrics, 'echo_signals_received_total{signal="SIGTERM"}')).toBe(0);
    if (workerPids.length > 0) {
      const after = await health();
      expect(after.workers?.processes.map((worker) => worker.pid).sort()).toEqual([...workerPids].sort());
      expect(after.workers?.restarts).toBe(0);
    }
    // No debugger: no listening socket but the service's own, and Node never said it opened one.
    expect(listeningPorts(pids).filter((port) => !known.includes(port))).toEqual([]);
    expect(service.stderr()).not.toMatch(/Debugger listening/);

    client.end();
    service.kill('SIGTERM');
    const { code, signal } = await within(service.exited, 20_000, 'the exit after SIGTERM');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });
});
