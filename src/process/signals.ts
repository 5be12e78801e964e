// What each signal does to the service. Only SIGTERM and SIGINT stop it; every other signal that
// would end a Node process by default (or, SIGUSR1, open its inspector) is taken over here, so a
// stray `kill`, a fleet-wide SIGHUP or a process-group signal never takes the service down.
import { constants } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { registerScrapedCounter } from '../metrics/scraped-counter.js';

export const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
/** Re-reads what can be re-read (TLS certificates and keys). */
export const RELOAD_SIGNALS = ['SIGHUP'] as const;
/**
 * Log one status line. SIGUSR1 would otherwise open Node's inspector on 127.0.0.1:9229, where
 * anything that can reach it could run code in the process; a listener of our own replaces that.
 */
export const STATUS_SIGNALS = ['SIGUSR1', 'SIGUSR2'] as const;
/**
 * Logged and counted, nothing more. Each ends a Node process by default. Left alone: SIGPROF (V8's
 * CPU profiler uses it), the crash signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS)
 * and the job-control stops, which are not requests to quit.
 */
export const IGNORED_SIGNALS = ['SIGQUIT', 'SIGALRM', 'SIGVTALRM', 'SIGIO', 'SIGPWR', 'SIGSTKFLT', 'SIGXCPU', 'SIGXFSZ'] as const;

export type HandledSignal = (typeof STOP_SIGNALS)[number] | (typeof RELOAD_SIGNALS)[number] | (typeof STATUS_SIGNALS)[number] | (typeof IGNORED_SIGNALS)[number];

/** The handled signals this platform has (SIGPWR and SIGSTKFLT are Linux's). */
export const HANDLED_SIGNALS: readonly HandledSignal[] = [...STOP_SIGNALS, ...RELOAD_SIGNALS, ...STATUS_SIGNALS, ...IGNORED_SIGNALS].filter(
  (signal) => signal in constants.signals,
);

export type SignalCounts = Record<HandledSignal, number>;

export function createSignalCounts(): SignalCounts {
  return Object.fromEntries(HANDLED_SIGNALS.map((signal) => [signal, 0])) as SignalCounts;
}

export function registerSignalMetrics(registry: Registry, counts: SignalCounts): void {
  registerScrapedCounter(registry, { name: 'echo_signals_received_total', help: 'Signals the service received, by signal; only SIGTERM and SIGINT stop it.', labelNames: ['signal'] }, (add) => {
    for (const signal of HANDLED_SIGNALS) add({ signal }, counts[signal]);
  });
}

export interface SignalActions {
  /** First SIGTERM/SIGINT: the graceful shutdown. */
  stop(signal: NodeJS.Signals): void;
  /** SIGHUP; returns what it reloaded, for the log line. */
  reload(): Promise<string>;
  /** SIGUSR1/SIGUSR2: the service's state, as /healthz shows it. */
  status(): Record<string, unknown>;
  /** A second stop signal: leave at once with 128 + the signal's number. */
  exit(code: number): void;
}

export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

/** Takes over every handled signal of `source` (the process). */
export function handleSignals(source: SignalSource, { logger, counts, actions }: { logger: Logger; counts: SignalCounts; actions: SignalActions }): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const handled = signal as HandledSignal;
    counts[handled]++;
    if ((STOP_SIGNALS as readonly string[]).includes(signal)) {
      if (stopping) {
        logger.warn({ event: 'second_signal', signal }, 'second signal: exiting at once');
        actions.exit(128 + constants.signals[signal]);
        return;
      }
      stopping = true;
      actions.stop(signal);
    } else if ((RELOAD_SIGNALS as readonly string[]).includes(signal)) {
      logger.info({ event: 'signal', signal, action: 'reload' }, `${signal}: reloading`);
      actions.reload().then(
        (what) => logger.info({ event: 'reload_done', signal, reloaded: what }, `${signal}: ${what}`),
        (error: unknown) => logger.error({ event: 'reload_failed', signal, err: error }, `${signal}: reload failed`),
      );
    } else if ((STATUS_SIGNALS as readonly string[]).includes(signal)) {
      logger.info({ event: 'signal', signal, action: 'status', status: actions.status() }, `${signal}: status`);
    } else {
      logger.info({ event: 'signal', signal, action: 'ignored' }, `${signal} ignored: only SIGTERM and SIGINT stop the service`);
    }
  };
  for (const signal of HANDLED_SIGNALS) source.on(signal, onSignal);
}

/**
 * An echo worker of a multi-process service: signals sent to the whole process group (Ctrl-C, a
 * group-wide SIGHUP) are the primary's to act on, so a worker only keeps them from ending it.
 */
export function ignoreSignals(source: SignalSource): void {
  for (const signal of HANDLED_SIGNALS) source.on(signal, () => undefined);
}
