// Running out of file descriptors: the service under a low limit (prlimit) is filled past it. It keeps
// serving what it has, refuses the rest (counted, one warning per burst), keeps its probes answering,
// and accepts again as soon as descriptors free up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { httpRequest, sample, scrape } from '../support/metrics.js';
import { toolAvailable } from '../support/tools.js';
import { pool, waitFor, within } from '../support/wait.js';
import { echoOnce } from '../support/echo-client.js';
import { expectSettled, spawnFaultService, type FaultService } from '../support/fault-service.js';

const NOFILE = 200;
const hasPrlimit = toolAvailable('prlimit', 'util-linux');

/** Connects and tries a small echo: 'served', or 'refused' when the service closed it at once. */
async function tryConnection(port: number, label: string, kept: Socket[]): Promise<'served' | 'refused'> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await within(once(socket, 'connect'), 10_000, 'connect');
  try {
    await echoOnce(socket, Buffer.from(label), 10_000);
    kept.push(socket);
    return 'served';
  } catch {
    socket.destroy();
    return 'refused';
  }
}

let service: FaultService;
beforeAll(async () => {
  if (hasPrlimit) service = await spawnFaultService({ nofile: NOFILE });
});
afterAll(async () => {
  await service?.ensureStopped();
});

const troubleWarnings = () => service.logs.filter((line) => line.event === 'accept_trouble');
const recoveries = () => service.logs.filter((line) => line.event === 'accept_recovered');

describe.runIf(hasPrlimit)(`descriptor exhaustion (nofile ${NOFILE})`, () => {
  it('refuses beyond the limit with one warning per burst, keeps serving and probing, and recovers', async () => {
    const kept: Socket[] = [];
    try {
      // Burst 1: twice what the limit allows, in a bounded loop.
      const outcomes = await pool(2 * NOFILE, 20, (i) => tryConnection(service.echoPort, `first ${i}`, kept));
      const served = outcomes.filter((o) => o === 'served').length;
      const refused = outcomes.length - served;
      console.log(`nofile ${NOFILE}: ${served} served, ${refused} refused`);
      expect(served).toBeGreaterThan(NOFILE / 2);
      expect(served).toBeLessThan(NOFILE);
      expect(refused).toBeGreaterThan(NOFILE / 2);

      let samples = await scrape(service.httpPort);
      expect(sample(samples, 'echo_connections_rejected_total{reason="fd_limit"}')).toBe(refused);
      expect(sample(samples, 'echo_connections_active')).toBe(served);
      // The libuv EMFILE path was never reached: the budget stopped short of it.
      expect(sample(samples, 'echo_accept_errors_total{code="EMFILE"}')).toBe(0);
      await waitFor(() => troubleWarnings().length > 0, { what: 'the accept_trouble log line' });
      expect(troubleWarnings()).toHaveLength(1); // once per burst, not per refusal
      expect(troubleWarnings()[0]).toMatchObject({ level: 40, reason: 'fd_limit', fdLimit: NOFILE });

      // The held connections all still echo, and the probes answer.
      await pool(kept.length, 20, (i) => echoOnce(kept[i] as Socket, Buffer.from(`still ${i}`)));
      expect((await httpRequest(service.httpPort, '/livez')).status).toBe(200);
      expect((await httpRequest(service.httpPort, '/readyz')).status).toBe(200);

      // Free some descriptors: new connections are accepted again, and that is logged once.
      const freed = kept.splice(0, 30);
      for (const socket of freed) socket.end();
      await waitFor(async () => sample(await scrape(service.httpPort), 'echo_connections_active') === served - freed.length, { what: 'the freed connections to close' });
      const again = await pool(20, 5, (i) => tryConnection(service.echoPort, `again ${i}`, kept));
      expect(again.every((o) => o === 'served')).toBe(true);
      // The log line travels through the service's stdout pipe: it may trail the echoes.
      await waitFor(() => recoveries().length > 0, { what: 'the accept_recovered log line' });
      expect(recoveries()).toHaveLength(1);
      expect(recoveries()[0]).toMatchObject({ refused });

      // Burst 2: fill again; exactly one more warning.
      const second = await pool(NOFILE, 20, (i) => tryConnection(service.echoPort, `second ${i}`, kept));
      expect(second.filter((o) => o === 'refused').length).toBeGreaterThan(0);
      await waitFor(() => troubleWarnings().length > 1, { what: 'the second accept_trouble log line' });
      expect(troubleWarnings()).toHaveLength(2);
      samples = await scrape(service.httpPort);
      expect(sample(samples, 'echo_connections_rejected_total{reason="fd_limit"}')).toBe(refused + second.filter((o) => o === 'refused').length);
    } finally {
      for (const socket of kept) socket.end();
    }
    await expectSettled(service);
    // Nothing else was logged above info: refusals are not errors.
    expect(service.logs.filter((line) => (line.level as number) >= 40 && line.event !== 'accept_trouble')).toEqual([]);
  });
});
