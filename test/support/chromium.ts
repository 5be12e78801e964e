// Headless Chromium (the Debian package 'chromium') driven over the Chrome DevTools protocol with
// Node's own WebSocket: a page to load, what its console said, expressions to evaluate, screenshots.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { within } from './wait.js';

export interface CdpEvent {
  readonly method: string;
  readonly params: Record<string, unknown>;
}

export interface ChromiumPage {
  send<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** Every event the page sent since it was opened (console, exceptions, log entries...). */
  readonly events: CdpEvent[];
  /** The value of a JavaScript expression in the page (awaited if it is a promise). */
  evaluate<T>(expression: string): Promise<T>;
  /** What the page reported as errors: console.error, uncaught exceptions, failed loads (log level error). */
  errors(): string[];
}

export interface Chromium {
  /** A new tab (width × height) with console, exceptions and the log recorded, at `url`. */
  open(url: string, viewport?: { width: number; height: number }): Promise<ChromiumPage>;
  close(): Promise<void>;
}

export async function launchChromium(command = 'chromium'): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'tcp-echo-chromium-'));
  // Root needs --no-sandbox; port 0 lets Chromium pick a port and print it.
  const child = spawn(command, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions', '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  const endpoint = await within(
    new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => {
        stderr += text;
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (match) resolve(match[1] as string);
      });
      child.on('exit', (code) => reject(new Error(`chromium exited (${code}) before it listened: ${stderr}`)));
      child.on('error', reject);
    }),
    30_000,
    'chromium to start',
  );
  const socket = new WebSocket(endpoint);
  await within(new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error(`cannot connect to ${endpoint}`));
  }), 10_000, 'DevTools connection');

  let nextId = 1;
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void; method: string }>();
  const sessions = new Map<string, CdpEvent[]>();
  socket.onmessage = (message: MessageEvent) => {
    const data = JSON.parse(String(message.data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string };
    if (data.id !== undefined) {
      const waiting = pending.get(data.id);
      pending.delete(data.id);
      if (data.error) waiting?.reject(new Error(`${waiting.method}: ${data.error.message}`));
      else waiting?.resolve(data.result);
    } else if (data.method && data.sessionId) {
      sessions.get(data.sessionId)?.push({ method: data.method, params: data.params ?? {} });
    }
  };
  const send = <T>(method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    within(
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve: resolve as (result: unknown) => void, reject, method });
        socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      }),
      30_000,
      method,
    );

  return {
    async open(url, viewport = { width: 1280, height: 1000 }) {
      const { targetId } = await send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
      const events: CdpEvent[] = [];
      sessions.set(sessionId, events);
      const page: ChromiumPage = {
        send: (method, params) => send(method, params, sessionId),
        events,
        async evaluate<T>(expression: string) {
          const { result, exceptionDetails } = await send<{ result: { value: T }; exceptionDetails?: { text: string } }>('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId);
          if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.text}`);
          return result.value;
        },
        errors: () =>
          events.flatMap(({ method, params }) => {
            if (method === 'Runtime.consoleAPICalled' && params.type === 'error') return [`console.error: ${JSON.stringify(params.args)}`];
            if (method === 'Runtime.exceptionThrown') return [`exception: ${JSON.stringify(params.exceptionDetails)}`];
            if (method === 'Log.entryAdded' && (params.entry as { level: string }).level === 'error') return [`log: ${JSON.stringify(params.entry)}`];
            return [];
          }),
      };
      await page.send('Runtime.enable');
      await page.send('Log.enable');
      await page.send('Page.enable');
      await page.send('Emulation.setDeviceMetricsOverride', { ...viewport, deviceScaleFactor: 1, mobile: false });
      await page.send('Page.navigate', { url });
      return page;
    },
    async close() {
      socket.close();
      if (child.exitCode === null && child.pid !== undefined) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        process.kill(-child.pid, 'SIGTERM'); // the process group this function started
        await within(exited, 10_000, 'chromium to exit').catch(() => process.kill(-(child.pid as number), 'SIGKILL'));
      }
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
