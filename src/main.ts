#!/usr/bin/env node
// Entry point: V8's heap settings first, then the command line (cli.ts). A flag set here governs
// what is loaded after it, so the CLI, and with it Fastify, pino and prom-client, comes last.
// Run as `node dist/main.js` wherever signals matter: npm does not pass them cleanly to a draining child.
import { setFlagsFromString } from 'node:v8';

// With Fastify and prom-client loaded the old generation sits just above the size where V8 starts
// incremental marking, and under bulk load the 64 KiB read buffers then keep restarting it: a full
// GC every few tens of ms that frees almost nothing (bench/profile.mjs, README "Performance").
// Without incremental marking, full GCs are rare stop-the-world pauses of a few ms on this small heap.
setFlagsFromString('--no-incremental-marking');

// Loading those libraries keeps enough alive that V8 grows the young generation to 8 MiB, and each
// scavenge then sweeps four times as many socket-read buffers as bare Node's: 1.4-2 ms pauses that
// show in the latency percentiles under many connections. Growth factor 1 keeps it near its start size.
setFlagsFromString('--semi-space-growth-factor=1');

await import('./cli.js');
