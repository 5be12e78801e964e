// Where the memory guard's numbers come from: the container's limit, and what the process holds.
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import type { MemoryBudgetSetting } from '../config/types.js';

export type ReadFile = (path: string) => string;

const readText: ReadFile = (path) => readFileSync(path, 'utf8');

/** cgroup v2 (unified), then v1; inside a container /sys/fs/cgroup is the container's own cgroup. */
const LIMIT_FILES = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'];
const STAT_FILE_V2 = '/sys/fs/cgroup/memory.stat';
/** cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit number; anything near it is none. */
const NO_LIMIT_ABOVE = 2 ** 60;

/** The memory limit of this process's cgroup in bytes, or undefined where there is none (or no cgroup). */
export function cgroupMemoryLimit(readFile: ReadFile = readText): number | undefined {
  for (const path of LIMIT_FILES) {
    let text: string;
    try {
      text = readFile(path).trim();
    } catch {
      continue;
    }
    if (text === 'max') return undefined;
    const bytes = Number(text);
    return Number.isSafeInteger(bytes) && bytes > 0 && bytes < NO_LIMIT_ABOVE ? bytes : undefined;
  }
  return undefined;
}

/**
 * Kernel socket buffers charged to this cgroup (cgroup v2's memory.stat `sock`), 0 where the kernel
 * does not report them: on cgroup v1 they are not charged to the container unless kmem accounting is on.
 */
export function cgroupSocketBytes(readFile: ReadFile = readText): number {
  try {
    const match = /^sock (\d+)$/m.exec(readFile(STAT_FILE_V2));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

export interface MemorySample {
  /** What the guard compares with its budget: memory the process holds live, plus its socket buffers. */
  readonly usedBytes: number;
  /** Resident set size, for /healthz: stays near its peak after a burst (the allocator keeps freed pages). */
  readonly rssBytes: number;
  /**
   * Buffers V8 has not freed yet (part of usedBytes): those connections hold, and those already echoed
   * whose memory waits for a collection.
   */
  readonly bufferBytes: number;
  /** The parts of usedBytes, for /healthz. */
  readonly heapBytes?: number;
  readonly externalBytes?: number;
  readonly socketBytes?: number;
}

export type MemorySampler = () => MemorySample;

export type MemoryUsage = () => Pick<NodeJS.MemoryUsage, 'rss' | 'heapUsed' | 'external' | 'arrayBuffers'>;

/**
 * Live memory: what V8's heap holds and the memory outside it that JavaScript holds (socket buffers
 * and every other Buffer), plus the native rest of the process as it was at start (code, libuv,
 * OpenSSL), plus kernel socket buffers where the cgroup counts them. Not RSS, nor V8's committed heap:
 * after a burst the allocator and V8 keep freed pages and both stay near their peak, so a guard reading
 * them would never see the pressure fall; the kept pages are what the next allocations reuse, so RSS
 * does not grow again until live memory does.
 *
 * Buffers are read from `arrayBuffers`, not `external`: V8 takes freed Buffers off `external` only at
 * the collection after the one that freed them (seconds later in a quiet process: 86 MiB counted
 * against 10 MiB of Buffers left, with no connection open), off `arrayBuffers` once they are freed.
 * The rest of `external` (mostly Node's own sources) is taken as it was at start.
 */
export function processMemorySampler(readFile: ReadFile = readText, memoryUsage: MemoryUsage = process.memoryUsage): MemorySampler {
  const start = memoryUsage();
  const nativeBytes = Math.max(0, start.rss - start.heapUsed - start.external);
  const otherExternalBytes = Math.max(0, start.external - start.arrayBuffers);
  const socketBytes = hasFile(readFile, STAT_FILE_V2) ? () => cgroupSocketBytes(readFile) : () => 0;
  return () => {
    const { heapUsed, external, arrayBuffers, rss } = memoryUsage();
    const sockets = socketBytes();
    return {
      usedBytes: nativeBytes + heapUsed + otherExternalBytes + arrayBuffers + sockets,
      rssBytes: rss,
      heapBytes: heapUsed,
      externalBytes: external,
      socketBytes: sockets,
      bufferBytes: arrayBuffers,
    };
  };
}

function hasFile(readFile: ReadFile, path: string): boolean {
  try {
    readFile(path);
    return true;
  } catch {
    return false;
  }
}

/** V8's collections, for the guard: memory freed by shedding, and dead Buffers, show at the next sample. */
export interface GarbageCollector {
  /** A scavenge of the young generation: well under a millisecond here; frees Buffers that died young. */
  young(): void;
  /** A full collection: some milliseconds; frees everything unreachable, Buffers that lived long enough to be promoted too. */
  full(): void;
  /**
   * Under memory pressure, V8 collects for dead Buffers at its own external-memory limit instead of
   * within the heap limit main.ts counts them in for throughput (by which 100-200 MiB of them can pile
   * up between two collections).
   */
  collectBuffersEarly(early: boolean): void;
}

/**
 * Whether V8 counts Buffers (external memory) within its global heap limit, which grows with the
 * heap: fewer full collections under bulk load (main.ts turns it on), more dead Buffers between them.
 */
export function countBuffersInHeapLimit(count: boolean): void {
  setFlagsFromString(`--${count ? '' : 'no-'}external-memory-accounted-in-global-limit`);
}

export function v8GarbageCollector(): GarbageCollector {
  setFlagsFromString('--expose-gc');
  // The flag exposes gc() to contexts created after it.
  const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
  return { young: () => gc({ type: 'minor' }), full: () => gc({ type: 'major' }), collectBuffersEarly: (early) => countBuffersInHeapLimit(!early) };
}

/**
 * The share of a cgroup memory limit the guard budgets for by default. The rest is headroom for what
 * the guard's measure leaves out or lags: pages the allocator keeps after a burst (RSS stays near its
 * peak), V8's room to collect, on cgroup v1 the kernel's socket buffers, and above all what the
 * connections read in one turn of the event loop, between two samples (up to their buffers each: a
 * crowd of stalled clients with 4 MiB buffers took RSS up to 1.6x the budget in tests, at 60% of a
 * limit that is 95% of it).
 */
export const AUTO_BUDGET_FRACTION = 0.6;

/** The budget in bytes for the whole service, or undefined when the guard is off. */
export function resolveMemoryBudget(setting: MemoryBudgetSetting, limit: () => number | undefined = cgroupMemoryLimit): number | undefined {
  if (setting.kind === 'off') return undefined;
  if (setting.kind === 'bytes') return setting.bytes;
  const bytes = limit();
  return bytes === undefined ? undefined : Math.floor(bytes * AUTO_BUDGET_FRACTION);
}
