#!/usr/bin/env node
// Soak: mixed traffic against the built service (`node dist/main.js`, a child process) for
// SOAK_SECONDS (default 600), sampling its resident memory and open descriptors every
// SOAK_SAMPLE_SECONDS (default 10). Prints a table as it goes, then a summary, and writes every
// sample to a JSON file (SOAK_OUT, default in the system temp directory). Not part of CI:
//   npm run soak                   # 10 minutes
//   SOAK_SECONDS=120 npm run soak  # a short one
// Exit code: 0 when every echo came back intact and the service drained and exited 0; 1 otherwise.
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService } from '../test/support/spawn-service.mjs';

const SECONDS = positive('SOAK_SECONDS', 600);
const SAMPLE_SECONDS = positive('SOAK_SAMPLE_SECONDS', 10);
const OUT = process.env.SOAK_OUT ?? join(tmpdir(), `tcp-echo-soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
/** Samples taken before this share of the run are warm-up (JIT, heap sizing, buffer pools). */
const WARM_UP_SHARE = 0.2;

function positive(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`soak: ${name}=${JSON.stringify(raw)}: a positive number of seconds\n`);
    process.exit(2);
  }
  return n;
}

const out = (line) => process.stdout.write(`${line}\n`);
const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);

// ---- the service --------------------------------------------------------------------------------
let service;
try {
  service = await startService({ env: { ECHO_IDLE_TIMEOUT_MS: '3000', ECHO_WORKERS: '1' }, stderr: 'inherit', timeoutMs: 15_000 });
} catch (error) {
  process.stderr.write(`soak: ${error.message}\n`);
  process.exit(1);
}
const { child, exited, echoPort, httpPort } = service;
const pid = child.pid;

// ---- clients ------------------------------------------------------------------------------------
const counts = { roundTrips: 0, bytes: 0, pings: 0, probes: 0, resets: 0, nonReaders: 0, silent: 0, scrapes: 0, failures: 0 };
const failures = [];
const fail = (what) => {
  counts.failures++;
  if (failures.length < 20) failures.push(what);
};
const deadline = Date.now() + SECONDS * 1000;
const running = () => Date.now() < deadline;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function open() {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: echoPort, host: '127.0.0.1', noDelay: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `payload`, half-closes, and checks the echo is identical. */
async function roundTrip(payload) {
  const socket = await open();
  const chunks = [];
  socket.on('data', (data) => chunks.push(data));
  const ended = once(socket, 'end');
  for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
    if (!socket.write(payload.subarray(offset, offset + 64 * 1024))) await once(socket, 'drain');
  }
  socket.end();
  await ended;
  socket.destroy();
  const echoed = Buffer.concat(chunks);
  if (!echoed.equals(payload)) fail(`round trip of ${payload.length} bytes came back as ${echoed.length} different bytes`);
  counts.roundTrips++;
  counts.bytes += payload.length;
}

/** Runs `task` again and again until the deadline, `concurrency` at a time, at most every `everyMs`. */
async function loop(name, concurrency, everyMs, task) {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (running()) {
        const began = Date.now();
        try {
          await task();
        } catch (error) {
          fail(`${name}: ${error.code ?? error.message}`);
        }
        const rest = everyMs - (Date.now() - began);
        if (rest > 0) await pause(rest);
      }
    }),
  );
}

function httpGet(path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: httpPort, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text) => (body += text));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// Started after the first (idle) sample, so that sample is the baseline.
const traffic = () => [
  // bulk: random sizes up to 4 MiB, a few at a time (paced: this machine is shared)
  loop('bulk', 3, 250, () => roundTrip(randomBytes(randomInt(1, 4 * 2 ** 20)))),
  // churn: short connections with a little data
  loop('churn', 4, 40, () => roundTrip(randomBytes(randomInt(0, 2048)))),
  // chatty: long-lived connections exchanging small messages
  loop('chatty', 1, 0, async () => {
    const sockets = await Promise.all(Array.from({ length: 40 }, open));
    try {
      for (let round = 0; round < 200 && running(); round++) {
        await Promise.all(
          sockets.map(async (socket, i) => {
            const message = Buffer.from(`ping ${round} ${i}\n`);
            const back = once(socket, 'data');
            socket.write(message);
            const [data] = await back;
            if (!data.equals(message)) fail(`chatty: got ${JSON.stringify(data.toString())}`);
            counts.pings++;
          }),
        );
        await pause(50);
      }
    } finally {
      for (const socket of sockets) socket.end();
    }
  }),
  // TCP probes: connect, then close
  loop('probe', 2, 50, async () => {
    const socket = await open();
    socket.end();
    await once(socket, 'close');
    counts.probes++;
  }),
  // resets in the middle of a transfer
  loop('reset', 1, 100, async () => {
    const socket = await open();
    socket.on('error', () => undefined);
    socket.write(randomBytes(64 * 1024));
    await once(socket, 'data');
    socket.resetAndDestroy();
    counts.resets++;
  }),
  // a client that sends 16 MiB and never reads, for a while
  loop('non-reader', 1, 5000, async () => {
    const socket = await open();
    socket.on('error', () => undefined);
    socket.pause();
    const chunk = randomBytes(2 ** 20);
    for (let i = 0; i < 16; i++) socket.write(chunk);
    await pause(2000);
    socket.destroy();
    counts.nonReaders++;
  }),
  // a client that connects and never sends: the idle timeout (3 s) closes it
  loop('silent', 1, 2000, async () => {
    const socket = await open();
    socket.on('error', () => undefined);
    socket.resume();
    await once(socket, 'close');
    counts.silent++;
  }),
  // scrapes and probes, as Prometheus and the kubelet would
  loop('scrape', 1, 1000, async () => {
    const [metrics, livez] = await Promise.all([httpGet('/metrics'), httpGet('/livez')]);
    if (metrics.status !== 200 || livez.status !== 200) fail(`sidecar answered ${metrics.status}/${livez.status}`);
    counts.scrapes++;
  }),
];

// ---- sampling -----------------------------------------------------------------------------------
function rssBytes() {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}
/** The sum of a metric's series (per-listener labels and all); undefined when it is absent. */
function metric(body, name) {
  let total;
  for (const match of body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) total = (total ?? 0) + Number(match[1]);
  return total;
}
const samples = [];
const t0 = Date.now();
out(`soak: ${SECONDS} s of mixed traffic against pid ${pid} (echo :${echoPort}, sidecar :${httpPort}), sampling every ${SAMPLE_SECONDS} s`);
out(`${'t (s)'.padStart(6)} ${'RSS MiB'.padStart(8)} ${'heap MiB'.padStart(8)} ${'fds'.padStart(5)} ${'active'.padStart(6)} ${'accepted'.padStart(9)} ${'echoed MiB'.padStart(10)}`);
async function takeSample() {
  const metrics = await httpGet('/metrics');
  const sample = {
    t: Math.round((Date.now() - t0) / 1000),
    rssBytes: rssBytes(),
    heapUsedBytes: metric(metrics.body, 'nodejs_heap_size_used_bytes'),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    active: metric(metrics.body, 'echo_connections_active'),
    accepted: metric(metrics.body, 'echo_connections_accepted_total'),
    sentBytes: metric(metrics.body, 'echo_sent_bytes_total'),
  };
  samples.push(sample);
  out(`${String(sample.t).padStart(6)} ${mib(sample.rssBytes).padStart(8)} ${mib(sample.heapUsedBytes ?? 0).padStart(8)} ${String(sample.fds).padStart(5)} ${String(sample.active).padStart(6)} ${String(sample.accepted).padStart(9)} ${mib(sample.sentBytes ?? 0).padStart(10)}`);
}
await takeSample(); // idle: the baseline
const sampler = (async () => {
  while (running()) {
    await pause(Math.min(SAMPLE_SECONDS * 1000, Math.max(0, deadline - Date.now())));
    await takeSample().catch((error) => fail(`sample: ${error.message}`));
  }
})();
await Promise.all([...traffic(), sampler]);

// Quiet: every client is gone; the service should be back to its idle shape.
const quietDeadline = Date.now() + 15_000;
let idle;
while (Date.now() < quietDeadline) {
  idle = metric((await httpGet('/metrics')).body, 'echo_connections_active');
  if (idle === 0) break;
  await pause(100);
}
await takeSample();
child.kill('SIGTERM');
const { code, signal } = await exited;

// ---- summary ------------------------------------------------------------------------------------
const warm = samples.filter((s) => s.t >= SECONDS * WARM_UP_SHARE && s !== samples[samples.length - 1]);
const afterWarmUp = warm.length > 0 ? warm : samples;
const first = afterWarmUp[0];
const last = samples[samples.length - 1];
const maxRss = Math.max(...afterWarmUp.map((s) => s.rssBytes));
const minRss = Math.min(...afterWarmUp.map((s) => s.rssBytes));
const baselineFds = samples[0].fds;
const summary = {
  seconds: SECONDS,
  sampleSeconds: SAMPLE_SECONDS,
  warmUpSeconds: Math.round(SECONDS * WARM_UP_SHARE),
  traffic: counts,
  echoedBytes: last.sentBytes,
  connectionsAccepted: last.accepted,
  rssMiB: { start: +mib(samples[0].rssBytes), afterWarmUp: +mib(first.rssBytes), minAfterWarmUp: +mib(minRss), maxAfterWarmUp: +mib(maxRss), end: +mib(last.rssBytes) },
  rssGrowthAfterWarmUpMiB: +mib(last.rssBytes - first.rssBytes),
  fds: { baseline: baselineFds, maxDuringTraffic: Math.max(...samples.map((s) => s.fds)), afterTraffic: last.fds },
  activeAfterTraffic: idle,
  exit: { code, signal },
  failures,
};
writeFileSync(OUT, `${JSON.stringify({ summary, samples }, null, 2)}\n`);
out('');
out(`traffic: ${counts.roundTrips} round trips (${mib(counts.bytes)} MiB), ${counts.pings} pings, ${counts.probes} probes, ${counts.resets} resets, ${counts.nonReaders} non-readers, ${counts.silent} silent, ${counts.scrapes} scrapes; ${counts.failures} failures`);
out(`RSS after warm-up (${summary.warmUpSeconds} s): ${summary.rssMiB.afterWarmUp} MiB -> ${summary.rssMiB.end} MiB at the end (min ${summary.rssMiB.minAfterWarmUp}, max ${summary.rssMiB.maxAfterWarmUp})`);
out(`descriptors: ${baselineFds} at start, ${summary.fds.afterTraffic} after the traffic (max ${summary.fds.maxDuringTraffic}); active connections after: ${idle}`);
out(`service exit: code ${code}${signal ? `, signal ${signal}` : ''}`);
out(`samples: ${OUT}`);
for (const failure of failures) out(`failure: ${failure}`);
const ok = counts.failures === 0 && code === 0 && idle === 0 && last.fds <= baselineFds;
process.exit(ok ? 0 : 1);
