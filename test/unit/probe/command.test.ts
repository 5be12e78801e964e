// `tcp-echo probe` as a whole, in process with injected streams, files, signals and timer: help,
// exit 2 with one line, the report on stdout, the progress line (on a terminal, or with
// --progress), and a stop signal that ends the run with a report. The built command against the
// built service: test/service/probe.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runProbeCommand, type ProbeCommandDeps } from '../../../src/probe/command.js';
import { systemClock } from '../../../src/probe/clock.js';
import type { ProbeReport } from '../../../src/probe/report.js';
import { plainEcho, startTcpServer, type TestTcpServer } from '../../support/probe-targets.js';

function fakeDeps({ isTTY = false } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const ticks: Array<() => void> = [];
  const stopHandlers: Array<() => void> = [];
  const deps: ProbeCommandDeps = {
    stdout: { write: (text: string, done: () => void) => (out.push(text), done()) },
    stderr: { write: (text: string) => err.push(text), isTTY },
    readFile: (path) => readFileSync(path),
    clock: systemClock,
    onStopSignal(handler) {
      stopHandlers.push(handler);
      return () => stopHandlers.splice(stopHandlers.indexOf(handler), 1);
    },
    every(_ms, task) {
      ticks.push(task);
      return () => ticks.splice(ticks.indexOf(task), 1);
    },
  };
  return { deps, out, err, ticks, stopHandlers };
}

const servers: TestTcpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
async function echoServer(): Promise<number> {
  const server = await startTcpServer(plainEcho);
  servers.push(server);
  return server.port;
}

describe('runProbeCommand', () => {
  it('--help: the help on stdout, exit 0', async () => {
    const { deps, out, err } = fakeDeps();
    expect(await runProbeCommand(['--help'], deps)).toBe(0);
    expect(out.join('')).toMatch(/^Usage: tcp-echo probe \[options\] <target>/);
    expect(err).toEqual([]);
  });

  it.each([
    [['tcp://127.0.0.1:7000', '--size', 'big'], /^tcp-echo probe: invalid argument: --size="big": /],
    [[], /^tcp-echo probe: invalid argument: target="": missing/],
    [['tls://127.0.0.1:7443', '--ca', '/nonexistent/ca.crt'], /^tcp-echo probe: invalid argument: --ca="\/nonexistent\/ca.crt": cannot read the file: ENOENT$/],
  ])('%j: exit 2, one line on stderr, nothing on stdout', async (argv, line) => {
    const { deps, out, err } = fakeDeps();
    expect(await runProbeCommand(argv, deps)).toBe(2);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/\n$/);
    expect(err[0]?.trimEnd()).toMatch(line);
  });

  it('--json: one JSON object on stdout; no progress off a terminal', async () => {
    const port = await echoServer();
    const { deps, out, err, ticks } = fakeDeps();
    expect(await runProbeCommand([`tcp://127.0.0.1:${port}`, '--count', '20', '--json'], deps)).toBe(0);
    expect(out).toHaveLength(1);
    const report = JSON.parse(out[0] as string) as ProbeReport;
    expect(report).toMatchObject({ result: 'pass', messages: { attempted: 20, echoed: 20, failed: 0 } });
    expect(ticks).toEqual([]);
    expect(err).toEqual([]);
  });

  it('--progress off a terminal: a line per tick on stderr; on a terminal, one line rewritten and cleared at the end', async () => {
    const port = await echoServer();
    for (const isTTY of [false, true]) {
      const { deps, err, ticks, stopHandlers } = fakeDeps({ isTTY });
      const running = runProbeCommand([`tcp://127.0.0.1:${port}`, '--duration', '1h', '--rate', '100', ...(isTTY ? [] : ['--progress'])], deps);
      while (ticks.length === 0) await new Promise((resolve) => setImmediate(resolve));
      ticks[0]?.();
      ticks[0]?.();
      expect(err).toHaveLength(2);
      const ERASE_TO_END = '\x1b[K';
      for (const line of err) {
        expect(line).toMatch(isTTY ? /^\rprobe tcp:\/\/127\.0\.0\.1:\d+: \d+ s, \d+ echoed, 0 failed, 0 errors, / : /^probe tcp:\/\/127\.0\.0\.1:\d+: .*\n$/);
        if (isTTY) expect(line.endsWith(ERASE_TO_END)).toBe(true);
      }
      stopHandlers[0]?.();
      expect(await running).toBe(0);
      expect(ticks).toEqual([]);
      expect(err.at(-1)).toBe(isTTY ? '\r\x1b[K' : err[1]);
    }
  });

  it('a stop signal: the run ends early, the report says interrupted', async () => {
    const port = await echoServer();
    const { deps, out, stopHandlers } = fakeDeps();
    const running = runProbeCommand([`tcp://127.0.0.1:${port}`, '--duration', '1h', '--rate', '50', '--json'], deps);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stopHandlers).toHaveLength(1);
    stopHandlers[0]?.();
    expect(await running).toBe(0);
    const report = JSON.parse(out[0] as string) as ProbeReport;
    expect(report.interrupted).toBe(true);
    expect(report.messages.echoed).toBeGreaterThan(0);
    expect(report.elapsedMs).toBeLessThan(10_000);
    expect(stopHandlers).toEqual([]);
  });
});
