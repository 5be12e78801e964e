// The drain of the echo listeners (src/listeners/drain.ts) in a service built in this process.
import { describe, it } from 'vitest';
import { openClient } from '../../support/echo-client.js';
import { listenerPorts } from '../../support/metrics.js';
import { activeConnections, startService } from '../../support/service.js';
import { waitFor, within } from '../../support/wait.js';

describe('tcp+proxy during shutdown', () => {
  it('a client that closes before sending its PROXY header does not hold the drain until the deadline', async () => {
    const running = await startService({ ECHO_LISTENERS: 'tcp+proxy://127.0.0.1:0', SHUTDOWN_TIMEOUT_MS: '20000', SHUTDOWN_QUIET_MS: '50' });
    const port = (await listenerPorts(running.httpPort)).get('tcp+proxy') as number;
    const probe = await openClient(port);
    await waitFor(() => activeConnections(running.service) === 1 || undefined, { what: 'the probe accepted' });
    const stopped = running.stop();
    probe.end(); // a balancer's bare TCP check: connect, then FIN without a byte
    await within(stopped, 5000, 'shutdown after the probe left (the deadline is 20 s)');
  });
});

