// With its default hosts (`*`) the service listens on every address family the host has: IPv4 and
// IPv6 clients reach the echo listeners (TCP and UDP) and the sidecar over one socket each.
import { afterEach, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { Registry } from 'prom-client';
import { parseConfig } from '../../../src/config/parse.js';
import { createService } from '../../../src/process/service.js';
import type { Runnable } from '../../../src/process/shell.js';
import { createUdpEchoListener } from '../../../src/udp/listener.js';
import { createUdpStats } from '../../../src/udp/stats.js';
import { UDP_LISTENER_DEFAULTS } from '../../support/config.js';
import { echoRoundTrip, openClient, patternedBytes, readExactly, roundTrip } from '../../support/echo-client.js';
import { capturingLogger, silentLogger } from '../../support/logger.js';
import { httpRequest, listenerPorts } from '../../support/metrics.js';
import { canBindUdp6, openUdpClient } from '../../support/udp.js';

const running: Runnable[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((service) => service.shutdown('test finished')));
});

/** The service as `npm start` runs it, but on ephemeral ports: ECHO_HOST and HTTP_HOST left at their defaults. */
async function startWithDefaultHosts(env: Record<string, string> = {}) {
  const outcome = parseConfig([], { ECHO_PORT: '0', HTTP_PORT: '0', LOG_LEVEL: 'silent', ...env });
  if (outcome.kind !== 'run') throw new Error('unexpected help');
  const service = createService(outcome.config, { logger: silentLogger(), version: 'test', registry: new Registry() });
  running.push(service);
  return { service, config: outcome.config, ...(await service.start()) };
}

const ipv6 = await canBindUdp6();

describe('default hosts: every address family', () => {
  it('ECHO_HOST and HTTP_HOST default to * and the default listener is named tcp://*:7000', () => {
    const outcome = parseConfig([], {});
    if (outcome.kind !== 'run') throw new Error('unexpected help');
    expect(outcome.config.listeners[0]?.name).toBe('tcp://*:7000');
    expect(outcome.config.http.host).toBe('*');
  });

  it.runIf(ipv6)('echo and sidecar answer on 127.0.0.1 and on ::1', async () => {
    const { echo, http } = await startWithDefaultHosts();
    expect(echo.address).toBe('::'); // one dual-stack socket
    for (const host of ['127.0.0.1', '::1']) {
      const payload = patternedBytes(100_000, host.length);
      expect((await echoRoundTrip(echo.port, payload, { host })).equals(payload), host).toBe(true);
      expect((await httpRequest(http.port, '/readyz', { host })).status, host).toBe(200);
    }
  });

  it.runIf(ipv6)('an IPv6 client is written [address]:port, an IPv4 one as IPv4 (not ::ffff:), wherever the service writes it: the banner, /connections, the log', async () => {
    const { logger, lines } = capturingLogger('debug');
    const outcome = parseConfig([], { ECHO_PORT: '0', HTTP_PORT: '0', ECHO_BANNER: 'hello {client_addr}' });
    if (outcome.kind !== 'run') throw new Error('unexpected help');
    const service = createService(outcome.config, { logger, version: 'test', registry: new Registry() });
    running.push(service);
    const { echo, http } = await service.start();
    for (const host of ['::1', '127.0.0.1']) {
      const client = await openClient(echo.port, { host });
      try {
        const written = host.includes(':') ? `[${host}]:${client.localPort}` : `${host}:${client.localPort}`;
        const shown = await readExactly(client, `hello ${written}\n`.length);
        expect(shown.toString(), host).toBe(`hello ${written}\n`);
        const listing = JSON.parse((await httpRequest(http.port, '/connections')).body) as { connections: Array<{ client: string; peer: string }> };
        expect(listing.connections.find((c) => c.peer === written), host).toMatchObject({ client: written });
        expect(lines.some((line) => line.event === 'connection_opened' && line.remote === written), host).toBe(true);
      } finally {
        client.destroy();
      }
    }
  });

  it.runIf(ipv6)('every listener kind in ECHO_LISTENERS takes * too: tcp, tcp+proxy and udp on both families', async () => {
    const { http } = await startWithDefaultHosts({ ECHO_LISTENERS: 'tcp://*:0,tcp+proxy://*:0,udp://*:0' });
    const ports = await listenerPorts(http.port);
    for (const host of ['127.0.0.1', '::1']) {
      const payload = patternedBytes(5000, 7);
      expect((await echoRoundTrip(ports.get('tcp') as number, payload, { host })).equals(payload), `tcp ${host}`).toBe(true);
      const proxied = await openClient(ports.get('tcp+proxy') as number, { host });
      try {
        proxied.write('PROXY TCP4 203.0.113.7 192.0.2.1 51000 7000\r\n');
        expect((await roundTrip(proxied, payload)).equals(payload), `tcp+proxy ${host}`).toBe(true);
      } finally {
        proxied.destroy();
      }
      const client = await openUdpClient(ports.get('udp') as number, { host });
      try {
        const datagram = patternedBytes(1200, 3);
        expect((await client.exchange(datagram)).equals(datagram), `udp ${host}`).toBe(true);
      } finally {
        await client.close();
      }
    }
  });

  it('where the host has no IPv6 (the socket family is missing), a udp listener on * falls back to IPv4', async () => {
    const families: string[] = [];
    const listener = createUdpEchoListener({
      ...UDP_LISTENER_DEFAULTS,
      host: '*',
      port: 0,
      logger: silentLogger(),
      stats: createUdpStats(),
      createSocket: (options) => {
        families.push(options.type);
        const socket: Socket = createSocket(options);
        if (options.type === 'udp6') {
          socket.bind = (() => {
            queueMicrotask(() => socket.emit('error', Object.assign(new Error('bind EAFNOSUPPORT'), { code: 'EAFNOSUPPORT' })));
            return socket;
          }) as Socket['bind'];
        }
        return socket;
      },
    });
    try {
      const address = await listener.listen();
      expect(families).toEqual(['udp6', 'udp4']);
      expect(address.address).toBe('0.0.0.0');
      const client = await openUdpClient(address.port);
      try {
        const datagram = patternedBytes(100, 1);
        expect((await client.exchange(datagram)).equals(datagram)).toBe(true);
      } finally {
        await client.close();
      }
    } finally {
      await listener.close();
    }
  });

  it('0.0.0.0 pins IPv4: ::1 is refused', async () => {
    const { echo } = await startWithDefaultHosts({ ECHO_HOST: '0.0.0.0' });
    expect(echo.address).toBe('0.0.0.0');
    const payload = patternedBytes(10, 1);
    expect((await echoRoundTrip(echo.port, payload, { host: '127.0.0.1' })).equals(payload)).toBe(true);
    if (ipv6) await expect(echoRoundTrip(echo.port, payload, { host: '::1' })).rejects.toThrow(/ECONNREFUSED/);
  });
});
