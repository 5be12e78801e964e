// TCP_NODELAY on the server's side of each echo connection. The service sets it once on the
// listening socket (Linux hands it down to accepted sockets); this reads it back from the real
// accepted socket: a python3 child inherits a duplicate of the descriptor and calls getsockopt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openClient } from '../support/echo-client.js';
import { listenerPorts } from '../support/metrics.js';
import { socketDescriptors, tcpSockets } from '../support/proc-net.js';
import { startService, type RunningService } from '../support/service.js';
import { toolAvailable } from '../support/tools.js';
import { waitFor } from '../support/wait.js';

const onLinux = process.platform === 'linux';
const havePython = onLinux && toolAvailable('python3', 'python3');

/** This process's descriptor for the TCP socket from localPort to remotePort (found via /proc/net/tcp). */
function descriptorOf(localPort: number, remotePort: number): number | undefined {
  const inode = tcpSockets().find((row) => row.localPort === localPort && row.remotePort === remotePort)?.inode;
  return inode === undefined ? undefined : socketDescriptors('self').get(inode);
}

/** TCP_NODELAY (0 or 1) of the socket behind `fd`, read by a child process holding a duplicate of it. */
async function noDelayOf(fd: number): Promise<number> {
  const script = 'import socket; s = socket.socket(fileno=3); print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)); s.detach()';
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit', fd] });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  expect(code).toBe(0);
  return Number(out.trim());
}

describe.runIf(havePython)('TCP_NODELAY on echo connections (Linux)', () => {
  let running: RunningService;
  let ports: Map<string, number>;
  beforeAll(async () => {
    running = await startService({ ECHO_LISTENERS: 'tcp://127.0.0.1:0,tcp+proxy://127.0.0.1:0' });
    ports = await listenerPorts(running.httpPort);
  });
  afterAll(async () => {
    await running.stop();
  });

  it.each(['tcp', 'tcp+proxy'])('the server side of a %s connection has TCP_NODELAY set', async (scheme) => {
    const port = ports.get(scheme) as number;
    const client = await openClient(port, { noDelay: false }); // Node's default: Nagle on
    try {
      const clientPort = client.localPort as number;
      const serverFd = await waitFor(() => descriptorOf(port, clientPort), { what: 'the accepted socket' });
      const clientFd = descriptorOf(clientPort, port) as number;
      expect(await noDelayOf(serverFd)).toBe(1);
      // The same check on the client's socket, left with Nagle on, reads 0: the probe tells them apart.
      expect(await noDelayOf(clientFd)).toBe(0);
    } finally {
      client.destroy();
    }
  });
});
