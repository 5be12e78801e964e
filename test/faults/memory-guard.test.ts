// The memory guard against the real service: a crowd of clients that stop reading and keep sending
// pushes it past its budget. It refuses new connections (readiness 503), closes the connections
// holding the most unread echo, never dies, keeps echoing byte-exact for a client that reads, and
// accepts again once the crowd has gone.
import { afterEach, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { openClient, patternedBytes } from '../support/echo-client.js';
import { httpRequest, scrape, sample } from '../support/metrics.js';
import { spawnService, type ServiceProcess } from '../support/process.js';
import { waitFor, within } from '../support/wait.js';

const MiB = 1024 * 1024;
const BUDGET = 128 * MiB;
/**
 * Each stalled client makes the service hold up to its socket buffer (ECHO_MAX_PENDING_BYTES) and a
 * read chunk, but only once the kernel's buffers on the path are full, and on loopback the sender's
 * buffer grows to net.ipv4.tcp_wmem's maximum (4 MiB) first. With the default 64 KiB that takes some
 * 4.5 MiB of kernel memory per client, and the ~500 clients it would take to pass the budget would
 * push the host's TCP memory past net.ipv4.tcp_mem (the kernel then resets connections anywhere).
 * So the service holds 4 MiB per client here: 64 clients are twice the budget.
 */
const PENDING_BYTES = 4 * MiB;
const CROWD = 64;
/** What each of the crowd sends: enough to fill the kernel's buffers and the service's, and bounded. */
const FLOOD_BYTES = 12 * MiB;
const ATTACK_LIMIT_MS = 30_000;

const running: ServiceProcess[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(running.splice(0).map((service) => service.ensureStopped()));
});

/** One round trip of `payload` on an open connection. */
async function roundTrip(client: Socket, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  const received = new Promise<void>((resolve, reject) => {
    const onClose = () => reject(new Error('the well-behaved client was closed'));
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= payload.length) {
        client.off('data', onData);
        client.off('close', onClose);
        resolve();
      }
    };
    client.on('data', onData);
    client.once('close', onClose);
  });
  client.write(payload);
  await within(received, 10_000, 'a round trip');
  return Buffer.concat(chunks);
}

/** A client that stops reading and sends `FLOOD_BYTES` as fast as its socket takes them. */
function flood(socket: Socket, chunk: Buffer): void {
  socket.pause();
  let sent = 0;
  const pump = () => {
    while (sent < FLOOD_BYTES && !socket.destroyed) {
      sent += chunk.length;
      if (!socket.write(chunk)) break;
    }
    if (sent < FLOOD_BYTES && !socket.destroyed) socket.once('drain', pump);
  };
  pump();
}

it('a crowd of non-reading clients: refused, then shed; the service lives, echoes for a reader, and recovers', { timeout: 120_000 }, async () => {
  const service = await spawnService({ env: { ECHO_MEMORY_BUDGET: String(BUDGET), ECHO_MAX_PENDING_BYTES: String(PENDING_BYTES) } });
  running.push(service);
  const port = service.echoPort;
  const metric = async (key: string) => sample(await scrape(service.httpPort), key);
  const listener = `tcp://127.0.0.1:0`;
  expect(await metric('echo_memory_budget_bytes')).toBe(BUDGET);
  expect(await metric('echo_overload_active{action="refuse_connections"}')).toBe(0);

  // A client that reads its echo, before and throughout.
  const reader = await openClient(port);
  reader.on('error', () => {}); // a reset shows as the close the round trip reports
  sockets.push(reader);
  let readerRounds = 0;
  let attackOver = false;
  const readerLoop = (async () => {
    for (let i = 0; !attackOver && i < 10_000; i++) {
      const payload = patternedBytes(4096, i);
      expect((await roundTrip(reader, payload)).equals(payload)).toBe(true);
      readerRounds++;
    }
  })();

  // The crowd connects while memory is low: each looks like any client.
  const crowd: Socket[] = [];
  for (let i = 0; i < CROWD; i++) {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    sockets.push(socket);
    crowd.push(socket);
  }
  await Promise.all(crowd.map((socket) => once(socket, 'connect')));
  await waitFor(async () => (await metric(`echo_connections_active{listener="${listener}"}`)) >= CROWD + 1, { what: 'the crowd to be accepted', timeoutMs: 20_000 });

  // Then all of it stops reading and sends.
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (const socket of crowd) flood(socket, chunk);
  const attackStarted = Date.now();
  await waitFor(async () => (await metric(`echo_connections_closed_total{listener="${listener}",reason="overload"}`)) > 0, {
    what: 'the guard to close connections',
    timeoutMs: ATTACK_LIMIT_MS,
    intervalMs: 250,
  });
  expect(Date.now() - attackStarted).toBeLessThan(ATTACK_LIMIT_MS);

  // While it sheds: not ready, new connections refused at accept and counted.
  expect((await httpRequest(service.httpPort, '/readyz')).status).toBe(503);
  const rejectedBefore = await metric(`echo_connections_rejected_total{listener="${listener}",reason="overload"}`);
  const late = connect({ port, host: '127.0.0.1' });
  late.on('error', () => {});
  late.write('anyone there?');
  const lateEcho: Buffer[] = [];
  late.on('data', (data: Buffer) => lateEcho.push(data));
  // (events.once would reject on the reset the refused client may see; 'close' follows it either way)
  await within(new Promise((resolve) => late.once('close', resolve)), 5000, 'the refused connection to close');
  expect(Buffer.concat(lateEcho).length).toBe(0);
  expect(await metric(`echo_connections_rejected_total{listener="${listener}",reason="overload"}`)).toBe(rejectedBefore + 1);

  const health = JSON.parse((await httpRequest(service.httpPort, '/healthz')).body) as { memory: { shedConnections: number; refusingConnections: boolean; budgetBytes: number } };
  expect(health.memory).toMatchObject({ refusingConnections: true, budgetBytes: BUDGET });
  expect(health.memory.shedConnections).toBeGreaterThan(0);
  expect(service.logs.some((line) => line.event === 'overload_shed' && line.level === 40)).toBe(true);

  // The crowd leaves: the service accepts again by itself, and echoes.
  for (const socket of crowd) socket.destroy();
  await waitFor(async () => (await httpRequest(service.httpPort, '/readyz')).status === 200, { what: 'readiness back to 200', timeoutMs: 20_000, intervalMs: 100 });
  attackOver = true;
  await within(readerLoop, 15_000, 'the reader to finish');
  expect(readerRounds).toBeGreaterThan(0);
  const payload = patternedBytes(256 * 1024, 77);
  const fresh = await openClient(port);
  sockets.push(fresh);
  expect((await roundTrip(fresh, payload)).equals(payload)).toBe(true);
  expect(await metric('echo_overload_active{action="refuse_connections"}')).toBe(0);
  expect(service.child.exitCode).toBeNull();
  expect(service.logs.some((line) => line.event === 'overload_end')).toBe(true);
  expect(reader.destroyed).toBe(false);
  const last = patternedBytes(4096, 99);
  expect((await roundTrip(reader, last)).equals(last)).toBe(true);
});
