// The built service as a child process: started (spawnService), run to its end (runToExit), or one
// per test (spawnServicesPerTest). The spawn and the wait for the `listening` line are
// spawn-service.mjs's, which bench/run.mjs and scripts/soak.mjs use too.
import { afterEach } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { MAIN, SERVICE_ENV, spawnLogged, untilListening, type Exit, type LogLine } from './spawn-service.mjs';
import { within } from './wait.js';

export { MAIN, SERVICE_ENV };

export interface ServiceProcess {
  child: ChildProcess;
  echoPort: number;
  httpPort: number;
  /** Parsed JSON log lines so far. */
  logs: LogLine[];
  stderr(): string;
  /** Resolves with the exit code (or 128+signal) when the process ends. */
  exited: Promise<Exit>;
  /** Resolves once the process has ended and its stdout and stderr are read to the end (so `logs` is complete). */
  closed: Promise<void>;
  /** Resolves with the first log line matching `predicate`. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  kill(signal?: NodeJS.Signals): void;
  /** For test cleanup: SIGKILL the process if it is still running and wait for it to go. */
  ensureStopped(): Promise<void>;
}

export interface FinishedProcess extends Exit {
  stdout: string;
  stderr: string;
}

/** The environment of a service under test: this process's, SERVICE_ENV, then `env`. */
export function serviceEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...SERVICE_ENV, ...env };
}

/**
 * Runs `node dist/main.js` to its end (for runs that must exit by themselves: --help, bad
 * configuration, a port in use); SIGKILLs it and rejects if it is still running after `timeoutMs`.
 */
export async function runToExit({ env = {} as Record<string, string | undefined>, args = [] as string[], timeoutMs = 10_000 } = {}): Promise<FinishedProcess> {
  const run = spawnLogged(process.execPath, [MAIN, ...args], { env: serviceEnv(env), keepStdout: true });
  try {
    await within(run.closed, timeoutMs, `node dist/main.js ${args.join(' ')}`);
    const { code, signal } = await run.exited;
    return { code, signal, stdout: run.stdout(), stderr: run.stderr() };
  } catch (error) {
    run.child.kill('SIGKILL');
    throw new Error(`${String(error)}; stdout: ${run.stdout()}; stderr: ${run.stderr()}`, { cause: error });
  }
}

/**
 * Runs the built service (`node dist/main.js`) as a real child process on ephemeral loopback ports;
 * with `nofile`, through `prlimit` so it starts under that descriptor limit (prlimit execs: same pid);
 * with `entry`, from that script instead of dist/main.js; with `detached`, as the leader of a process
 * group of its own (so a test can signal the whole group: `process.kill(-child.pid, signal)`).
 */
export async function spawnService({ env = {} as Record<string, string>, args = [] as string[], startTimeoutMs = 10_000, nofile = undefined as number | undefined, entry = MAIN, detached = false } = {}): Promise<ServiceProcess> {
  const command = nofile === undefined ? process.execPath : 'prlimit';
  const prefix = nofile === undefined ? [] : [`--nofile=${nofile}:${nofile}`, process.execPath];
  const service = spawnLogged(command, [...prefix, entry, ...args], { env: serviceEnv(env), detached, name: 'the service' });
  const { child, exited } = service;
  const listening = await untilListening(service, { timeoutMs: startTimeoutMs });
  return {
    child,
    echoPort: listening.echo.port,
    httpPort: listening.http.port,
    logs: service.logs,
    stderr: service.stderr,
    exited,
    closed: service.closed,
    waitForLog: (predicate, timeoutMs) => service.waitForLog(predicate, timeoutMs),
    kill: (signal = 'SIGTERM') => {
      child.kill(signal);
    },
    async ensureStopped() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await within(exited, 10_000, 'the service process to end');
    },
  };
}

/** A spawnService that stops (SIGKILL if need be) every service it started after each test of the calling file. */
export function spawnServicesPerTest(): (options?: Parameters<typeof spawnService>[0]) => Promise<ServiceProcess> {
  const started: ServiceProcess[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((service) => service.ensureStopped()));
  });
  return async (options) => {
    const service = await spawnService(options);
    started.push(service);
    return service;
  };
}
