// dist/main.js holds V8's young generation at its start size while Fastify, pino and prom-client
// load, then gives V8 back its own sizing once the service listens. The young generation's size
// (prom-client's nodejs_heap_space_size_total_bytes{space="new"}) shows both, against two controls
// in test/fixtures: the service started without main.ts's settings, and with growth left off.
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { openClient } from './support/echo-client.js';
import { sample, scrape } from './support/metrics.js';
import { spawnService, type ServiceProcess } from './support/process.js';

const WITHOUT_SETTINGS = fileURLToPath(new URL('./fixtures/cli-without-heap-settings.mjs', import.meta.url));
const GROWTH_LEFT_OFF = fileURLToPath(new URL('./fixtures/young-generation-held.mjs', import.meta.url));
const NEW_SPACE = 'nodejs_heap_space_size_total_bytes{space="new"}';
const MiB = 1024 * 1024;
// Each accepted connection keeps a few KiB of objects alive: this many outlive several scavenges,
// which is what makes V8 grow the young generation.
const HELD_CONNECTIONS = 1000;

const started: ServiceProcess[] = [];
const clients: Socket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await Promise.all(started.splice(0).map((service) => service.ensureStopped()));
});

async function start(options: Parameters<typeof spawnService>[0] = {}): Promise<ServiceProcess> {
  const service = await spawnService(options);
  started.push(service);
  return service;
}

const newSpace = async (service: ServiceProcess) => sample(await scrape(service.httpPort), NEW_SPACE);

/** The young generation's size once HELD_CONNECTIONS clients have each had a round trip and stayed. */
async function newSpaceHoldingConnections(service: ServiceProcess): Promise<number> {
  for (let i = 0; i < HELD_CONNECTIONS; i += 100) {
    const batch = await Promise.all(Array.from({ length: 100 }, () => openClient(service.echoPort)));
    clients.push(...batch);
    await Promise.all(
      batch.map(async (client, j) => {
        const payload = Buffer.from(`connection ${i + j}\n`);
        const echoed = once(client, 'data');
        client.write(payload);
        expect((await echoed)[0]).toEqual(payload);
      }),
    );
  }
  return newSpace(service);
}

describe('V8 young generation sizing from the entry point', () => {
  it('stays at its start size while the libraries load, which it outgrows without main.ts', async () => {
    const withEntry = await newSpace(await start());
    const withoutEntry = await newSpace(await start({ entry: WITHOUT_SETTINGS }));
    expect(withEntry).toBeLessThanOrEqual(2 * MiB);
    expect(withoutEntry).toBeGreaterThan(2 * MiB);
  });

  it('is sized by V8 from the traffic once the service listens', async () => {
    const grown = await newSpaceHoldingConnections(await start());
    const leftOff = await newSpaceHoldingConnections(await start({ entry: GROWTH_LEFT_OFF }));
    expect(grown).toBeGreaterThan(2 * MiB);
    expect(leftOff).toBeLessThanOrEqual(2 * MiB);
  });
});
