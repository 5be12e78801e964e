// `tcp-echo probe`: arguments, certificate files, the run with its progress line and stop signals,
// then the report on stdout; resolves with the exit code. The process's streams, files, clock,
// signals and timer are injected (processDeps() gives the real ones).
import { readFileSync } from 'node:fs';
import type { ChannelFactory } from './channel.js';
import { systemClock, type Clock } from './clock.js';
import { parseProbeArgs, ProbeArgumentError, type ProbeOptions } from './args.js';
import { createMessagePattern } from './pattern.js';
import { buildReport, formatText, progressLine } from './report.js';
import { startProbeRun } from './run.js';
import { createProbeStats, type ProbeStats } from './stats.js';
import { tcpChannels, type StreamSettings } from './tcp.js';
import { loadTlsClientMaterial, tlsChannels } from './tls.js';
import { udpChannels } from './udp.js';
import { EXIT_INVALID_ARGUMENTS, EXIT_PASSED } from './verdict.js';

const PROGRESS_INTERVAL_MS = 1000;

export interface ProbeCommandDeps {
  readonly stdout: { write(text: string, done: () => void): unknown };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly readFile: (path: string) => Buffer;
  readonly clock: Clock;
  /** Calls `handler` on the first SIGINT or SIGTERM (a second one ends the process as usual); returns the removal. */
  readonly onStopSignal: (handler: () => void) => () => void;
  /** Calls `task` every `ms`; returns the cancellation. */
  readonly every: (ms: number, task: () => void) => () => void;
}

export function processDeps(): ProbeCommandDeps {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    readFile: (path) => readFileSync(path),
    clock: systemClock,
    onStopSignal(handler) {
      const signals = ['SIGINT', 'SIGTERM'] as const;
      for (const signal of signals) process.once(signal, handler);
      return () => {
        for (const signal of signals) process.off(signal, handler);
      };
    },
    every(ms, task) {
      const timer = setInterval(task, ms);
      return () => clearInterval(timer);
    },
  };
}

function channelsFor(options: ProbeOptions, stats: ProbeStats, readFile: (path: string) => Buffer): ChannelFactory {
  const { target, timeoutMs, proxy, bannerLines } = options;
  const stream: StreamSettings = { host: target.host, port: target.port, timeoutMs, proxy, bannerLines };
  switch (target.transport) {
    case 'tcp':
      return tcpChannels(stream);
    case 'tls':
      return tlsChannels(stream, loadTlsClientMaterial(options.tls, readFile));
    case 'udp':
      return udpChannels({ host: target.host, port: target.port, timeoutMs, onStrayReply: () => stats.strayReply() });
  }
}

export async function runProbeCommand(argv: readonly string[], deps: ProbeCommandDeps = processDeps()): Promise<number> {
  const { stdout, stderr, clock } = deps;
  const print = (text: string) => new Promise<void>((resolve) => stdout.write(text, resolve));
  let options: ProbeOptions;
  let openChannel: ChannelFactory;
  const stats = createProbeStats();
  try {
    const outcome = parseProbeArgs(argv);
    if (outcome.kind === 'help') {
      await print(outcome.text);
      return EXIT_PASSED;
    }
    options = outcome.options;
    openChannel = channelsFor(options, stats, deps.readFile);
  } catch (error) {
    if (!(error instanceof ProbeArgumentError)) throw error;
    stderr.write(`tcp-echo probe: ${error.message}\n`);
    return EXIT_INVALID_ARGUMENTS;
  }

  const run = startProbeRun(
    { count: options.count, durationMs: options.durationMs, ratePerSecond: options.ratePerSecond, concurrency: options.concurrency, messagesPerChannel: options.messagesPerConnection },
    { clock, openChannel, pattern: createMessagePattern(options.size), stats },
  );
  let interrupted = false;
  const removeStopSignal = deps.onStopSignal(() => {
    interrupted = true;
    run.stop();
  });
  const terminal = stderr.isTTY === true;
  const stopProgress =
    options.progress || terminal
      ? deps.every(PROGRESS_INTERVAL_MS, () => {
          const line = progressLine(options.target.text, stats, run.elapsedMs());
          stderr.write(terminal ? `\r${line}\x1b[K` : `${line}\n`);
        })
      : () => undefined;
  try {
    await run.done;
  } finally {
    stopProgress();
    removeStopSignal();
    if (terminal) stderr.write('\r\x1b[K');
  }

  const report = buildReport(options, stats, run.elapsedMs(), interrupted);
  await print(options.json ? `${JSON.stringify(report)}\n` : formatText(report));
  return report.exitCode;
}
