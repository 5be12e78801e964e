// Real clients users reach for, nc and socat (Debian packages netcat-openbsd and socat): over TCP
// against the built service as a child process, over UDP against the UDP echo listener.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { patternedBytes } from '../support/echo-client.js';
import { sample, scrape } from '../support/metrics.js';
import { spawnService, type ServiceProcess } from '../support/process.js';
import { toolAvailable } from '../support/tools.js';
import { udpPerTest } from '../support/udp.js';
import { waitFor, within } from '../support/wait.js';

const haveNc = toolAvailable('nc', 'netcat-openbsd');
const haveSocat = toolAvailable('socat', 'socat');

function run(command: string, args: string[], inputFile: string): Promise<Buffer> {
  return within(
    new Promise<Buffer>((resolve, reject) => {
      const child = execFile('sh', ['-c', `"$0" "$@" < '${inputFile}'`, command, ...args], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      );
      child.stdin?.end();
    }),
    30_000,
    command,
  );
}

let service: ServiceProcess;
let dir: string;
let inputFile: string;
const payload = patternedBytes(8 * 1024 * 1024 + 5, 42);

beforeAll(async () => {
  service = await spawnService();
  dir = mkdtempSync(join(tmpdir(), 'tcp-echo-clients-'));
  inputFile = join(dir, 'in.bin');
  writeFileSync(inputFile, payload);
});
afterAll(async () => {
  service?.kill('SIGTERM');
  await service?.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe('real clients', () => {
  it.skipIf(!haveNc)('nc -N: a file goes out, comes back identical, and nc exits at the server FIN', async () => {
    const before = sample(await scrape(service.httpPort), 'echo_received_bytes_total');
    const echoed = await run('nc', ['-N', '127.0.0.1', String(service.echoPort)], inputFile);
    expect(echoed.length).toBe(payload.length);
    expect(echoed.equals(payload)).toBe(true);
    await waitFor(async () => sample(await scrape(service.httpPort), 'echo_received_bytes_total') - before === payload.length);
  });

  it.skipIf(!haveSocat)('socat: half-close at EOF, the whole echo arrives before the close', async () => {
    const echoed = await run('socat', ['-t', '30', '-', `TCP:127.0.0.1:${service.echoPort}`], inputFile);
    expect(echoed.equals(payload)).toBe(true);
  });

  it.skipIf(!haveNc)('nc -z connect-then-close probes are normal closes, not errors', async () => {
    const before = await scrape(service.httpPort);
    for (let i = 0; i < 20; i++) await run('nc', ['-z', '127.0.0.1', String(service.echoPort)], '/dev/null');
    const after = await waitFor(async () => {
      const s = await scrape(service.httpPort);
      return sample(s, 'echo_connections_active') === 0 ? s : undefined;
    });
    const delta = (key: string) => sample(after, key) - sample(before, key);
    expect(delta('echo_connections_accepted_total')).toBe(20);
    expect(delta('echo_connections_closed_total{reason="client_end"}')).toBe(20);
    expect(delta('echo_connections_closed_total{reason="error"}')).toBe(0);
    // Nothing above debug was logged for them.
    expect(service.logs.filter((line) => typeof line.level === 'number' && line.level > 30)).toEqual([]);
  });
});

describe('UDP echo (RFC 862) over real datagrams', () => {
  const udp = udpPerTest();

  it('is answered by `socat` and `nc -u`, as in docs/listeners.md', async (context) => {
    const { port: udpPort } = await udp.startListener();
    const commands: Array<[string, string[]]> = [];
    if (toolAvailable('socat', 'socat')) commands.push(['socat', ['-', `UDP:127.0.0.1:${udpPort}`]]);
    if (toolAvailable('nc', 'netcat-openbsd')) commands.push(['nc', ['-u', '127.0.0.1', String(udpPort)]]);
    if (commands.length === 0) context.skip();
    for (const [command, args] of commands) {
      const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
      try {
        let output = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
        child.stdin.write('hello, udp echo\n');
        await waitFor(() => output === 'hello, udp echo\n', { what: `${command}'s echo`, timeoutMs: 5000 });
      } finally {
        child.kill();
        if (child.exitCode === null && child.signalCode === null) await within(once(child, 'exit'), 5000, `${command} exit`);
      }
    }
  });
});
