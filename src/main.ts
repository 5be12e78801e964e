#!/usr/bin/env node
// Entry point: V8's heap settings and the echo's warm-up first, then the command line (cli.ts). A
// flag set here governs what is loaded after it, and what V8 sees first shapes how it optimises, so
// the CLI, and with it Fastify, pino and prom-client, comes last.
// Run as `node dist/main.js` wherever signals matter: npm does not pass them cleanly to a draining child.
//
// Incremental marking stays on: V8 answers the read buffers' external memory with a full GC, and
// without incremental marking each is a 20-25 ms stop-the-world Mark-Compact, several per GiB
// echoed (heap-settings.test.ts counts them).
import { setFlagsFromString } from 'node:v8';
import { countBuffersInHeapLimit } from './overload/memory.js';

// SIGUSR1 would open Node's inspector on 127.0.0.1:9229, and with it a way to run code in the
// process. A listener of our own replaces Node's; this one covers the moment before cli.ts installs
// the real handlers (src/signals.ts).
process.on('SIGUSR1', () => undefined);

// Every socket read is a fresh 64 KiB buffer outside the JS heap, and V8 starts a full mark of the
// old generation each time enough of that external memory piles up between scavenges: 15-17 per
// GiB echoed under bulk load, each marking this service's ~12 MiB of Fastify, pino and prom-client
// (bare Node: 4 MiB), 17% of the CPU. With external memory counted in V8's global heap limit,
// which grows with the heap, it is 5-10 per GiB (bench/profile.mjs, Node 24 and 26). The memory
// guard turns this off near its budget, where dead Buffers must not pile up.
countBuffersInHeapLimit(true);

// Loading those libraries keeps enough alive that V8 would grow the young generation to 8 MiB before
// the first connection, and every scavenge would then sweep four times as many socket-read buffers
// as bare Node's: 1.4-2 ms pauses that show in the latency percentiles under many connections. So
// the young generation does not grow while the service starts; once it listens, V8 sizes it from
// the traffic, as it does for bare Node. An operator's own --semi-space-growth-factor is left alone.
const V8_DEFAULT_GROWTH_FACTOR = 2;
const growthSetByOperator = process.execArgv.some((arg) => arg.replaceAll('_', '-').startsWith('--semi-space-growth-factor'));
if (!growthSetByOperator) setFlagsFromString('--semi-space-growth-factor=1');

// After every chunk a socket pushes, Node's stream schedules process.nextTick(maybeReadMore_, stream,
// state). How fast that call runs depends on what V8 has seen by the time it optimises nextTick:
// after the calls of other shapes that loading the CLI makes, most starts got a slower compile
// (ping-pong with 100 connections at 0.93x bare Node on Node 26; bare Node loads almost nothing).
// Calls of the echo's shape first make its compile the one V8 keeps (docs/performance.md).
const ECHO_SHAPED_TICKS = 20_000;
const stream = {};
const state = {};
const nothing = (_stream: object, _state: object) => undefined;
for (let i = 0; i < ECHO_SHAPED_TICKS; i++) process.nextTick(nothing, stream, state);
await new Promise(setImmediate);

const { runCli } = await import('./cli.js');
await runCli();

if (!growthSetByOperator) setFlagsFromString(`--semi-space-growth-factor=${V8_DEFAULT_GROWTH_FACTOR}`);
