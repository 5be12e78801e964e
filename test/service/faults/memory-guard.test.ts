// The memory guard against the real service: a crowd of clients that stop reading and keep sending
// pushes it past its budget. It refuses new connections (readiness 503), closes the stalled
// connections holding the most, never dies, stays within the memory limit its budget implies, keeps
// echoing byte-exact for a client that reads, and accepts again once the crowd has gone.
import { afterEach, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { AUTO_BUDGET_FRACTION } from '../../../src/overload/memory.js';
import { connectCrowd, type Crowd } from '../../support/crowd.js';
import { openClient, patternedBytes, roundTrip } from '../../support/echo-client.js';
import { httpRequest, scrape, sample } from '../../support/metrics.js';
import { spawnServicesPerTest } from '../../support/process.js';
import { waitFor, within } from '../../support/wait.js';

const MiB = 1024 * 1024;
const BUDGET = 128 * MiB;
/**
 * Each stalled client makes the service hold up to its socket buffer (ECHO_MAX_PENDING_BYTES) and a
 * read chunk, but only once the kernel's buffers on the path are full, and on loopback the sender's
 * buffer grows to net.ipv4.tcp_wmem's maximum (4 MiB) first. With the default 64 KiB that takes some
 * 4.5 MiB of kernel memory per client, and the ~500 clients it would take to pass the budget would
 * push the host's TCP memory past net.ipv4.tcp_mem (the kernel then resets connections anywhere).
 * So the service holds up to twice 4 MiB per client here (read and write buffers): 64 clients are
 * four times the budget, and arrive at loopback speed, the worst case for a guard that samples.
 */
const PENDING_BYTES = 4 * MiB;
const CROWD = 64;
/** What each of the crowd sends: enough to fill the kernel's buffers and the service's, and bounded. */
const FLOOD_BYTES = 12 * MiB;
const ATTACK_LIMIT_MS = 30_000;

const spawnService = spawnServicesPerTest();
const sockets: Socket[] = [];
const crowds: Crowd[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const crowd of crowds.splice(0)) crowd.destroy();
});

it('a crowd of non-reading clients: refused, then shed; the service lives, echoes for a reader, and recovers', { timeout: 120_000 }, async () => {
  const service = await spawnService({ env: { ECHO_MEMORY_BUDGET: String(BUDGET), ECHO_MAX_PENDING_BYTES: String(PENDING_BYTES) } });
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
  const crowd = await connectCrowd(port, CROWD);
  crowds.push(crowd);
  await waitFor(async () => (await metric(`echo_connections_active{listener="${listener}"}`)) >= CROWD + 1, { what: 'the crowd to be accepted', timeoutMs: 20_000 });

  // Then all of it stops reading and sends. Meanwhile newcomers keep knocking (each sends a line and
  // reads its echo) and readiness is polled: the guard's refusals may be brief, so watch throughout.
  crowd.flood(FLOOD_BYTES);
  const attackStarted = Date.now();
  const readiness = new Set<number>();
  let newcomersRefused = 0;
  let newcomersEchoed = 0;
  let watching = true;
  const watcher = (async () => {
    for (let i = 0; watching && i < 2000; i++) {
      readiness.add((await httpRequest(service.httpPort, '/readyz')).status);
      const newcomer = connect({ port, host: '127.0.0.1' });
      newcomer.on('error', () => {}); // a refused client may see a reset; 'close' follows either way
      const echoed: Buffer[] = [];
      newcomer.on('data', (data: Buffer) => {
        echoed.push(data);
        if (Buffer.concat(echoed).toString() === 'anyone there?\n') newcomer.end();
      });
      newcomer.write('anyone there?\n');
      await within(new Promise((resolve) => newcomer.once('close', resolve)), 10_000, 'a newcomer to be answered or refused');
      if (Buffer.concat(echoed).toString() === 'anyone there?\n') newcomersEchoed++;
      else if (echoed.length === 0) newcomersRefused++;
      else throw new Error(`a newcomer got a partial echo: ${Buffer.concat(echoed).toString()}`);
    }
  })();
  await waitFor(async () => (await metric(`echo_connections_closed_total{listener="${listener}",reason="overload"}`)) > 0 && newcomersRefused > 0, {
    what: 'the guard to refuse a newcomer and close stalled connections',
    timeoutMs: ATTACK_LIMIT_MS,
    intervalMs: 100,
  });
  expect(Date.now() - attackStarted).toBeLessThan(ATTACK_LIMIT_MS);
  watching = false;
  await within(watcher, 15_000, 'the newcomers to finish');

  // While it refused: not ready, each refused newcomer closed at accept with no echo, and counted.
  expect(readiness.has(503)).toBe(true);
  expect(await metric(`echo_connections_rejected_total{listener="${listener}",reason="overload"}`)).toBe(newcomersRefused);
  const health = JSON.parse((await httpRequest(service.httpPort, '/healthz')).body) as { memory: { shedConnections: number; budgetBytes: number } };
  expect(health.memory.budgetBytes).toBe(BUDGET);
  expect(health.memory.shedConnections).toBeGreaterThan(0);
  expect(service.logs.some((line) => line.event === 'overload_shed' && line.level === 40)).toBe(true);
  expect(service.logs.some((line) => line.event === 'overload_start' && line.level === 40)).toBe(true);
  console.log(`newcomers: ${newcomersRefused} refused, ${newcomersEchoed} echoed; ${health.memory.shedConnections} stalled connections closed`);

  // The crowd leaves: the service accepts again by itself, and echoes.
  crowd.destroy();
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
  // The peak resident size stayed inside the memory limit that would give this budget by default
  // (ECHO_MEMORY_BUDGET=auto takes 75% of it): in such a container the OOM killer never came.
  const peakRss = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${service.child.pid}/status`, 'utf8'))?.[1]) * 1024;
  console.log(`peak RSS ${(peakRss / MiB).toFixed(1)} MiB for a budget of ${BUDGET / MiB} MiB (limit ${(BUDGET / AUTO_BUDGET_FRACTION / MiB).toFixed(0)} MiB)`);
  expect(peakRss).toBeLessThan(BUDGET / AUTO_BUDGET_FRACTION);
  expect(reader.destroyed).toBe(false);
  const last = patternedBytes(4096, 99);
  expect((await roundTrip(reader, last)).equals(last)).toBe(true);
});
