#!/usr/bin/env node
// Profiles one server under one load: `node bench/profile.mjs [server] [workload]`
//   server:   tcp-echo (default) | bare | a path to a JS entry point (e.g. a scratch build's dist/main.js)
//   workload: bulk-1x64k (default) | bulk-64x16k | pingpong-1 | pingpong-100 | churn-50
// Runs the server pinned to CPU 0 with `--trace-gc --cpu-prof`, drives it from CPU 1 with the C load
// generator, then prints the throughput, the GCs by kind and reason (per second and per GiB echoed)
// and the functions with the most self time. The .cpuprofile (open it in Chrome DevTools or
// speedscope for a flame graph) and the GC trace are kept in bench/results/profile-<time>/.
// Settings: PROFILE_DURATION=5 (s), PROFILE_NODE_FLAGS (extra flags for the server's node),
// PROFILE_SCRAPE_HZ (scrape /metrics this often during a bulk workload).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const LOADGEN_SRC = path.join(BENCH, 'loadgen.c');
const LOADGEN = path.join(BENCH, 'build', 'loadgen');

const WORKLOADS = {
  'bulk-1x64k': ['--mode', 'bulk', '--conns', '1', '--size', '65536', '--window', String(1 << 20)],
  'bulk-64x16k': ['--mode', 'bulk', '--conns', '64', '--size', '16384', '--window', String(1 << 18)],
  'pingpong-1': ['--mode', 'pingpong', '--conns', '1', '--size', '64'],
  'pingpong-100': ['--mode', 'pingpong', '--conns', '100', '--size', '64'],
  'churn-50': ['--mode', 'churn', '--conns', '50', '--size', '64'],
};

const [serverArg = 'tcp-echo', workload = 'bulk-1x64k'] = process.argv.slice(2);
if (!WORKLOADS[workload]) {
  console.error(`profile: unknown workload ${workload}; known: ${Object.keys(WORKLOADS).join(', ')}`);
  process.exit(2);
}
const entry =
  serverArg === 'tcp-echo' ? path.join(ROOT, 'dist', 'main.js') : serverArg === 'bare' ? path.join(BENCH, 'servers', 'bare-echo.mjs') : path.resolve(serverArg);
if (!existsSync(entry)) {
  console.error(`profile: ${entry} does not exist (npm run build?)`);
  process.exit(2);
}
const duration = Number(process.env.PROFILE_DURATION ?? 5);
const extraFlags = (process.env.PROFILE_NODE_FLAGS ?? '').split(' ').filter(Boolean);

mkdirSync(path.dirname(LOADGEN), { recursive: true });
if (!existsSync(LOADGEN) || statSync(LOADGEN).mtimeMs < statSync(LOADGEN_SRC).mtimeMs) {
  execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-Wextra', '-o', LOADGEN, LOADGEN_SRC], { stdio: 'inherit' });
}
const outDir = path.join(BENCH, 'results', `profile-${new Date().toISOString().replace(/[:.]/g, '-')}`);
mkdirSync(outDir, { recursive: true });

const child = spawn('taskset', ['-c', '0', process.execPath, '--trace-gc', '--cpu-prof', `--cpu-prof-dir=${outDir}`, ...extraFlags, entry], {
  env: { ...process.env, ECHO_HOST: '127.0.0.1', ECHO_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
let measureFrom = Infinity;
let measureTo = Infinity;
let httpPort;
const port = await new Promise((resolve, reject) => {
  child.stdout.setEncoding('utf8').on('data', (t) => {
    out += t;
    const m = /"event":"listening".*?"echo":\{[^}]*"port":(\d+)/.exec(out);
    httpPort ??= /"event":"listening".*?"http":\{[^}]*"port":(\d+)/.exec(out)?.[1];
    if (m) resolve(Number(m[1]));
  });
  child.on('exit', (code) => reject(new Error(`server exited (${code})`)));
  setTimeout(() => reject(new Error('server did not start in 15 s')), 15_000).unref();
});
const exited = once(child, 'exit');
const t0 = Date.now();
// PROFILE_SCRAPE_HZ: also scrape /metrics during a bulk workload (tcp-echo only).
const scrapeHz = Number(process.env.PROFILE_SCRAPE_HZ ?? 0);
const scrapeArgs = scrapeHz > 0 && httpPort ? ['--scrape-port', String(httpPort), '--scrape-interval-ms', String(1000 / scrapeHz)] : [];
const gen = spawn('taskset', ['-c', '1', LOADGEN, '--host', '127.0.0.1', '--port', String(port), '--server-pid', String(child.pid), '--duration', String(duration), '--warmup', '1', ...WORKLOADS[workload], ...scrapeArgs], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let genOut = '';
gen.stdout.setEncoding('utf8').on('data', (t) => (genOut += t));
// GC lines carry the ms since the server's isolate started; mark the measured window by the lines around it.
setTimeout(() => (measureFrom = out.length), 1000);
setTimeout(() => (measureTo = out.length), 1000 + duration * 1000);
const [genCode] = await once(gen, 'exit');
child.kill('SIGTERM');
await Promise.race([exited, sleep(30_000).then(() => child.kill('SIGKILL'))]);
writeFileSync(path.join(outDir, 'server-stdout.log'), out);

const result = JSON.parse(genOut.trim().split('\n').pop() ?? '{}');
console.log(`${serverArg} under ${workload}: ${JSON.stringify(result)}`);
if (result.serverCpu !== undefined && result.seconds) {
  const cpuMs = result.serverCpu * result.seconds * 1000;
  const per = result.bytes ? `${(cpuMs / (result.bytes / 2 ** 30)).toFixed(0)} ms per GiB echoed` : `${((cpuMs * 1000) / result.ops).toFixed(1)} us per operation`;
  console.log(`server CPU ${(result.serverCpu * 100).toFixed(0)}% of one core = ${per}; load generator ${(result.loadgenCpu * 100).toFixed(0)}%`);
}
if (genCode !== 0) process.exitCode = 1;

// ---- GC summary over the measured window ----
const window = out.slice(measureFrom === Infinity ? 0 : measureFrom, measureTo === Infinity ? undefined : measureTo);
const gcs = {};
let gcMs = 0;
for (const line of window.split('\n')) {
  // V8 12.4+ (Node 22+) puts "pooled: N MB, " before the pause; Node 26 names incremental ones.
  const m = /ms: (Scavenge|(?:Incremental )?Mark-Compact|Mark-Sweep|Minor Mark-Compact|Minor Mark-Sweep)[^,]*,(?: pooled: [\d.]+ MB,)? ([\d.]+) \/ [\d.]+ ms.*?(?:\) )?([a-z][^;]*);/.exec(line);
  if (!m) continue;
  const key = `${m[1]} (${m[3].replace(/.*\) /, '').trim()})`;
  gcs[key] = (gcs[key] ?? 0) + 1;
  gcMs += Number(m[2]);
}
const gib = (result.bytes ?? 0) / 2 ** 30;
console.log(`\nGCs during the ${duration} s measured (pause ${gcMs.toFixed(0)} ms in all = ${((gcMs / (duration * 1000)) * 100).toFixed(1)}% of the time):`);
for (const [k, n] of Object.entries(gcs).sort((a, b) => b[1] - a[1])) {
  console.log(`  ${String(n).padStart(6)}  ${(n / duration).toFixed(1).padStart(7)}/s  ${gib ? (n / gib).toFixed(1).padStart(7) + '/GiB' : ''}  ${k}`);
}

// ---- CPU profile: self time by function ----
const profFile = readdirSync(outDir).find((f) => f.endsWith('.cpuprofile'));
if (profFile) {
  const prof = JSON.parse(readFileSync(path.join(outDir, profFile), 'utf8'));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  });
  const byFn = new Map();
  for (const [id, us] of selfUs) {
    const cf = nodes.get(id).callFrame;
    const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(ROOT + '/', '').replace(/.*node_modules\//, '')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  console.log(`\ntop self time (whole process life, ${(total / 1e6).toFixed(1)} s sampled; "(idle)" = waiting in epoll):`);
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`  ${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
  console.log(`\nprofile: ${path.relative(process.cwd(), path.join(outDir, profFile))} (open in Chrome DevTools > Performance, or speedscope)`);
}
console.log(`gc trace: ${path.relative(process.cwd(), path.join(outDir, 'server-stdout.log'))}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
