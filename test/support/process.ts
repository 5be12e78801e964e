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
  /** Resolves with the first log line matching `predicate`. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs the built service (`node dist/main.js`) as a real child process on ephemeral loopback ports. */
export async function spawnService({ env = {}, args = [] as string[], startTimeoutMs = 10_000 } = {}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, ECHO_HOST: '127.0.0.1', ECHO_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
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

  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000) => {
    const found = logs.find(predicate);
    if (found) return Promise.resolve(found);
    const appeared = new Promise<Record<string, unknown>>((resolve) => waiters.push({ predicate, resolve }));
    const died = exited.then(({ code, signal }) => {
      throw new Error(`service exited (code ${code}, signal ${signal}) before the expected log line; stderr: ${stderr}`);
    });
    return within(Promise.race([appeared, died]), timeoutMs, 'waiting for a log line');
  };

  const listening = (await waitForLog((line) => line.event === 'listening', startTimeoutMs)) as { echo: { port: number }; http: { port: number } };
  return {
    child,
    echoPort: listening.echo.port,
    httpPort: listening.http.port,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog,
    kill: (signal = 'SIGTERM') => {
      child.kill(signal);
    },
  };
}
