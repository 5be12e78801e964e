import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { within } from './wait.js';

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  echoPort: number;
  httpPort: number;
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  stderr(): string;
  /** Resolves with the exit code (or 128+signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once the process has ended and its stdout and stderr are read to the end (so `logs` is complete). */
  closed: Promise<void>;
  /** Resolves with the first log line matching `predicate`. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
  /** For test cleanup: SIGKILL the process if it is still running and wait for it to go. */
  ensureStopped(): Promise<void>;
}

export interface FinishedProcess {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/main.js` to its end (for runs that must exit by themselves: --help, bad
 * configuration, a port in use); SIGKILLs it and rejects if it is still running after `timeoutMs`.
 */
export async function runToExit({ env = {} as Record<string, string | undefined>, args = [] as string[], timeoutMs = 10_000 } = {}): Promise<FinishedProcess> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, ECHO_HOST: '127.0.0.1', ECHO_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  // 'close' (not 'exit') so that stdout and stderr are complete.
  const closed = once(child, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  try {
    const { code, signal } = await within(closed, timeoutMs, `node dist/main.js ${args.join(' ')}`);
    return { code, signal, stdout, stderr };
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${String(error)}; stdout: ${stdout}; stderr: ${stderr}`, { cause: error });
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
  const child = spawn(command, [...prefix, entry, ...args], {
    env: { ...process.env, ECHO_HOST: '127.0.0.1', ECHO_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ predicate: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }> = [];
  let stderr = '';
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const raw = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        line = { unparsed: raw };
      }
      logs.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const closed = once(child, 'close').then(() => undefined);

  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000) => {
    const found = logs.find(predicate);
    if (found) return Promise.resolve(found);
    const appeared = new Promise<Record<string, unknown>>((resolve) => waiters.push({ predicate, resolve }));
    const died = exited.then(({ code, signal }) => {
      throw new Error(`service exited (code ${code}, signal ${signal}) before the expected log line; stderr: ${stderr}`);
    });
    return within(Promise.race([appeared, died]), timeoutMs, 'waiting for a log line');
  };

  const ensureStopped = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await within(exited, 10_000, 'the service process to end');
  };
  let listening: { echo: { port: number }; http: { port: number } };
  try {
    listening = (await waitForLog((line) => line.event === 'listening', startTimeoutMs)) as typeof listening;
  } catch (error) {
    await ensureStopped(); // never leave a stray service behind a failed start
    throw error;
  }
  return {
    child,
    echoPort: listening.echo.port,
    httpPort: listening.http.port,
    logs,
    stderr: () => stderr,
    exited,
    closed,
    waitForLog,
    kill: (signal = 'SIGTERM') => {
      child.kill(signal);
    },
    ensureStopped,
  };
}
