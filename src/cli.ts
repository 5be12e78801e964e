// The command line: parse config, start the service (or the cluster primary / a worker), wire
// signals. Loaded by main.ts once the V8 settings are in place; runCli resolves once it listens.
import { readFileSync } from 'node:fs';
import { pino, stdTimeFunctions } from 'pino';
import { ConfigError, parseConfig, type ParseOutcome } from './config/parse.js';
import cluster from 'node:cluster';
import { createClusterPrimary } from './cluster/primary.js';
import { runWorker } from './cluster/worker.js';
import { createService } from './process/service.js';
import type { Runnable } from './process/shell.js';
import { createSignalCounts, handleSignals, ignoreSignals } from './process/signals.js';
import { SETTINGS } from './config/settings.js';
import { hostPort } from './listeners/host-port.js';
import { loadTlsMaterialSync, TlsMaterialError, type TlsFileRole, type TlsMaterial } from './tls/index.js';

const EXIT_CONFIG = 2;
const EXIT_START_FAILED = 1;
/** The setting that names each TLS file, for the error line. */
const TLS_FILE_SETTINGS: Readonly<Record<TlsFileRole, { readonly env: string }>> = { cert: SETTINGS.tlsCert, key: SETTINGS.tlsKey, clientCa: SETTINGS.tlsClientCa };

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function runCli(): Promise<void> {
  // `tcp-echo probe ...`: the client that tests a path end to end (src/probe/), not the service.
  if (process.argv[2] === 'probe') {
    const { runProbeCommand } = await import('./probe/command.js');
    process.exit(await runProbeCommand(process.argv.slice(3)));
  }
  let outcome: ParseOutcome;
  try {
    outcome = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`tcp-echo: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  if (outcome.kind === 'help') {
    process.stdout.write(outcome.text);
    return;
  }
  const { config } = outcome;
  // Unreadable or mismatched certificate files are a configuration error too: exit 2 before anything
  // listens. What is read here is what the listeners start with (SIGHUP re-reads the files).
  let tlsMaterial: TlsMaterial | undefined;
  try {
    tlsMaterial = config.tls ? loadTlsMaterialSync(config.tls) : undefined;
  } catch (error) {
    if (!(error instanceof TlsMaterialError)) throw error;
    process.stderr.write(`tcp-echo: invalid configuration: ${TLS_FILE_SETTINGS[error.role].env}: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const logger = pino({ level: config.logLevel, base: { service: 'tcp-echo', pid: process.pid }, timestamp: stdTimeFunctions.isoTime });
  const version = readVersion();
  if (config.workers > 1 && cluster.isWorker) {
    ignoreSignals(process);
    await runWorker(config, {
      tlsMaterial,
      logger: logger.child({ worker: cluster.worker?.id }),
      version,
      send: (message) => new Promise((resolve) => process.send?.(message, undefined, {}, () => resolve())),
      onMessage: (handler) => process.on('message', handler),
      exit: (code) => process.exit(code),
    });
    return;
  }
  const signalCounts = createSignalCounts();
  const service: Runnable =
    config.workers > 1
      ? createClusterPrimary(config, { logger, version, cluster, signalCounts })
      : createService(config, { logger, version, tlsMaterial, signalCounts });
  handleSignals(process, {
    logger,
    counts: signalCounts,
    actions: {
      stop: (signal) =>
        service.shutdown(signal).then(
          () => process.exit(0),
          (error: unknown) => {
            logger.fatal({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        ),
      reload: () => service.reload(),
      status: () => service.status(),
      exit: (code) => process.exit(code),
    },
  });

  try {
    const { echo, http } = await service.start();
    logger.info(
      { event: 'listening', echo: { address: echo.address, port: echo.port }, http: { address: http.address, port: http.port } },
      `echo on ${hostPort(echo.address, echo.port)}, sidecar on ${hostPort(http.address, http.port)}`,
    );
  } catch (error) {
    // One line for the operator on stderr (a StartError names the listener, address and settings), the detail in the log.
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ err: error, event: 'start_failed' }, `could not start: ${message}`);
    process.stderr.write(`tcp-echo: could not start: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(EXIT_START_FAILED);
  }
}
