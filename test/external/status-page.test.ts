// The status page (GET /) in a real browser: headless Chromium (Debian package 'chromium') loads it
// from the service built in this process while clients send traffic; no console errors, the charts
// fill, the connections table shows the client address a PROXY header named. The token comes by
// ?token= or, without it, through the page's form. STATUS_PAGE_SCREENSHOT=path saves a screenshot
// (docs/status-page.png is made so).
import { writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Chromium, type ChromiumPage } from '../support/chromium.js';
import { echoOnce, openClient } from '../support/echo-client.js';
import { httpRequest, listenerPorts } from '../support/metrics.js';
import { v1Header } from '../support/proxy-encode.js';
import { freePort } from '../support/ports.js';
import { spawnServicesPerTest } from '../support/process.js';
import { startService, type RunningService } from '../support/service.js';
import { toolAvailable } from '../support/tools.js';
import { waitFor } from '../support/wait.js';

const haveChromium = toolAvailable('chromium', 'chromium');
const TOKEN = 'status-page-token';

describe.skipIf(!haveChromium)('the status page in headless Chromium', () => {
  let running: RunningService;
  let chromium: Chromium;
  const clients: Socket[] = [];
  let traffic: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    running = await startService({ ECHO_LISTENERS: 'tcp://127.0.0.1:0,tcp+proxy://127.0.0.1:0', METRICS_TOKEN: TOKEN });
    const ports = await listenerPorts(running.httpPort);
    // A client behind a "balancer": the page must show the address its PROXY header names.
    const proxied = await openClient(ports.get('tcp+proxy') as number);
    proxied.write(v1Header('TCP4', '198.51.100.77', '10.0.0.1', 45678, 7000));
    await echoOnce(proxied, Buffer.from('hello\n'));
    // Steady traffic, and a new connection every so often, so the rates are not zero.
    const steady = await openClient(ports.get('tcp') as number);
    steady.resume();
    clients.push(proxied, steady);
    let ticks = 0;
    traffic = setInterval(() => {
      steady.write(Buffer.alloc(16 * 1024, 0x61));
      if (ticks++ % 3 === 0) void openClient(ports.get('tcp') as number).then((client) => client.end('x'), () => undefined);
    }, 100);
    chromium = await launchChromium();
  });
  afterAll(async () => {
    clearInterval(traffic);
    for (const client of clients) client.destroy();
    await chromium?.close();
    await running?.stop();
  });

  const text = (page: ChromiumPage, selector: string) => page.evaluate<string>(`document.querySelector(${JSON.stringify(selector)}).textContent`);
  const chartData = (page: ChromiumPage, id: string) => page.evaluate<{ points: number; max: number }>(`(() => { const e = document.getElementById('${id}'); return { points: Number(e.dataset.points), max: Number(e.dataset.max) }; })()`);

  it('?token=: listeners, charts that fill every second, close reasons and the connections table, without a console error', async () => {
    const page = await chromium.open(`http://127.0.0.1:${running.httpPort}/?token=${TOKEN}`);
    await waitFor(async () => (await chartData(page, 'chart-bytes')).points >= 4 || undefined, { timeoutMs: 20_000, intervalMs: 200, what: 'four points on the bytes chart' });

    for (const id of ['chart-bytes', 'chart-accepted', 'chart-active']) {
      const { points, max } = await chartData(page, id);
      expect(points, id).toBeGreaterThanOrEqual(4);
      expect(max, id).toBeGreaterThan(0);
      // uPlot drew into a canvas of its own.
      expect(await page.evaluate<number>(`document.querySelectorAll('#${id} canvas').length`), id).toBe(1);
    }
    const listeners = await text(page, '#listeners tbody');
    expect(listeners).toContain('tcp+proxy');
    expect(listeners).toContain('accepting');
    expect(await text(page, '#reasons tbody')).toContain('client_end');
    const connections = await text(page, '#connections tbody');
    expect(connections).toContain('198.51.100.77:45678');
    expect(connections).toContain(`127.0.0.1:${clients[0]?.localPort}`); // the socket peer beside it
    expect(await text(page, '#overview')).toMatch(/^ready · /);
    // The token left the address bar.
    expect(await page.evaluate<string>('location.search')).toBe('');
    expect(await page.evaluate<boolean>(`document.getElementById('error').hidden`)).toBe(true);
    expect(page.errors()).toEqual([]);

    const screenshot = process.env.STATUS_PAGE_SCREENSHOT;
    if (screenshot) {
      const { data } = await page.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
      writeFileSync(screenshot, Buffer.from(data, 'base64'));
    }
  });

  it('without the token the page asks for it, then shows the connections', async () => {
    const page = await chromium.open(`http://127.0.0.1:${running.httpPort}/`);
    await waitFor(async () => (await page.evaluate<boolean>(`!document.getElementById('token-form').hidden`)) || undefined, { timeoutMs: 10_000, intervalMs: 100, what: 'the token form' });
    await page.evaluate(`document.getElementById('token-input').value = ${JSON.stringify(TOKEN)}; document.getElementById('token-form').requestSubmit()`);
    await waitFor(async () => (await text(page, '#connections tbody')).includes('198.51.100.77:45678') || undefined, { timeoutMs: 10_000, intervalMs: 100, what: 'the connections table' });
    // The only errors: the 401s before the token was given.
    expect(page.errors().filter((error) => !error.includes('401'))).toEqual([]);
  });

  it('every asset comes from the sidecar, under a policy that allows nothing else', async () => {
    for (const path of ['/', '/status.js', '/status.css', '/assets/uPlot.js', '/assets/uPlot.css']) {
      const response = await httpRequest(running.httpPort, path);
      expect(response.status, path).toBe(200);
      expect(response.headers['content-security-policy'], path).toContain("default-src 'none'");
    }
  });
});

describe.skipIf(!haveChromium)('the status page of a multi-process service (ECHO_WORKERS=2)', () => {
  const spawnService = spawnServicesPerTest();

  it('the connections table lists the clients of both workers, each row naming its worker, without a console error', async () => {
    const port = await freePort();
    const service = await spawnService({ env: { ECHO_WORKERS: '2', ECHO_PORT: String(port) }, startTimeoutMs: 20_000 });
    // Enough clients that, spread by address hash, both workers hold some.
    const clients = await Promise.all(Array.from({ length: 16 }, () => openClient(service.echoPort)));
    const chromium = await launchChromium();
    try {
      await Promise.all(clients.map((client) => echoOnce(client, Buffer.from('hello\n'))));
      const page = await chromium.open(`http://127.0.0.1:${service.httpPort}/`);
      const table = await waitFor(
        async () => {
          const shown = await page.evaluate<string>(`document.querySelector('#connections tbody').textContent`);
          return clients.every((client) => shown.includes(`127.0.0.1:${client.localPort}`)) ? shown : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 200, what: 'all 16 clients in the connections table' },
      );
      expect(new Set(table.match(/\(worker \d+\)/g)).size, 'rows of both workers').toBe(2);
      expect(page.errors()).toEqual([]);
    } finally {
      for (const client of clients) client.destroy();
      await chromium.close();
    }
  });
});
