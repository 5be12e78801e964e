// Types for spawn-service.mjs (plain JavaScript so that bench/run.mjs and scripts/soak.mjs can use it).
import type { ChildProcess } from 'node:child_process';

export type LogLine = Record<string, unknown>;

export declare const MAIN: string;
export declare const SERVICE_ENV: Readonly<Record<'ECHO_HOST' | 'ECHO_PORT' | 'HTTP_HOST' | 'HTTP_PORT' | 'LOG_LEVEL', string>>;

export interface SpawnLoggedOptions {
  /** The whole environment of the child (default: this process's). */
  env?: NodeJS.ProcessEnv;
  stderr?: 'pipe' | 'inherit';
  /** Keep only the last that many characters of stderr. */
  stderrLimit?: number;
  /** false: lines are parsed for waitForLog but none is kept. */
  keepLogs?: boolean;
  /** Also keep stdout as text. */
  keepStdout?: boolean;
  /** Drop a partial line longer than this. */
  maxLineLength?: number;
  detached?: boolean;
  /** Names the process in error messages. */
  name?: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LoggedProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far (a line that is not JSON as `{ unparsed }`). */
  logs: LogLine[];
  /** stdout as text (with keepStdout). */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal) when the process ends. */
  exited: Promise<Exit>;
  /** Resolves once the process has ended and its stdout and stderr are read to the end (so `logs` is complete). */
  closed: Promise<void>;
  /** The first log line matching `predicate`; rejects at the timeout or if the process ends first. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
}

export interface ListeningLine extends LogLine {
  event: 'listening';
  echo: { address?: string; port: number };
  http: { address?: string; port: number };
}

export declare function spawnLogged(command: string, args: readonly string[], options?: SpawnLoggedOptions): LoggedProcess;

export declare function untilListening(logged: LoggedProcess, options?: { timeoutMs?: number }): Promise<ListeningLine>;

export interface StartServiceOptions extends Omit<SpawnLoggedOptions, 'env'> {
  /** Added to this process's environment and SERVICE_ENV. */
  env?: Record<string, string | undefined>;
  args?: readonly string[];
  /** The script node runs (default: MAIN). */
  entry?: string;
  timeoutMs?: number;
}

export interface StartedService extends LoggedProcess {
  listening: ListeningLine;
  echoPort: number;
  httpPort: number;
}

export declare function startService(options?: StartServiceOptions): Promise<StartedService>;
