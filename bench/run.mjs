#!/usr/bin/env node
// `npm run bench`: tcp-echo against a bare-Node echo and a Python asyncio echo, measured in the same run.
//
// For each repetition and each server: start the server pinned to one CPU, run every workload with
// the C load generator (bench/loadgen.c) pinned to the other CPU, stop the server. Medians over the
// repetitions are printed as a table with ratios against bare Node; everything goes to
// bench/results/bench-<time>.json. A workload whose echo does not match what was sent fails the run.
//
// Settings (environment):
//   BENCH_REPS=3           repetitions (median reported)
//   BENCH_DURATION=5       measured seconds per workload (after BENCH_WARMUP=1 unmeasured seconds)
//   BENCH_PRIME=1          seconds of the same load each fresh server serves first, on connections of its own
//   BENCH_SERVERS=bare,tcp-echo,python        which servers (also tcp-echo-gc: tcp-echo with METRICS_GC_DURATION=on)
//   BENCH_WORKLOADS=bulk-1x64k,...            which workloads (ids in WORKLOADS below)
//   BENCH_IDLE_CONNS=10000 idle connections wanted (capped by the open-files limit)
//   BENCH_SERVER_CPU=0 BENCH_CLIENT_CPU=1     CPUs for taskset
//   BENCH_SCRAPE_HZ=10     scrape rate for the scrape-latency run
//   BENCH_STRICT=1         exit 3 when a target is missed (default: report only)
//   BENCH_SERVICE_ENTRY=dist/main.js, BENCH_SERVICE_NODE_FLAGS=   what runs as the tcp-echo row
//   BENCH_CANDIDATE_ENTRY=<path to another build's dist/main.js>   adds a "candidate" row (A/B in one run)
//   BENCH_GLIBC_TUNABLES=<malloc tunables for every server> | none   (see DEFAULT_TUNABLES)
//
// The Node servers run on the Node that runs this script: `npm run bench` on the project's own
// (devDependency node); `path/to/other/node bench/run.mjs` measures another line.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { spawnLogged, untilListening } from '../test/support/spawn-service.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const LOADGEN_SRC = path.join(BENCH, 'loadgen.c');
const LOADGEN = path.join(BENCH, 'build', 'loadgen');
const RESULTS = path.join(BENCH, 'results');

// ---------- settings ----------
function envNumber(name, fallback, { min = 0, integer = false } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    console.error(`bench: ${name}=${JSON.stringify(raw)} is not ${integer ? 'an integer' : 'a number'} >= ${min}`);
    process.exit(2);
  }
  return value;
}
/** The ids listed in variable `name` (in `known`'s order), or `defaults` when it is unset. */
function envList(name, defaults, known = defaults) {
  const raw = process.env[name];
  if (!raw) return defaults;
  const wanted = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !known.includes(w));
  if (unknown.length) {
    console.error(`bench: ${name}: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
    process.exit(2);
  }
  return known.filter((a) => wanted.includes(a));
}

const REPS = envNumber('BENCH_REPS', 3, { min: 1, integer: true });
const DURATION = envNumber('BENCH_DURATION', 5, { min: 0.5 });
const WARMUP = envNumber('BENCH_WARMUP', 1, { min: 0 });
// At times a fresh tcp-echo served its very first connections slower for their whole life (bulk
// 64 x 16 KiB: about 0.75x of bare Node, while connections opened a second later ran at full speed;
// docs/performance.md). Each fresh server first serves this much of the same load on other connections.
const PRIME = envNumber('BENCH_PRIME', 1, { min: 0 });
const SERVER_CPU = envNumber('BENCH_SERVER_CPU', 0, { integer: true });
const CLIENT_CPU = envNumber('BENCH_CLIENT_CPU', 1, { integer: true });
const IDLE_WANTED = envNumber('BENCH_IDLE_CONNS', 10000, { min: 1, integer: true });
const SCRAPE_HZ = envNumber('BENCH_SCRAPE_HZ', 10, { min: 1 });
const STRICT = process.env.BENCH_STRICT === '1';
// glibc hands freed heap top back to the OS (trim) and maps big blocks fresh, so Node's new 64 KiB
// buffer per socket read is sometimes recycled memory and sometimes fresh pages. On this VM a page
// fault costs ~18 us, and bulk throughput of the same server swings 3-5x from run to run with it.
// Every server runs with the same tunables, which keep freed memory for reuse; BENCH_GLIBC_TUNABLES=none
// runs them as the OS gives them.
const DEFAULT_TUNABLES = 'glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=67108864:glibc.malloc.mmap_threshold=268435456';
const GLIBC_TUNABLES = process.env.BENCH_GLIBC_TUNABLES === 'none' ? undefined : process.env.BENCH_GLIBC_TUNABLES || DEFAULT_TUNABLES;
const HOST = '127.0.0.1';

const SERVERS = {
  bare: { label: 'bare Node', cmd: process.execPath, args: [path.join(BENCH, 'servers', 'bare-echo.mjs')], env: {} },
  'tcp-echo': {
    label: 'tcp-echo',
    cmd: process.execPath,
    // BENCH_SERVICE_ENTRY / BENCH_SERVICE_NODE_FLAGS: A/B a candidate build or V8 flags against the same baselines.
    args: [...(process.env.BENCH_SERVICE_NODE_FLAGS ?? '').split(' ').filter(Boolean), path.resolve(process.env.BENCH_SERVICE_ENTRY || path.join(ROOT, 'dist', 'main.js'))],
    env: { HTTP_HOST: HOST, HTTP_PORT: '0', LOG_LEVEL: 'info' },
    metrics: true,
  },
  python: { label: 'Python asyncio', cmd: 'python3', args: [path.join(BENCH, 'servers', 'echo_server.py')], env: {} },
};
// BENCH_CANDIDATE_ENTRY: a second build (e.g. a change under test) as its own row beside tcp-echo in
// the same run, interleaved with it, so a before/after is not lost in the drift between runs.
if (process.env.BENCH_CANDIDATE_ENTRY) {
  SERVERS.candidate = { ...SERVERS['tcp-echo'], label: 'candidate', args: [path.resolve(process.env.BENCH_CANDIDATE_ENTRY)] };
}
// BENCH_SERVERS=bare,tcp-echo,tcp-echo-gc: what METRICS_GC_DURATION=on (off by default) costs.
SERVERS['tcp-echo-gc'] = { ...SERVERS['tcp-echo'], label: 'tcp-echo, GC metric on', env: { ...SERVERS['tcp-echo'].env, METRICS_GC_DURATION: 'on' }, optIn: true };
// `node bench/run.mjs workers` (npm run bench:workers): tcp-echo with ECHO_WORKERS=1 and =2, both free to
// use every CPU (the load generator keeps its own), on the workloads that have connections to spread.
const ALL_CPUS = `0-${os.cpus().length - 1}`;
// Each worker binds its own SO_REUSEPORT socket, which needs a fixed port, so these rows get one.
for (const n of [1, 2]) {
  SERVERS[`workers-${n}`] = {
    ...SERVERS['tcp-echo'],
    label: `tcp-echo, ${n} worker${n > 1 ? 's' : ''}`,
    env: { ...SERVERS['tcp-echo'].env, ECHO_WORKERS: String(n) },
    cpus: ALL_CPUS,
    fixedPort: true,
    optIn: true,
  };
}
const WORKERS_MODE = process.argv[2] === 'workers';
const SERVER_IDS = envList('BENCH_SERVERS', WORKERS_MODE ? ['workers-1', 'workers-2'] : Object.keys(SERVERS).filter((id) => !SERVERS[id].optIn), Object.keys(SERVERS));
/** Ratios are against bare Node when it runs, else against the first server listed. */
const BASELINE = SERVER_IDS.includes('bare') ? 'bare' : SERVER_IDS[0];

// Bulk windows: bytes a connection may have in flight (sent, not yet echoed). Enough to keep the
// server busy, small enough that the data stays in cache; the same for every server.
const WORKLOADS = [
  { id: 'bulk-1x64k', kind: 'bulk', conns: 1, size: 65536, window: 1 << 20, title: 'bulk 1 conn x 64 KiB writes' },
  { id: 'bulk-64x16k', kind: 'bulk', conns: 64, size: 16384, window: 1 << 18, title: 'bulk 64 conns x 16 KiB writes' },
  { id: 'pingpong-1', kind: 'pingpong', conns: 1, size: 64, title: 'ping-pong 1 conn x 64 B' },
  { id: 'pingpong-100', kind: 'pingpong', conns: 100, size: 64, title: 'ping-pong 100 conns x 64 B' },
  { id: 'churn-50', kind: 'churn', conns: 50, size: 64, title: 'churn 50 concurrent (connect, 64 B, echo, close)' },
  { id: 'idle', kind: 'idle', size: 64, title: 'idle connections: server RSS per connection' },
  // tcp-echo only: the bulk-1x64k load while Prometheus-style scrapes hit /metrics.
  { id: 'scrape-1hz', kind: 'bulk', conns: 1, size: 65536, window: 1 << 20, scrapeHz: 1, metricsOnly: true, title: 'bulk 1x64 KiB + /metrics every 1 s' },
  { id: 'scrape-fast', kind: 'bulk', conns: 1, size: 65536, window: 1 << 20, scrapeHz: SCRAPE_HZ, metricsOnly: true, title: `bulk 1x64 KiB + /metrics at ${SCRAPE_HZ} Hz` },
  { id: 'scrape-cpu', kind: 'scrape-cpu', metricsOnly: true, title: 'server CPU per /metrics scrape (no load)' },
];
const WORKLOAD_IDS = envList('BENCH_WORKLOADS', WORKERS_MODE ? ['bulk-64x16k', 'pingpong-100', 'churn-50'] : WORKLOADS.map((w) => w.id));

// ---------- machine ----------
function readLimit(pid = 'self') {
  const text = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const [, soft, hard] = /Max open files\s+(\S+)\s+(\S+)/.exec(line ?? '') ?? [];
  const num = (v) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: num(soft), hard: num(hard) };
}
function vmRssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}
function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
function procCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
}
function machineInfo() {
  const cpus = os.cpus();
  let python = 'unknown';
  try {
    python = execFileSync('python3', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    /* reported as unknown */
  }
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    kernel: `${os.type()} ${os.release()}`,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    python,
    openFilesLimit: readLimit(),
    loadavgAtStart: os.loadavg(),
  };
}

// ---------- processes ----------
// Every child this script starts, so an interrupted run leaves nothing behind.
const children = new Set();
function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    console.error(`bench: interrupted (${signal})`);
    process.exit(130);
  });
}
function buildLoadgen() {
  mkdirSync(path.dirname(LOADGEN), { recursive: true });
  const fresh = existsSync(LOADGEN) && statSync(LOADGEN).mtimeMs >= statSync(LOADGEN_SRC).mtimeMs;
  if (fresh) return;
  const cc = process.env.CC || 'cc';
  console.log(`building ${path.relative(ROOT, LOADGEN)} (${cc} -O2)`);
  execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-o', LOADGEN, LOADGEN_SRC], { stdio: 'inherit' });
}

/** A port free right now (bound and released), for servers that must be given a fixed one. */
async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve, reject) => probe.once('error', reject).listen(0, HOST, resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function pinned(cpu, cmd, args) {
  return { cmd: 'taskset', args: ['-c', String(cpu), cmd, ...args] };
}

/** Starts a server pinned to SERVER_CPU; resolves once it logged its "listening" line. */
async function startServer(id) {
  const def = SERVERS[id];
  const { cmd, args } = pinned(def.cpus ?? SERVER_CPU, def.cmd, def.args);
  const env = { ...process.env, ECHO_HOST: HOST, ECHO_PORT: def.fixedPort ? String(await freePort()) : '0', ...def.env, ...(GLIBC_TUNABLES ? { GLIBC_TUNABLES } : {}) };
  // Log lines are only read for the "listening" one: none is kept while the server is measured.
  const server = spawnLogged(cmd, args, { env, name: id, stderrLimit: 4000, keepLogs: false, maxLineLength: 100_000 });
  const { child, exited } = server;
  track(child);
  const line = await untilListening(server, { timeoutMs: 15_000 });
  return {
    id,
    pid: child.pid,
    /** The server's processes: itself and, with ECHO_WORKERS, its workers (read now: workers may be replaced). */
    pids: () => [child.pid, ...childPids(child.pid)],
    echoPort: line.echo.port,
    httpPort: line.http?.port,
    stderr: server.stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
  };
}

/** Runs the load generator pinned to CLIENT_CPU; resolves with its JSON result and exit code. */
function runLoadgen(args, { onLine, timeoutMs }) {
  const { cmd, args: full } = pinned(CLIENT_CPU, LOADGEN, args);
  const child = track(spawn(cmd, full, { stdio: ['pipe', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (text) => {
    stdout += text;
    pending += text;
    let nl;
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      onLine?.(line, child);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (t) => (stderr += t));
  child.stdin.on('error', () => undefined);
  // The load generator bounds itself (--timeout); this is a last resort.
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return once(child, 'exit').then(([code, signal]) => {
    clearTimeout(killer);
    const last = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    let result;
    try {
      result = last ? JSON.parse(last) : undefined;
    } catch {
      result = undefined;
    }
    return { code: code ?? 128, signal, result, stderr: stderr.trim() };
  });
}

function scrapeOnce(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: '/metrics', headers: { accept: 'text/plain' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (t) => (body += t));
      res.on('end', () => (res.statusCode === 200 && body.includes('echo_received_bytes_total') ? resolve(body.length) : reject(new Error(`scrape: HTTP ${res.statusCode}`))));
    });
    req.setTimeout(5000, () => req.destroy(new Error('scrape timed out')));
    req.on('error', reject);
  });
}

// ---------- workloads ----------
const commonArgs = (server, pids = server.pids()) => ['--host', HOST, '--port', String(server.echoPort), '--server-pid', pids.join(',')];

async function runTimed(server, w, { duration = DURATION, warmup = WARMUP } = {}) {
  // The processes whose CPU the load generator sums, and this function splits: read once.
  const pids = server.pids();
  const args = [
    ...commonArgs(server, pids),
    '--mode', w.kind,
    '--conns', String(w.conns),
    '--size', String(w.size),
    '--duration', String(duration),
    '--warmup', String(warmup),
    '--timeout', String(warmup + duration + 60),
  ];
  if (w.window) args.push('--window', String(w.window));
  if (w.scrapeHz) args.push('--scrape-port', String(server.httpPort), '--scrape-interval-ms', String(1000 / w.scrapeHz));
  const cpuBefore = pids.map(procCpuSeconds);
  const run = await runLoadgen(args, { timeoutMs: (warmup + duration + 90) * 1000 });
  const out = checkRun(server, w, run);
  if (pids.length > 1) {
    // How the work split between the workers (warm-up included): SCHED_NONE leaves it to the kernel.
    const used = pids.map((pid, i) => (existsSync(`/proc/${pid}`) ? procCpuSeconds(pid) - cpuBefore[i] : NaN));
    const total = used.reduce((a, b) => a + b, 0);
    out.cpuShares = used.map((u) => u / total);
  }
  return out;
}

function checkRun(server, w, run) {
  const r = run.result;
  if (!r || run.code !== 0 || !r.ok) {
    const why = r?.error ?? run.stderr ?? `exit ${run.code}`;
    return { ok: false, mismatch: run.code === 1 || (r?.mismatches ?? 0) > 0, error: why, raw: r };
  }
  const out = { ok: true, raw: r, loadgenCpu: r.loadgenCpu, serverCpu: r.serverCpu };
  if (r.cpuBusy) {
    const busy = r.cpuBusy.reduce((a, b) => a + b, 0);
    const irq = (r.cpuIrq ?? []).reduce((a, b) => a + b, 0);
    out.foreignCpu = Math.max(0, busy - irq - (r.loadgenCpu ?? 0) - (r.serverCpu ?? 0));
  }
  // Server CPU per unit of work: much less sensitive to other load on the machine than rates are.
  const serverCpuSeconds = (r.serverCpu ?? NaN) * r.seconds;
  if (w.kind === 'bulk') Object.assign(out, { mibPerSec: r.bytesPerSec / 2 ** 20, cpuMsPerGiB: (serverCpuSeconds * 1000) / (r.bytes / 2 ** 30) });
  if (w.kind === 'pingpong' || w.kind === 'churn') out.cpuUsPerOp = (serverCpuSeconds * 1e6) / r.ops;
  if (w.kind === 'pingpong') Object.assign(out, { rtPerSec: r.opsPerSec, p50Us: r.latencyUs?.p50, p99Us: r.latencyUs?.p99, p999Us: r.latencyUs?.p999 });
  if (w.kind === 'churn') Object.assign(out, { connsPerSec: r.opsPerSec, p99Us: r.latencyUs?.p99 });
  if (r.scrape) Object.assign(out, { scrapeOk: r.scrape.ok, scrapeP50Ms: r.scrape.p50Ms, scrapeP99Ms: r.scrape.p99Ms, scrapeMaxMs: r.scrape.maxMs });
  if (r.scrape && r.scrape.ok === 0) return { ...out, ok: false, error: 'no scrape succeeded' };
  return out;
}

function idleConnsFor(server) {
  // Each connection holds a descriptor in the server and one in the load generator. Keep both
  // together under 90% of the smaller hard limit, as if the limit were one budget for both (it is
  // per process on Linux; the margin also covers containers that share it).
  const own = readLimit();
  const srv = readLimit(server.pid);
  const limit = Math.min(own.hard, srv.soft, srv.hard);
  const cap = Math.floor((0.9 * limit) / 2);
  return { conns: Math.max(1, Math.min(IDLE_WANTED, cap)), limit };
}

async function runIdle(server, w) {
  const { conns, limit } = idleConnsFor(server);
  const open = async (n) => {
    let held;
    const args = [...commonArgs(server), '--mode', 'idle', '--conns', String(n), '--size', String(w.size), '--timeout', '120', '--connect-batch', '64'];
    const run = await runLoadgen(args, {
      timeoutMs: 150_000,
      onLine: (line, child) => {
        if (!line.startsWith('READY')) return;
        // Let the server settle (deferred work, allocations after the echo) before reading RSS.
        sleep(1000).then(() => {
          try {
            held = vmRssBytes(server.pid);
          } finally {
            child.stdin.end('go\n');
          }
        });
      },
    });
    return { run, held };
  };
  // Warm-up: the first connections load code and grow pools; not what a connection costs.
  const warm = await open(Math.min(200, conns));
  if (!warm.run.result?.ok) return checkIdle(warm.run);
  await sleep(1000);
  const before = vmRssBytes(server.pid);
  const { run, held: after } = await open(conns);
  const checked = checkIdle(run);
  if (!checked.ok) return checked;
  return { ...checked, conns, openFilesLimit: limit, rssBefore: before, rssAfter: after, rssPerConn: (after - before) / conns };
}

function checkIdle(run) {
  const r = run.result;
  if (!r || run.code !== 0 || !r.ok || r.echoedTwice !== r.opened) {
    return { ok: false, mismatch: run.code === 1 || (r?.mismatches ?? 0) > 0, error: r?.error ?? run.stderr ?? `exit ${run.code}`, raw: r };
  }
  return { ok: true, raw: r };
}

async function runScrapeCpu(server) {
  // Server CPU per scrape on an otherwise idle server: 200 scrapes back to back.
  const n = 200;
  for (let i = 0; i < 20; i++) await scrapeOnce(server.httpPort); // warm-up
  const cpu0 = procCpuSeconds(server.pid);
  const t0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes = await scrapeOnce(server.httpPort);
  const wallMs = performance.now() - t0;
  const cpu1 = procCpuSeconds(server.pid);
  return { ok: true, scrapes: n, cpuMsPerScrape: ((cpu1 - cpu0) * 1000) / n, wallMsPerScrape: wallMs / n, bodyBytes: bytes };
}

/**
 * Scrape cost: the same bulk load without and with scraping, back to back on the same server (the
 * order alternates by repetition); cost = 1 - with / without.
 */
async function runScrapePair(server, w, rep) {
  const plain = { ...w, scrapeHz: undefined };
  const first = rep % 2 === 0 ? plain : w;
  const second = rep % 2 === 0 ? w : plain;
  const a = await runTimed(server, first);
  if (!a.ok) return a;
  const b = await runTimed(server, second);
  if (!b.ok) return b;
  const [without, withScrapes] = rep % 2 === 0 ? [a, b] : [b, a];
  return { ...withScrapes, baselineMibPerSec: without.mibPerSec, cost: 1 - withScrapes.mibPerSec / without.mibPerSec };
}

// Other engineers' jobs share this machine: before each measurement, wait (bounded) for a quiet moment.
const QUIET_MAX_CPUS = envNumber('BENCH_QUIET_MAX_CPUS', 0.25, { min: 0 });
const QUIET_WAIT_S = envNumber('BENCH_QUIET_WAIT', 10, { min: 0 });
function cpuTimes() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  return { busy: v.slice(0, 8).reduce((a, b) => a + b, 0) - idle, total: v.slice(0, 8).reduce((a, b) => a + b, 0) };
}
async function machineBusyCpus(ms) {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  return b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length : 0;
}
async function waitQuiet() {
  const deadline = Date.now() + QUIET_WAIT_S * 1000;
  for (;;) {
    const busyCpus = await machineBusyCpus(400);
    if (busyCpus <= QUIET_MAX_CPUS || Date.now() >= deadline) return { busyCpus };
    await sleep(600);
  }
}

// ---------- statistics ----------
const median = (values) => {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};
const METRICS = ['cpuMsPerGiB', 'cpuUsPerOp', 'mibPerSec', 'rtPerSec', 'p50Us', 'p99Us', 'p999Us', 'connsPerSec', 'rssPerConn', 'conns', 'loadgenCpu', 'serverCpu', 'foreignCpu', 'scrapeP50Ms', 'scrapeP99Ms', 'scrapeMaxMs', 'cpuMsPerScrape', 'wallMsPerScrape'];

function summarize(runs) {
  // runs[server][workload][rep] = result
  const med = {};
  for (const [server, byWorkload] of Object.entries(runs)) {
    med[server] = {};
    for (const [workload, reps] of Object.entries(byWorkload)) {
      const ok = reps.filter((r) => r?.ok);
      const m = { reps: reps.filter(Boolean).length, okReps: ok.length };
      for (const key of METRICS) {
        const v = median(ok.map((r) => r[key]));
        if (v !== undefined) m[key] = v;
      }
      for (const key of ['mibPerSec', 'rtPerSec', 'connsPerSec', 'rssPerConn']) {
        const values = ok.map((r) => r[key]).filter((x) => typeof x === 'number');
        if (values.length) (m.range ??= {})[key] = [Math.min(...values), Math.max(...values)];
      }
      if (ok.some((r) => r.cost !== undefined)) {
        const perHz = ok.map((r) => r.cost / (workload === 'scrape-fast' ? SCRAPE_HZ : 1));
        m.costPerHz = median(perHz);
        m.costRange = [Math.min(...perHz), Math.max(...perHz)];
      }
      med[server][workload] = m;
    }
  }
  // Ratios against the baseline: the median over repetitions of the ratio of runs made seconds apart.
  const ratios = {};
  for (const [server, byWorkload] of Object.entries(runs)) {
    if (server === BASELINE || !runs[BASELINE]) continue;
    ratios[server] = {};
    for (const [workload, reps] of Object.entries(byWorkload)) {
      const base = runs[BASELINE][workload];
      if (!base) continue;
      ratios[server][workload] = {};
      for (const key of METRICS) {
        const v = median(reps.map((r, i) => (r?.ok && base[i]?.ok && base[i][key] ? r[key] / base[i][key] : undefined)));
        if (v !== undefined) ratios[server][workload][key] = v;
      }
    }
  }
  return { med, ratios };
}

const TARGETS = [
  { workload: 'bulk-1x64k', metric: 'mibPerSec', op: '>=', ratio: 0.95, label: 'bulk 1x64k throughput' },
  { workload: 'bulk-64x16k', metric: 'mibPerSec', op: '>=', ratio: 0.95, label: 'bulk 64x16k throughput' },
  { workload: 'pingpong-1', metric: 'rtPerSec', op: '>=', ratio: 0.95, label: 'ping-pong 1 round trips/s' },
  { workload: 'pingpong-1', metric: 'p99Us', op: '<=', ratio: 1.1, label: 'ping-pong 1 p99 latency' },
  { workload: 'pingpong-100', metric: 'rtPerSec', op: '>=', ratio: 0.95, label: 'ping-pong 100 round trips/s' },
  { workload: 'pingpong-100', metric: 'p99Us', op: '<=', ratio: 1.1, label: 'ping-pong 100 p99 latency' },
  { workload: 'churn-50', metric: 'connsPerSec', op: '>=', ratio: 0.9, label: 'churn conns/s' },
  { workload: 'idle', metric: 'rssPerConn', op: '<=', ratio: 1.2, label: 'RSS per idle connection' },
];

function verdicts({ med, ratios }) {
  const out = [];
  const svc = med['tcp-echo'];
  for (const t of TARGETS) {
    const ratio = ratios['tcp-echo']?.[t.workload]?.[t.metric];
    if (ratio === undefined) continue;
    out.push({ ...t, value: ratio, met: t.op === '>=' ? ratio >= t.ratio : ratio <= t.ratio });
  }
  // The scrape's share of the server's one core: what a CPU-bound echo loses to scraping once a second.
  if (svc?.['scrape-cpu']?.cpuMsPerScrape !== undefined) {
    const share = svc['scrape-cpu'].cpuMsPerScrape / 1000;
    out.push({ workload: 'scrape-cpu', label: 'scrape 1/s cost: server CPU per scrape x 1/s', op: '<', limit: 0.02, value: share, met: share < 0.02 });
  }
  // Throughput with and without scrapes, side by side: reported, not judged. Bulk throughput of one
  // process swings by tens of percent between adjacent runs here, far more than 2% (docs/performance.md).
  for (const [workload, label] of [['scrape-1hz', 'scrape 1/s throughput cost, paired runs'], ['scrape-fast', `scrape 1/s throughput cost, paired runs at ${SCRAPE_HZ} Hz / ${SCRAPE_HZ}`]]) {
    if (svc?.[workload]?.costPerHz !== undefined) out.push({ workload, label, info: true, limit: 0.02, value: svc[workload].costPerHz, spread: svc[workload].costRange });
  }
  if (svc?.['scrape-fast']?.scrapeP99Ms !== undefined) {
    out.push({ workload: 'scrape-fast', label: 'scrape p99 latency under bulk load (ms)', op: '<', limit: 50, value: svc['scrape-fast'].scrapeP99Ms, met: svc['scrape-fast'].scrapeP99Ms < 50 });
  }
  return out;
}

// ---------- table ----------
const fmt = (v, digits = 0) => (v === undefined ? '-' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const pct = (v) => (v === undefined ? '-' : `${Math.round(v * 100)}%`);

function rows(med) {
  const r = [];
  const add = (workload, metric, label, digits = 0, ratio = true) => r.push({ workload, metric, label, digits, ratio });
  add('bulk-1x64k', 'mibPerSec', 'bulk 1 conn x 64 KiB: echoed MiB/s');
  add('bulk-1x64k', 'cpuMsPerGiB', '  server CPU ms per GiB echoed');
  add('bulk-64x16k', 'mibPerSec', 'bulk 64 conns x 16 KiB: echoed MiB/s');
  add('bulk-64x16k', 'cpuMsPerGiB', '  server CPU ms per GiB echoed');
  add('pingpong-1', 'rtPerSec', 'ping-pong 1 conn: round trips/s');
  add('pingpong-1', 'cpuUsPerOp', '  server CPU us per round trip', 1);
  add('pingpong-1', 'p50Us', '  p50 latency (us)', 1);
  add('pingpong-1', 'p99Us', '  p99 latency (us)', 1);
  add('pingpong-1', 'p999Us', '  p99.9 latency (us)', 1);
  add('pingpong-100', 'rtPerSec', 'ping-pong 100 conns: round trips/s');
  add('pingpong-100', 'cpuUsPerOp', '  server CPU us per round trip', 1);
  add('pingpong-100', 'p50Us', '  p50 latency (us)', 1);
  add('pingpong-100', 'p99Us', '  p99 latency (us)', 1);
  add('pingpong-100', 'p999Us', '  p99.9 latency (us)', 1);
  add('churn-50', 'connsPerSec', 'churn 50 concurrent: conns/s');
  add('churn-50', 'cpuUsPerOp', '  server CPU us per connection', 1);
  add('idle', 'rssPerConn', 'idle: server RSS bytes per conn');
  add('idle', 'conns', '  idle connections held', 0, false);
  add('scrape-1hz', 'mibPerSec', 'bulk 1x64k + scrape 1/s: MiB/s', 0, false);
  add('scrape-fast', 'mibPerSec', `bulk 1x64k + scrape ${SCRAPE_HZ}/s: MiB/s`, 0, false);
  add('scrape-fast', 'scrapeP50Ms', '  /metrics p50 under load (ms)', 2, false);
  add('scrape-fast', 'scrapeP99Ms', '  /metrics p99 under load (ms)', 2, false);
  add('scrape-cpu', 'cpuMsPerScrape', '/metrics: server CPU ms per scrape', 2, false);
  return r.filter((row) => Object.values(med).some((m) => m[row.workload]?.[row.metric] !== undefined));
}

function printTable({ med, ratios }, machine) {
  const servers = SERVER_IDS.filter((s) => med[s]);
  const header = ['workload', ...servers.map((s) => SERVERS[s].label)];
  const lines = [];
  for (const row of rows(med)) {
    const cells = [row.label];
    for (const s of servers) {
      const m = med[s][row.workload];
      const v = m?.[row.metric];
      let cell = fmt(v, row.digits);
      const ratio = ratios[s]?.[row.workload]?.[row.metric];
      if (row.ratio && s !== BASELINE && v !== undefined && ratio !== undefined) cell += ` (${ratio.toFixed(2)}x)`;
      if (row.ratio && s === BASELINE && v !== undefined) cell += ' (1.00x)';
      cells.push(cell);
    }
    // The scrape runs compare against the same load without scrapes, run next to them.
    if (row.workload.startsWith('scrape-') && row.metric === 'mibPerSec') {
      const m = med['tcp-echo']?.[row.workload];
      const i = servers.indexOf('tcp-echo');
      if (i >= 0 && m?.mibPerSec !== undefined) {
        const hz = row.workload === 'scrape-fast' ? SCRAPE_HZ : 1;
        cells[i + 1] = fmt(m.mibPerSec) + (m.costPerHz !== undefined ? ` (${m.costPerHz > 0 ? '-' : '+'}${Math.abs(m.costPerHz * hz * 100).toFixed(1)}% vs none)` : '');
      }
    }
    lines.push(cells);
  }
  const cpuRows = [];
  for (const w of WORKLOADS.filter((x) => x.kind === 'bulk' || x.kind === 'pingpong' || x.kind === 'churn')) {
    const cells = [`${w.id}: CPU server/loadgen/other`];
    let any = false;
    for (const s of servers) {
      const m = med[s][w.id];
      if (!m || m.serverCpu === undefined) {
        cells.push('-');
        continue;
      }
      any = true;
      cells.push(`${pct(m.serverCpu)} / ${pct(m.loadgenCpu)} / ${pct(m.foreignCpu)}`);
    }
    if (any) cpuRows.push(cells);
  }
  const all = [header, ...lines, ...cpuRows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  const render = (r) => '| ' + r.map((c, i) => String(c ?? '').padEnd(widths[i])).join(' | ') + ' |';
  const sep = '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|';
  const out = [render(header), sep, ...lines.map(render), sep, ...cpuRows.map(render)];
  console.log('');
  console.log(`${machine.cpuModel}, ${machine.cpus} CPUs, ${machine.kernel}; Node ${machine.node}; ${machine.python}; ${machine.date}`);
  const placement = servers.map((s) => SERVERS[s].cpus).some(Boolean) ? servers.map((s) => `${s} on CPUs ${SERVERS[s].cpus ?? SERVER_CPU}`).join(', ') : `server on CPU ${SERVER_CPU}`;
  console.log(`${placement}, load generator on CPU ${CLIENT_CPU}; median of ${REPS} repetition(s), ${DURATION} s measured after ${WARMUP} s warm-up; ratios against ${SERVERS[BASELINE].label}`);
  console.log(`servers run with GLIBC_TUNABLES=${GLIBC_TUNABLES ?? '(unset)'}`);
  console.log(out.join('\n'));
  return out.join('\n');
}

// ---------- main ----------
async function main() {
  if (os.cpus().length < 2) console.warn('bench: fewer than 2 CPUs: server and load generator will share one');
  try {
    execFileSync('taskset', ['-c', String(CLIENT_CPU), 'true']);
  } catch {
    console.error('bench: taskset (util-linux) is needed to pin the processes');
    process.exit(2);
  }
  if (!existsSync(SERVERS['tcp-echo'].args.at(-1)) && SERVER_IDS.includes('tcp-echo')) {
    console.error('bench: dist/main.js is missing: run `npm run build` first (npm run bench does)');
    process.exit(2);
  }
  buildLoadgen();
  const machine = machineInfo();
  console.log(`bench: ${REPS} rep(s) x ${SERVER_IDS.join(', ')}; workloads: ${WORKLOAD_IDS.join(', ')}`);

  const runs = {};
  let mismatch = false;
  let failures = 0;
  const started = Date.now();
  const record = (id, w, rep, result) => {
    ((runs[id] ??= {})[w.id] ??= [])[rep] = result;
    const brief = result.ok ? describe(w, result) : `FAILED: ${result.error}`;
    const quiet = result.machineBusyBefore !== undefined ? ` (machine busy before: ${result.machineBusyBefore.toFixed(2)} CPU)` : '';
    console.log(`  rep ${rep + 1}/${REPS} ${id.padEnd(8)} ${w.id.padEnd(13)} ${brief}${quiet}`);
    if (!result.ok) {
      failures++;
      if (result.mismatch) mismatch = true;
    }
  };
  const selected = WORKLOADS.filter((w) => WORKLOAD_IDS.includes(w.id));
  const serversFor = (w) => SERVER_IDS.filter((id) => !w.metricsOnly || SERVERS[id].metrics);
  // Rotate the order so drift in machine load does not always favour the same server.
  const rotate = (list, k) => list.map((_, i) => list[(i + k) % list.length]);
  const measure = (server, w, rep) => {
    if (w.kind === 'idle') return runIdle(server, w);
    if (w.kind === 'scrape-cpu') return runScrapeCpu(server).catch((e) => ({ ok: false, error: e.message }));
    if (w.scrapeHz) return runScrapePair(server, w, rep);
    return runTimed(server, w);
  };

  // A fresh server process for every measurement, each workload measured on each server back to
  // back, so a ratio compares runs seconds apart of servers with the same history: started, primed
  // with BENCH_PRIME seconds of the same load on connections of its own (the idle workload has its
  // own warm-up; scrape-cpu puts no load), measured. Long-lived servers would not have it: V8 sizes
  // the young generation from past traffic (every batch of new connections can double it) and
  // latency percentiles follow its scavenge pauses: bare Node's ping-pong 100 p99 rose from 2.6 to
  // 3.7 ms over 20 runs as it grew from 4 to 16 MiB. And memory that other workloads left behind
  // would hide the idle workload's cost.
  for (let rep = 0; rep < REPS; rep++) {
    for (const [wi, w] of selected.entries()) {
      for (const id of rotate(serversFor(w), rep + wi)) {
        const server = await startServer(id);
        try {
          if (PRIME > 0 && w.kind !== 'idle' && w.kind !== 'scrape-cpu') {
            const primed = await runTimed(server, { ...w, scrapeHz: undefined }, { duration: PRIME, warmup: 0 });
            if (!primed.ok) throw new Error(`${id} failed priming for ${w.id}: ${primed.error}`);
          }
          const quiet = await waitQuiet();
          record(id, w, rep, { ...(await measure(server, w, rep)), machineBusyBefore: quiet.busyCpus });
          if (!server.alive) throw new Error(`${id} died during ${w.id}: ${server.stderr()}`);
        } finally {
          await server.stop();
        }
      }
    }
  }

  const summary = summarize(runs);
  const { med, ratios } = summary;
  const table = printTable(summary, machine);
  const results = verdicts(summary);
  if (results.length) {
    console.log('\ntargets (tcp-echo vs bare Node, same run):');
    for (const v of results) {
      const want = v.ratio !== undefined ? `${v.op} ${v.ratio}x` : `${v.op} ${v.limit < 1 ? pct(v.limit) : v.limit}`;
      const got = v.ratio !== undefined ? `${v.value.toFixed(3)}x` : v.limit < 1 ? `${(v.value * 100).toFixed(2)}%` : v.value.toFixed(2);
      if (v.info) console.log(`  info   ${v.label}: ${got} (repetitions ${v.spread.map((x) => `${(x * 100).toFixed(1)}%`).join(' to ')})`);
      else console.log(`  ${v.met ? 'met   ' : 'MISSED'} ${v.label}: ${got} (target ${want})`);
    }
  }
  const ranges = [];
  for (const w of ['bulk-1x64k', 'bulk-64x16k', 'pingpong-1', 'pingpong-100', 'churn-50']) {
    const parts = SERVER_IDS.filter((id) => med[id]?.[w]?.range).map((id) => {
      const [key, [lo, hi]] = Object.entries(med[id][w].range)[0];
      return `${id} ${fmt(lo)}-${fmt(hi)}${key === 'mibPerSec' ? ' MiB/s' : '/s'}`;
    });
    if (parts.length) ranges.push(`  ${w}: ${parts.join(', ')}`);
  }
  if (ranges.length && REPS > 1) console.log(`\nrange over the ${REPS} repetitions (min-max):\n${ranges.join('\n')}`);
  const splits = [];
  for (const [id, byWorkload] of Object.entries(runs)) {
    for (const [w, reps] of Object.entries(byWorkload)) {
      const shares = reps.filter((r) => r?.ok && r.cpuShares).map((r) => [r.cpuShares[0], ...r.cpuShares.slice(1).sort((a, b) => b - a)]);
      if (!shares.length) continue;
      const [primary, ...workers] = shares[0].map((_, i) => pct(median(shares.map((x) => x[i]))));
      splits.push(`  ${id} ${w}: primary ${primary}, workers ${workers.join(' / ')}`);
    }
  }
  if (splits.length) console.log(`\nserver CPU split between its processes (median):\n${splits.join('\n')}`);
  const svc = med['tcp-echo'];
  const bare = med.bare;
  if (svc && bare) {
    const eff = [
      ['bulk-1x64k', 'cpuMsPerGiB', 'bulk 1x64k CPU per GiB'],
      ['bulk-64x16k', 'cpuMsPerGiB', 'bulk 64x16k CPU per GiB'],
      ['pingpong-1', 'cpuUsPerOp', 'ping-pong 1 CPU per round trip'],
      ['pingpong-100', 'cpuUsPerOp', 'ping-pong 100 CPU per round trip'],
      ['churn-50', 'cpuUsPerOp', 'churn CPU per connection'],
    ].filter(([w, m]) => ratios['tcp-echo']?.[w]?.[m] !== undefined);
    if (eff.length) {
      console.log('\nserver CPU per unit of work, tcp-echo / bare Node (lower is better; less sensitive to other load than rates):');
      for (const [w, m, label] of eff) console.log(`  ${label}: ${ratios['tcp-echo'][w][m].toFixed(3)}x`);
    }
  }
  const noisy = Object.values(runs).flatMap((m) => Object.values(m)).flat().filter((r) => r?.ok && (r.foreignCpu ?? 0) > 0.1).length;
  if (noisy) console.log(`\nnote: in ${noisy} measurement(s) other processes used more than 10% of a CPU ("other" column): those figures are noisy.`);

  mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `bench-${machine.date.replace(/[:.]/g, '-')}.json`);
  const settings = { glibcTunables: GLIBC_TUNABLES ?? 'none', serviceCommand: [SERVERS['tcp-echo'].cmd, ...SERVERS['tcp-echo'].args], reps: REPS, durationS: DURATION, warmupS: WARMUP, serverCpu: SERVER_CPU, clientCpu: CLIENT_CPU, idleConnsWanted: IDLE_WANTED, scrapeHz: SCRAPE_HZ, servers: SERVER_IDS, workloads: WORKLOADS.filter((w) => WORKLOAD_IDS.includes(w.id)) };
  writeFileSync(file, JSON.stringify({ machine, settings, elapsedS: (Date.now() - started) / 1000, medians: med, ratiosVsBare: ratios, targets: results, table, runs }, null, 2) + '\n');
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`);

  if (mismatch) {
    console.error('bench: FAILED: an echo did not match what was sent');
    process.exit(1);
  }
  if (failures) {
    console.error(`bench: FAILED: ${failures} workload run(s) failed`);
    process.exit(1);
  }
  if (STRICT && results.some((v) => !v.info && !v.met)) process.exit(3);
}

function describe(w, r) {
  const cpu = r.serverCpu !== undefined ? ` [cpu srv ${pct(r.serverCpu)} gen ${pct(r.loadgenCpu)} other ${pct(r.foreignCpu)}]` : '';
  if (w.kind === 'bulk') return `${fmt(r.mibPerSec)} MiB/s${r.baselineMibPerSec !== undefined ? ` (${fmt(r.baselineMibPerSec)} without scrapes)` : ''}${r.scrapeOk !== undefined ? `, ${r.scrapeOk} scrapes p50 ${fmt(r.scrapeP50Ms, 2)} ms p99 ${fmt(r.scrapeP99Ms, 2)} ms` : ''}${cpu}`;
  if (w.kind === 'pingpong') return `${fmt(r.rtPerSec)} rt/s p50 ${fmt(r.p50Us, 1)} p99 ${fmt(r.p99Us, 1)} p99.9 ${fmt(r.p999Us, 1)} us${cpu}`;
  if (w.kind === 'churn') return `${fmt(r.connsPerSec)} conns/s${cpu}`;
  if (w.kind === 'idle') return `${fmt(r.conns)} conns: RSS ${fmt(r.rssBefore / 2 ** 20, 1)} -> ${fmt(r.rssAfter / 2 ** 20, 1)} MiB = ${fmt(r.rssPerConn)} B/conn`;
  if (w.kind === 'scrape-cpu') return `${fmt(r.cpuMsPerScrape, 2)} ms CPU, ${fmt(r.wallMsPerScrape, 2)} ms wall per scrape (${fmt(r.bodyBytes)} B)`;
  return '';
}

main().catch((error) => {
  console.error(`bench: ${error.stack ?? error}`);
  process.exit(1);
});
