// Starting the built service (or a server that logs like it) as a child process and following its
// JSON log on stdout, up to the `listening` line that says which ports it bound. One copy for the
// tests (test/support/process.ts), the benchmark (bench/run.mjs) and the soak (scripts/soak.mjs):
// plain JavaScript, because bench and soak run under plain node; spawn-service.d.mts types it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, URL } from 'node:url';

/** The built entry point (`npm run build`). */
export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

/** Loopback addresses, ports the kernel picks, info logs (the `listening` line is at info). */
export const SERVICE_ENV = Object.freeze({ ECHO_HOST: '127.0.0.1', ECHO_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info' });

/**
 * Spawns `command args` with stdout read as JSON lines (a line that is not JSON is kept as
 * `{ unparsed }`). Options: `env` (the whole environment), `stderr` ('pipe' or 'inherit'),
 * `stderrLimit` (keep only the last that many characters), `keepLogs` (false: parse lines for
 * waitForLog but keep none), `keepStdout` (also keep stdout as text), `maxLineLength` (drop a
 * partial line longer than this), `detached`, `name` (for messages).
 */
export function spawnLogged(command, args, options = {}) {
  const { env = process.env, stderr: stderrMode = 'pipe', stderrLimit = Infinity, keepLogs = true, keepStdout = false, maxLineLength = Infinity, detached = false, name = command } = options;
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', stderrMode], detached });
  const logs = [];
  const waiters = new Set();
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (text) => {
    if (keepStdout) stdout += text;
    pending += text;
    let newline;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const raw = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      let line;
      try {
        line = JSON.parse(raw);
      } catch {
        line = { unparsed: raw };
      }
      if (keepLogs) logs.push(line);
      for (const waiter of waiters) waiter(line);
    }
    if (pending.length > maxLineLength) pending = '';
  });
  child.stderr?.setEncoding('utf8').on('data', (text) => {
    stderr += text;
    if (stderr.length > stderrLimit) stderr = stderr.slice(-stderrLimit);
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  // 'close' comes once stdout and stderr are read to the end.
  const closed = once(child, 'close').then(() => undefined);

  /** The first log line (so far or to come) matching `predicate`; rejects at the timeout or if the process ends first. */
  function waitForLog(predicate, timeoutMs = 10_000, what = 'the expected log line') {
    const found = logs.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const finish = (settle, value) => {
        waiters.delete(waiter);
        clearTimeout(timer);
        settle(value);
      };
      const waiter = (line) => predicate(line) && finish(resolve, line);
      waiters.add(waiter);
      const timer = setTimeout(() => finish(reject, new Error(`${name}: no ${what} within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      exited.then(({ code, signal }) => waiters.has(waiter) && finish(reject, new Error(`${name} exited (code ${code}, signal ${signal}) before ${what}; stderr: ${stderr}`)));
    });
  }

  return { child, logs, stdout: () => stdout, stderr: () => stderr, exited, closed, waitForLog };
}

/**
 * Resolves with the process's `listening` line; if it does not come within `timeoutMs` or the
 * process ends first, SIGKILLs it, waits for it to go, and rejects (never a stray process left behind).
 */
export async function untilListening(logged, { timeoutMs = 10_000 } = {}) {
  try {
    return await logged.waitForLog((line) => line.event === 'listening', timeoutMs, 'listening line');
  } catch (error) {
    if (logged.child.exitCode === null && logged.child.signalCode === null) logged.child.kill('SIGKILL');
    await logged.exited;
    throw error;
  }
}

/**
 * `node dist/main.js` (or `entry`) on SERVICE_ENV plus `env`, started: resolves once it listens,
 * with its `listening` line and ports.
 */
export async function startService({ env = {}, args = [], entry = MAIN, timeoutMs = 10_000, ...options } = {}) {
  const logged = spawnLogged(process.execPath, [entry, ...args], { name: 'the service', ...options, env: { ...process.env, ...SERVICE_ENV, ...env } });
  const listening = await untilListening(logged, { timeoutMs });
  return { ...logged, listening, echoPort: listening.echo.port, httpPort: listening.http.port };
}
