// TCP_NODELAY and TCP keepalive on the server's side of each echo connection. The service sets them
// once on the listening socket (Linux hands them down to accepted sockets); this reads them back from
// the real accepted socket: a python3 child inherits a duplicate of the descriptor and calls getsockopt.
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

/** Socket options of the socket behind `fd`, read by a child process holding a duplicate of it. */
async function optionsOf(fd: number): Promise<{ noDelay: number; keepAlive: number; keepIdle: number; keepInterval: number; keepCount: number }> {
  const script = [
    'import json, socket',
    's = socket.socket(fileno=3)',
    'g = lambda level, name: s.getsockopt(level, name)',
    'print(json.dumps({"noDelay": g(socket.IPPROTO_TCP, socket.TCP_NODELAY), "keepAlive": g(socket.SOL_SOCKET, socket.SO_KEEPALIVE),',
    '  "keepIdle": g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), "keepInterval": g(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), "keepCount": g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)}))',
    's.detach()',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit', fd] });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  expect(code).toBe(0);
  return JSON.parse(out) as Awaited<ReturnType<typeof optionsOf>>;
}
const noDelayOf = async (fd: number) => (await optionsOf(fd)).noDelay;

/** The server side of a fresh connection to `port`, and the client, for reading options. */
async function acceptedSocket(port: number) {
  const client = await openClient(port, { noDelay: false }); // Node's default: Nagle on
  const clientPort = client.localPort as number;
  const serverFd = await waitFor(() => descriptorOf(port, clientPort), { what: 'the accepted socket' });
  return { client, serverFd, clientFd: descriptorOf(clientPort, port) as number };
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

describe.runIf(havePython)('TCP keepalive on echo connections (Linux)', () => {
  const cases: Array<{ what: string; env: Record<string, string>; idleSeconds: number | undefined }> = [
    { what: 'by default (ECHO_TCP_KEEPALIVE_MS 120000)', env: {}, idleSeconds: 120 },
    { what: 'ECHO_TCP_KEEPALIVE_MS=30500 (whole seconds count)', env: { ECHO_TCP_KEEPALIVE_MS: '30500' }, idleSeconds: 30 },
    { what: 'ECHO_TCP_KEEPALIVE_MS=0', env: { ECHO_TCP_KEEPALIVE_MS: '0' }, idleSeconds: undefined },
  ];
  it.each(cases)('$what: every listener kind hands it to its connections', async ({ env, idleSeconds }) => {
    const running = await startService({ ...env, ECHO_LISTENERS: 'tcp://127.0.0.1:0,tcp+proxy://127.0.0.1:0' });
    try {
      const ports = await listenerPorts(running.httpPort);
      for (const scheme of ['tcp', 'tcp+proxy']) {
        const { client, serverFd, clientFd } = await acceptedSocket(ports.get(scheme) as number);
        try {
          const server = await optionsOf(serverFd);
          if (idleSeconds === undefined) {
            expect(server.keepAlive, scheme).toBe(0);
          } else {
            expect(server.keepAlive, scheme).toBe(1);
            expect(server.keepIdle, scheme).toBe(idleSeconds);
            // Probe interval and count are libuv's; a vanished client is found within idle + interval x count.
            expect(server.keepInterval, scheme).toBeGreaterThan(0);
            expect(server.keepCount, scheme).toBeGreaterThan(0);
          }
          // The client's own socket, which sets no keepalive, reads 0: the probe tells them apart.
          expect((await optionsOf(clientFd)).keepAlive).toBe(0);
        } finally {
          client.destroy();
        }
      }
    } finally {
      await running.stop();
    }
  });
});
