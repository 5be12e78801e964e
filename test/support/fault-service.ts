// Helpers for the fault suite: the service as a child process (optionally under a descriptor limit),
// its resident memory and open descriptors from /proc, bounded task pools, and the "settled" check
// that follows every fault: alive, no connection left, descriptors back to the baseline.
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { spawnService, type ServiceProcess } from './process.js';
import { sample, scrape } from './metrics.js';
import { waitFor } from './wait.js';

export interface FaultService extends ServiceProcess {
  pid: number;
  /** Descriptors the service had open once started and idle. */
  baselineFds: number;
}

/** spawnService plus what the fault checks need: the pid and the idle descriptor baseline. */
export async function spawnFaultService({ env = {} as Record<string, string>, nofile = undefined as number | undefined, startTimeoutMs = 15_000 } = {}): Promise<FaultService> {
  const started = await spawnService({ env, nofile, startTimeoutMs });
  const pid = started.child.pid!;
  const service: FaultService = {
    ...started,
    pid,
    baselineFds: 0,
  };
  // One scrape first: the sidecar's first request settles what it keeps open.
  await scrape(service.httpPort);
  service.baselineFds = await waitFor(() => openFds(pid), { what: 'an fd count' });
  return service;
}

/** Open descriptors of a process (Linux). */
export function openFds(pid: number | 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/** The soft descriptor limit of a process. */
export function fdLimit(pid: number | 'self'): number {
  const match = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!match) throw new Error(`no descriptor limit for ${pid}`);
  return Number(match[1]);
}

export function alive(service: ServiceProcess): boolean {
  return service.child.exitCode === null && service.child.signalCode === null;
}

/**
 * What follows every fault: the process is alive, echo_connections_active is back to 0 and its
 * open descriptors are back to the baseline (polled, with a timeout).
 */
export async function expectSettled(service: FaultService, { timeoutMs = 20_000 } = {}): Promise<void> {
  expect(alive(service), 'service process alive').toBe(true);
  await waitFor(async () => sample(await scrape(service.httpPort), 'echo_connections_active') === 0, { timeoutMs, intervalMs: 100, what: 'echo_connections_active to return to 0' });
  let last = 0;
  await waitFor(
    () => {
      last = openFds(service.pid);
      return last <= service.baselineFds;
    },
    { timeoutMs, intervalMs: 100, what: `open descriptors back to the baseline ${service.baselineFds}` },
  ).catch((error: unknown) => {
    throw new Error(`${String(error)} (last count ${last})`);
  });
  expect(alive(service), 'service process alive').toBe(true);
}

/** Log lines of the service at warn (40) or above. */
export function warnings(service: ServiceProcess): Array<Record<string, unknown>> {
  return service.logs.filter((line) => typeof line.level === 'number' && line.level >= 40);
}
