// dist/main.js sets V8's heap flags before it loads the service; they only count if they come
// before Fastify, pino and prom-client are loaded. The young generation's size (prom-client's
// nodejs_heap_space_size_total_bytes{space="new"}) shows whether they did: the same service started
// from dist/cli.js, which skips main.ts, is the control.
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { echoRoundTrip, patternedBytes } from './support/echo-client.js';
import { sample, scrape } from './support/metrics.js';
import { spawnService, type ServiceProcess } from './support/process.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const NEW_SPACE = 'nodejs_heap_space_size_total_bytes{space="new"}';

const started: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((service) => service.ensureStopped()));
});

/** The young generation's size after start-up and some echo traffic. */
async function newSpaceAfterLoad(entry?: string): Promise<number> {
  const service = await spawnService({ entry });
  started.push(service);
  for (let round = 0; round < 10; round++) {
    await Promise.all(Array.from({ length: 20 }, (_, i) => echoRoundTrip(service.echoPort, patternedBytes(4096, round * 20 + i))));
  }
  return sample(await scrape(service.httpPort), NEW_SPACE);
}

describe('V8 heap settings from the entry point', () => {
  it('keep the young generation at its start size, which it outgrows when the libraries load first', async () => {
    const MiB = 1024 * 1024;
    const withSettings = await newSpaceAfterLoad();
    const without = await newSpaceAfterLoad(CLI);
    expect(withSettings).toBeLessThanOrEqual(2 * MiB);
    expect(without).toBeGreaterThan(2 * MiB);
  });
});
