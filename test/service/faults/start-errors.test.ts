// A listener that cannot bind: whatever kind it is and however it was configured, the one stderr line
// names that listener, its address and the setting it came from, and nothing else's; exit 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../../support/certs.js';
import { busyPortsPerTest, freePort } from '../../support/ports.js';
import { runToExit } from '../../support/process.js';

const busyPorts = busyPortsPerTest();
const occupyTcp = busyPorts.tcp;
const occupyUdp = busyPorts.udp;

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
afterAll(() => pki?.cleanup());
const tlsEnv = (): Record<string, string> => ({ ECHO_TLS_CERT: pki.server.certFile, ECHO_TLS_KEY: pki.server.keyFile });

interface Case {
  readonly name: string;
  /** Makes the busy port and the configuration that asks for it. */
  setup(): Promise<{ env?: Record<string, string>; args?: string[]; address: string; listener: RegExp; origin: string }>;
}

const CASES: Case[] = [
  {
    name: 'the only listener, from ECHO_LISTENERS',
    async setup() {
      const busy = await occupyTcp();
      return { env: { ECHO_LISTENERS: `tcp://127.0.0.1:${busy}` }, address: `127.0.0.1:${busy}`, listener: /echo listener tcp:\/\/127\.0\.0\.1:\d+ /, origin: 'set ECHO_LISTENERS' };
    },
  },
  {
    name: 'the only listener, from --listeners',
    async setup() {
      const busy = await occupyTcp();
      return { args: ['--listeners', `tcp+proxy://127.0.0.1:${busy}`], address: `127.0.0.1:${busy}`, listener: /echo listener tcp\+proxy:\/\/127\.0\.0\.1:\d+ /, origin: 'set --listeners' };
    },
  },
  {
    name: 'the second of several listeners',
    async setup() {
      const busy = await occupyTcp();
      const free = await freePort();
      return { env: { ECHO_LISTENERS: `tcp://127.0.0.1:${free},tcp://127.0.0.1:${busy}` }, address: `127.0.0.1:${busy}`, listener: new RegExp(`echo listener tcp://127\\.0\\.0\\.1:${busy} `), origin: 'set ECHO_LISTENERS' };
    },
  },
  {
    name: 'a udp listener',
    async setup() {
      const busy = await occupyUdp();
      return { env: { ECHO_LISTENERS: `tcp://127.0.0.1:0,udp://127.0.0.1:${busy}` }, address: `127.0.0.1:${busy}`, listener: /echo listener udp:\/\/127\.0\.0\.1:\d+ /, origin: 'set ECHO_LISTENERS' };
    },
  },
  {
    name: 'a tls listener',
    async setup() {
      const busy = await occupyTcp();
      return { env: { ECHO_LISTENERS: `tls://127.0.0.1:${busy}`, ...tlsEnv() }, address: `127.0.0.1:${busy}`, listener: /echo listener tls:\/\/127\.0\.0\.1:\d+ /, origin: 'set ECHO_LISTENERS' };
    },
  },
  {
    name: 'the default listener, from ECHO_PORT',
    async setup() {
      const busy = await occupyTcp();
      return { env: { ECHO_PORT: String(busy) }, address: `127.0.0.1:${busy}`, listener: /echo listener tcp:\/\/127\.0\.0\.1:\d+ /, origin: 'set ECHO_HOST, ECHO_PORT' };
    },
  },
  {
    name: 'the default listener, from --port',
    async setup() {
      const busy = await occupyTcp();
      return { args: ['--port', String(busy)], address: `127.0.0.1:${busy}`, listener: /echo listener tcp:\/\/127\.0\.0\.1:\d+ /, origin: 'set ECHO_HOST, --port' };
    },
  },
  {
    name: 'the sidecar, from HTTP_PORT',
    async setup() {
      const busy = await occupyTcp();
      return { env: { HTTP_PORT: String(busy) }, address: `127.0.0.1:${busy}`, listener: /sidecar \(health, metrics\) /, origin: 'set HTTP_HOST, HTTP_PORT' };
    },
  },
  {
    name: 'the sidecar, from --http-port',
    async setup() {
      const busy = await occupyTcp();
      return { args: ['--http-port', String(busy)], address: `127.0.0.1:${busy}`, listener: /sidecar \(health, metrics\) /, origin: 'set HTTP_HOST, --http-port' };
    },
  },
  {
    name: 'an address this host does not have',
    async setup() {
      return { env: { ECHO_LISTENERS: 'tcp://[2001:db8::7]:7000' }, address: '2001:db8::7:7000', listener: /echo listener tcp:\/\/\[2001:db8::7\]:7000 /, origin: 'set ECHO_LISTENERS' };
    },
  },
];

describe.each([
  { mode: 'one process', workers: '1' },
  { mode: 'ECHO_WORKERS=2', workers: '2' },
])('a listener that cannot bind ($mode)', ({ workers }) => {
  it.each(CASES)('$name: one line naming it, its address and its setting; exit 1', async (testCase) => {
    const { env = {}, args = [], address, listener, origin } = await testCase.setup();
    const result = await runToExit({ env: { ECHO_WORKERS: workers, ...env }, args, timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(1);
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    const line = lines[0] as string;
    expect(line).toMatch(listener);
    expect(line).toContain(`cannot listen on ${address}: `);
    expect(line.endsWith(origin)).toBe(true);
    // Never another listener's address or settings.
    expect(line).not.toContain('0.0.0.0');
    expect(line).not.toContain(':7000;');
    if (!/ECHO_PORT|--port/.test(origin)) expect(line).not.toMatch(/ECHO_PORT|--port\b/);
    expect(result.stdout).not.toMatch(/"event":"listening"/);
  });
});
