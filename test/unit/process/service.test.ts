// The one-process service (src/process/service.ts) built and run in this process: a start that fails
// leaves nothing behind, and a shutdown that begins while it starts.
import { describe, expect, it } from 'vitest';
import { createService } from '../../../src/process/service.js';
import { StartError } from '../../../src/listeners/start-error.js';
import { connectOutcome } from '../../support/echo-client.js';
import { silentLogger } from '../../support/logger.js';
import { busyPortsPerTest, freePort } from '../../support/ports.js';
import { echoAccepting, testConfig } from '../../support/service.js';
import { within } from '../../support/wait.js';

describe('a port already in use', () => {
  const occupyPort = busyPortsPerTest().tcp;

  it('in process: start() rejects with the listener named and leaves nothing bound, state stopped', async () => {
    const busy = await occupyPort();
    const httpPort = await freePort();
    const service = createService(testConfig({ ECHO_PORT: String(busy), HTTP_PORT: String(httpPort) }), { logger: silentLogger(), version: 'test' });
    const error = await service.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StartError);
    expect(error).toMatchObject({ listener: `echo listener tcp://127.0.0.1:${busy}`, port: busy, code: 'EADDRINUSE' });
    expect(service.state).toBe('stopped');
    expect(echoAccepting(service)).toBe(false);
    expect(await connectOutcome(httpPort)).toBe('refused'); // the sidecar it had started is closed again
  });
});

describe('a shutdown that begins during start-up', () => {
  it('leaves nothing listening and never turns ready (in process)', async () => {
    const service = createService(testConfig({ SHUTDOWN_TIMEOUT_MS: '5000' }), { logger: silentLogger(), version: 'test' });
    const started = service.start();
    const stopped = service.shutdown('signal during start-up');
    const addresses = await within(started, 10_000, 'start');
    await within(stopped, 10_000, 'shutdown');
    expect(service.state).toBe('stopped');
    expect(echoAccepting(service)).toBe(false);
    expect(await connectOutcome(addresses.echo.port)).toBe('refused');
  });
});
