// The process-wide memory guard: no mix of clients may push the service past its memory budget
// (and the pod into the OOM killer, which would drop every connection). It samples memory on a
// timer, never on the echo path, and sheds load in a fixed order:
//   1. at REFUSE_AT of the budget: refuse new connections (rejected{reason="overload"}), readiness 503,
//      and shrink what each connection may hold: stop reading from a client whose echo backlog is
//      over HOLD_BACKLOG_BYTES until it has read it (its socket buffer would allow far more);
//   2. when memory, with what the stalled connections (clients not reading their echo) could still
//      grow to, would pass the budget: close the stalled connections holding the most
//      (closed{reason="overload"}), newest first among equals, until that projection is back under
//      REFUSE_AT. A connection whose client reads holds next to nothing and is never closed: with new
//      connections refused, their number cannot grow;
//   3. below RESUME_BELOW (or, where the service at rest already uses more, close to what it used at
//      start): accept again, readiness 200.
// A paused connection's buffered echo cannot be shrunk without losing bytes, so closing is the only
// way to take memory back from a client that does not read.
import type { Logger } from 'pino';
import type { GarbageCollector, MemorySample, MemorySampler } from './memory.js';

export const REFUSE_AT = 0.85;
export const RESUME_BELOW = 0.7;
/**
 * Where the budget is small and the service at rest already uses RESUME_BELOW of it, it would never
 * accept again: it resumes once back within this share of the budget of what it used at start
 * (never above halfway to REFUSE_AT).
 */
export const RESUME_ABOVE_START = 0.05;
/** What an open connection costs besides its buffers (socket, handles, V8 objects), as measured here. */
export const CONNECTION_OVERHEAD_BYTES = 8 * 1024;
/** How often memory is sampled; faster from half the budget on, where a burst can overshoot it between samples. */
export const SAMPLE_INTERVAL_MS = 100;
export const SAMPLE_INTERVAL_NEAR_BUDGET_MS = 20;
export const NEAR_BUDGET = 0.5;
/** While above REFUSE_AT or refusing, a full GC at most this often, so garbage alone never keeps the service refusing. */
export const GC_INTERVAL_MS = 1000;
/**
 * From NEAR_BUDGET on, Buffers already echoed but not yet collected are collected once they pass this
 * share of the budget: a young collection first, a full one if that is not enough. V8 schedules its
 * collections by heap allocation, and a chunk's objects weigh a few hundred bytes against its 64 KiB:
 * clients flooding at loopback speed left 100 MiB and more of dead Buffers between two collections,
 * all of it resident.
 */
export const DEAD_BUFFERS_SHARE = 1 / 8;
/** A full collection for dead Buffers at most this often: it costs 5-15 ms here, a young one under 1 ms. */
export const DEAD_BUFFERS_FULL_GC_INTERVAL_MS = 100;
/**
 * How long what the guard closed may still count as used: buffers are freed once their sockets have
 * closed and V8 has swept them (concurrently, after a collection). Meanwhile the guard deducts its
 * estimate of them, so it neither closes more for memory already on its way out nor waits to answer
 * new growth.
 */
export const SHED_SETTLE_MS = 50;

/** While refusing, a connection with more echo than this waiting for its client is read no further. */
export const HOLD_BACKLOG_BYTES = 64 * 1024;

/** An open connection as the guard sees it. */
export interface Sheddable {
  /** Bytes the service holds for this connection: echo waiting for the client, and input not yet echoed. */
  heldBytes(): number;
  /** Echo waiting for the client to read it. */
  pendingWriteBytes(): number;
  /** Reading is paused because the client does not read its echo (fast enough). */
  readonly stalled: boolean;
  readonly openedAt: number;
  /** Stop reading from the client until releaseReading(); its echo keeps flowing. */
  holdReading(): void;
  releaseReading(): void;
  /** Close at once, counted as `overload`. */
  shed(): void;
}

export interface GuardedListener {
  /** The most a stalled connection can make the service hold: its read and write buffers and a read. */
  readonly maxHeldBytesPerConnection: number;
  /** While true, new connections are refused at accept and counted as `overload`. */
  refuseNewConnections(refuse: boolean): void;
  openConnections(): Iterable<Sheddable>;
}

export interface MemoryGuardOptions {
  readonly budgetBytes: number;
  readonly listeners: readonly GuardedListener[];
  readonly sample: MemorySampler;
  readonly garbageCollector: GarbageCollector;
  readonly logger: Logger;
  readonly now: () => number;
}

export type OverloadAction = 'refuse_connections' | 'close_connections';
export const OVERLOAD_ACTIONS: readonly OverloadAction[] = ['refuse_connections', 'close_connections'];

export interface MemoryGuard {
  readonly budgetBytes: number;
  /** The last sample. */
  readonly lastSample: MemorySample;
  readonly usedBytes: number;
  /** Which actions are in force now. */
  active(action: OverloadAction): boolean;
  /** Connections closed to free memory, in total. */
  readonly shedConnections: number;
  /** One sample and whatever it calls for (the timer calls this). */
  check(): void;
  start(): void;
  stop(): void;
}

export function createMemoryGuard(options: MemoryGuardOptions): MemoryGuard {
  const { budgetBytes, listeners, sample, garbageCollector, logger, now } = options;
  const refuseAt = budgetBytes * REFUSE_AT;
  let resumeBelow = budgetBytes * RESUME_BELOW;
  let last: MemorySample = { usedBytes: 0, rssBytes: 0, bufferBytes: 0 };
  let used = 0;
  let refusing = false;
  let closing = false;
  let shedConnections = 0;
  let lastGcAt = -Infinity;
  let collectingBuffersEarly = false;
  /** Estimated bytes of connections closed within the last SHED_SETTLE_MS, and when that window ends. */
  let releasing = 0;
  let releasingUntil = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  const measure = () => {
    last = sample();
    used = last.usedBytes;
  };

  const collect = () => {
    garbageCollector.full();
    lastGcAt = now();
    measure();
  };

  const heldByConnections = () => {
    let held = 0;
    for (const listener of listeners) for (const connection of listener.openConnections()) held += connection.heldBytes();
    return held;
  };

  /** Buffers no connection holds (echo already sent) past DEAD_BUFFERS_SHARE of the budget: collected now. */
  const collectDeadBuffers = () => {
    const held = heldByConnections();
    const tooMany = () => last.bufferBytes - held > budgetBytes * DEAD_BUFFERS_SHARE;
    if (!tooMany()) return;
    garbageCollector.young();
    measure();
    if (tooMany() && now() - lastGcAt >= DEAD_BUFFERS_FULL_GC_INTERVAL_MS) collect();
  };

  /**
   * Under pressure, what the stalled connections could still add: each may grow to its listener's
   * maxHeldBytesPerConnection without reading a byte more of its echo.
   */
  const growthRoom = () => {
    let room = 0;
    for (const listener of listeners) {
      for (const connection of listener.openConnections()) if (connection.stalled) room += Math.max(0, listener.maxHeldBytesPerConnection - connection.heldBytes());
    }
    return room;
  };

  /**
   * Closes the stalled connections holding the most until the projection is down by `excess`: closing
   * one frees what it holds now and what it could still grow to.
   */
  const shed = (excess: number) => {
    const candidates: Array<{ connection: Sheddable; held: number; most: number }> = [];
    for (const listener of listeners) {
      for (const connection of listener.openConnections()) {
        if (connection.stalled) candidates.push({ connection, held: connection.heldBytes(), most: listener.maxHeldBytesPerConnection });
      }
    }
    if (candidates.length === 0) return;
    candidates.sort((a, b) => b.held - a.held || b.connection.openedAt - a.connection.openedAt);
    let projectedFreed = 0;
    let freed = 0;
    let closed = 0;
    for (const { connection, held, most } of candidates) {
      if (projectedFreed >= excess) break;
      projectedFreed += Math.max(held, most) + CONNECTION_OVERHEAD_BYTES;
      freed += held + CONNECTION_OVERHEAD_BYTES;
      connection.shed();
      closed++;
    }
    shedConnections += closed;
    releasing += freed;
    releasingUntil = now() + SHED_SETTLE_MS;
    logger.warn({ event: 'overload_shed', usedBytes: used, budgetBytes, closed, estimatedFreedBytes: freed, stalledLeft: candidates.length - closed }, `memory over budget: closed ${closed} stalled connections holding the most unread echo`);
  };

  /** Holds reading on connections with a backlog over HOLD_BACKLOG_BYTES; releases those that caught up (or all). */
  const shrinkBuffers = (shrink: boolean) => {
    for (const listener of listeners) {
      for (const connection of listener.openConnections()) {
        if (shrink && connection.pendingWriteBytes() > HOLD_BACKLOG_BYTES) connection.holdReading();
        else connection.releaseReading();
      }
    }
  };

  const setRefusing = (refuse: boolean) => {
    refusing = refuse;
    for (const listener of listeners) listener.refuseNewConnections(refuse);
    if (!refuse) shrinkBuffers(false);
    if (refuse) logger.warn({ event: 'overload_start', usedBytes: used, budgetBytes }, 'memory near budget: refusing new connections');
    else logger.info({ event: 'overload_end', usedBytes: used, budgetBytes, shedConnections }, 'memory back under budget: accepting connections');
  };

  const guard: MemoryGuard = {
    budgetBytes,
    get usedBytes() {
      return used;
    },
    get lastSample() {
      return last;
    },
    active: (action) => (action === 'refuse_connections' ? refusing : closing),
    get shedConnections() {
      return shedConnections;
    },
    check() {
      measure();
      const nearBudget = used >= budgetBytes * NEAR_BUDGET;
      if (nearBudget !== collectingBuffersEarly) {
        collectingBuffersEarly = nearBudget;
        garbageCollector.collectBuffersEarly(nearBudget);
      }
      if (nearBudget) collectDeadBuffers();
      // Garbage counts as used until V8 collects it: collect before deciding to refuse, and while
      // refusing, so that garbage alone neither starts shedding nor keeps it going.
      if ((refusing || used >= refuseAt) && now() - lastGcAt >= GC_INTERVAL_MS) collect();
      if (now() >= releasingUntil) releasing = 0;
      const holding = used - releasing;
      if (!refusing && holding >= refuseAt) setRefusing(true);
      else if (refusing && used < resumeBelow) setRefusing(false);
      if (refusing) shrinkBuffers(true);
      // While refusing, judge by what the stalled connections could still grow to: a crowd of them
      // fills its buffers faster than samples come, and would pass the budget between two of them.
      const projected = refusing ? holding + growthRoom() : holding;
      closing = projected >= budgetBytes;
      if (closing) {
        if (!refusing) setRefusing(true);
        shed(projected - refuseAt);
      }
    },
    start() {
      measure();
      if (used >= resumeBelow) {
        resumeBelow = Math.min(used + budgetBytes * RESUME_ABOVE_START, budgetBytes * ((RESUME_BELOW + REFUSE_AT) / 2));
        logger.warn({ event: 'memory_budget_small', usedBytes: used, budgetBytes, resumeBelowBytes: Math.round(resumeBelow) }, 'the memory budget leaves little room: the service already uses most of it');
      }
      running = true;
      const next = () => {
        if (!running) return;
        timer = setTimeout(tick, used >= budgetBytes * NEAR_BUDGET ? SAMPLE_INTERVAL_NEAR_BUDGET_MS : SAMPLE_INTERVAL_MS);
        timer.unref();
      };
      const tick = () => {
        guard.check();
        next();
      };
      next();
    },
    stop() {
      running = false;
      clearTimeout(timer);
      if (collectingBuffersEarly) {
        collectingBuffersEarly = false;
        garbageCollector.collectBuffersEarly(false);
      }
    },
  };
  return guard;
}
