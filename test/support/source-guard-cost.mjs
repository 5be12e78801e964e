// What the source checks cost the UDP echo's per-datagram path: a bounded throughput run over loopback.
// Not part of the suite (run by hand after `npm run build`):
//
//   node test/support/source-guard-cost.mjs [--old <dist of an earlier build>] [--count 100000] [--repeats 5] [--host 127.0.0.1|::1]
//
// For each mode the echo runs in its own child process; this process is a client that keeps 64
// datagrams of 64 bytes in flight (a reply frees a slot) until `count` have come back. Modes run in
// turn, `repeats` times, so machine noise falls on all of them alike. Reported per mode: the median
// throughput and the median CPU time of the echo process per datagram, and both as ratios against
// `off` (port table only, no rate limit; every mode has it but `old`).
//   old   the listener of an earlier build (--old), before the source checks
//   off   port table only (the default: ECHO_UDP_SOURCE_RATE=0)
//   on    port table and a rate limit that never bites (10,000,000/s): the full token-bucket work per datagram
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, URL } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(import.meta.url);
const distOfThisBuild = fileURLToPath(new URL('../../dist', import.meta.url));

if (process.argv[2] === 'serve') {
  const [, , , dist, mode, host] = process.argv;
  const { pino } = await import('pino');
  const { createUdpEchoListener } = await import(`${dist}/udp/listener.js`);
  const { createUdpStats } = await import(`${dist}/udp/stats.js`);
  const options = { host, port: 0, logger: pino({ level: 'silent' }), stats: createUdpStats() };
  if (mode === 'on') {
    const { createSourceRateLimiter } = await import(`${dist}/udp/source-rate.js`);
    options.sourceRate = createSourceRateLimiter({ ratePerSecond: 10_000_000, burst: 10_000_000 });
  }
  const listener = createUdpEchoListener(options);
  const { port } = await listener.listen();
  let cpuAtStart;
  process.on('message', async (message) => {
    if (message === 'start') {
      cpuAtStart = process.cpuUsage();
      process.send({ started: true });
    } else if (message === 'stop') {
      const cpu = process.cpuUsage(cpuAtStart);
      process.send({ cpuMicros: cpu.user + cpu.system, stats: options.stats });
      await listener.close();
      process.exit(0);
    }
  });
  process.send({ port });
} else {
  const { values } = parseArgs({ options: { old: { type: 'string' }, count: { type: 'string', default: '100000' }, repeats: { type: 'string', default: '5' }, host: { type: 'string', default: '127.0.0.1' } } });
  const count = Number(values.count);
  const repeats = Number(values.repeats);
  const host = values.host;
  const modes = [...(values.old ? [['old', values.old]] : []), ['off', distOfThisBuild], ['on', distOfThisBuild]];
  const results = Object.fromEntries(modes.map(([mode]) => [mode, []]));

  const runOnce = async (mode, dist) => {
    const server = fork(here, ['serve', dist, mode, host], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const [{ port }] = await once(server, 'message');
    const client = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    client.bind(0, host);
    await once(client, 'listening');
    const payload = Buffer.alloc(64, 0x61);
    let sent = 0;
    let received = 0;
    server.send('start');
    await once(server, 'message');
    const startedAt = performance.now();
    const done = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${mode}: ${received} of ${count} back after 120 s`)), 120_000);
      client.on('message', () => {
        received++;
        if (sent < count) {
          sent++;
          client.send(payload, port, host);
        }
        if (received === count) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    for (; sent < 64; sent++) client.send(payload, port, host);
    await done;
    const seconds = (performance.now() - startedAt) / 1000;
    server.send('stop');
    const [{ cpuMicros, stats }] = await once(server, 'message');
    client.close();
    await once(server, 'exit');
    if (stats.sentDatagrams !== count || Object.values(stats.errors).some((n) => n !== 0)) throw new Error(`${mode}: unexpected counters ${JSON.stringify(stats)}`);
    return { perSecond: count / seconds, cpuNanosPerDatagram: (cpuMicros * 1000) / count };
  };

  // The rate limiter alone, in a tight loop: what admit() adds to one datagram, by address form.
  const { createSourceRateLimiter } = await import(`${distOfThisBuild}/udp/source-rate.js`);
  const limiter = createSourceRateLimiter({ ratePerSecond: 10_000_000, burst: 10_000_000 });
  const calls = 5_000_000;
  for (const address of ['127.0.0.1', '::ffff:192.0.2.1', '2001:db8:85a3::8a2e:370:7334']) {
    let admitted = 0;
    for (let i = 0; i < 100_000; i++) if (limiter.admit(address)) admitted++; // warm-up
    const startedAt = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) if (limiter.admit(address)) admitted++;
    const nanos = Number(process.hrtime.bigint() - startedAt) / calls;
    console.log(`admit(${JSON.stringify(address)}): ${nanos.toFixed(1)} ns a call (${admitted} admitted)`);
  }

  // The listener's own per-datagram work, without the kernel: 'message' events on a real socket whose
  // send() completes at once, in a tight loop. Interleaved, best of `repeats` per mode.
  const handlerNanos = Object.fromEntries(modes.map(([mode]) => [mode, Infinity]));
  const { pino } = await import('pino');
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const [mode, dist] of modes) {
      const { createUdpEchoListener } = await import(`${dist}/udp/listener.js`);
      const { createUdpStats } = await import(`${dist}/udp/stats.js`);
      let socket;
      const options = {
        host: '127.0.0.1',
        port: 0,
        logger: pino({ level: 'silent' }),
        stats: createUdpStats(),
        createSocket: (socketOptions) => {
          socket = createSocket(socketOptions);
          socket.send = (msg, port, address, callback) => callback(null, msg.length);
          return socket;
        },
      };
      if (mode === 'on') options.sourceRate = createSourceRateLimiter({ ratePerSecond: 10_000_000, burst: 10_000_000 });
      const listener = createUdpEchoListener(options);
      await listener.listen();
      const datagram = Buffer.alloc(64);
      const sender = { address: '127.0.0.1', family: 'IPv4', port: 45678, size: 64 };
      for (let i = 0; i < 100_000; i++) socket.emit('message', datagram, sender);
      const startedAt = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) socket.emit('message', datagram, sender);
      handlerNanos[mode] = Math.min(handlerNanos[mode], Number(process.hrtime.bigint() - startedAt) / calls);
      await listener.close();
    }
  }
  console.log(
    `listener per-datagram work without the kernel (best of ${repeats}): ` +
      modes.map(([mode]) => `${mode} ${handlerNanos[mode].toFixed(1)} ns (${(handlerNanos[mode] / handlerNanos.off).toFixed(2)}x)`).join(', '),
  );

  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const [mode, dist] of modes) results[mode].push(await runOnce(mode, dist));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const summary = Object.fromEntries(
    modes.map(([mode]) => [mode, { perSecond: median(results[mode].map((r) => r.perSecond)), cpuNanosPerDatagram: median(results[mode].map((r) => r.cpuNanosPerDatagram)) }]),
  );
  console.log(`UDP echo, ${count} x 64-byte datagrams, 64 in flight, ${host}, ${repeats} runs per mode (medians; ratios against off):`);
  for (const [mode] of modes) {
    const { perSecond, cpuNanosPerDatagram } = summary[mode];
    const all = results[mode].map((r) => Math.round(r.perSecond)).join(' ');
    console.log(
      `  ${mode.padEnd(4)} ${Math.round(perSecond).toString().padStart(7)} datagrams/s (${(perSecond / summary.off.perSecond).toFixed(3)}x)` +
        `  echo CPU ${Math.round(cpuNanosPerDatagram).toString().padStart(5)} ns/datagram (${(cpuNanosPerDatagram / summary.off.cpuNanosPerDatagram).toFixed(3)}x)   runs: ${all}`,
    );
  }
}
