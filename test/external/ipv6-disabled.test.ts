// The default hosts on a host where IPv6 is disabled: the service, started inside a network
// namespace of its own with IPv6 turned off (unshare, ip, sysctl; needs root), still listens with
// its defaults and serves IPv4 clients, echo and sidecar alike.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireAllTests, toolAvailable } from '../support/tools.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/default-hosts-check.mjs', import.meta.url));
const isRoot = process.getuid?.() === 0;
if (!isRoot && requireAllTests) throw new Error('ipv6-disabled.test.ts needs root (a network namespace); REQUIRE_ALL_TESTS=1 forbids skipping');
if (!isRoot) console.warn('skipping: a network namespace needs root');
const canRun = isRoot && toolAvailable('unshare', 'util-linux') && toolAvailable('ip', 'iproute2') && toolAvailable('sysctl', 'procps');

describe.runIf(canRun)('default hosts where IPv6 is disabled (a network namespace)', () => {
  it('the service starts with its defaults and serves IPv4 clients', () => {
    const setup = 'ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1 && exec "$0" "$1"';
    const result = spawnSync('unshare', ['--net', '--', 'sh', '-c', setup, process.execPath, FIXTURE], { encoding: 'utf8', timeout: 30_000 });
    expect(result.status, result.stderr).toBe(0);
    const outcome = JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(outcome).toMatchObject({ ipv6Loopback: false, echoed: true, readyz: 200, exit: { code: 0 } });
  });
});
