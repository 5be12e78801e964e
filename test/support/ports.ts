// Ports for tests that must name one before a process binds it.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A port free on the host right now, for a process that needs a fixed one (compose, SO_REUSEPORT
 * workers, a second listener). It is taken below the kernel's ephemeral range: between this check
 * and the bind (a container build can take a minute), client sockets of other tests (thousands at
 * once in the fault suite) would otherwise grab it.
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const high = Math.min((ephemeralLow ?? 32768) - 1, 65535);
  const low = Math.max(10000, high - 20000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '0.0.0.0', () => resolve(true));
    });
    if (bound) {
      server.close();
      await once(server, 'close');
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}
