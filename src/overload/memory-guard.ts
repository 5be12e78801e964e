// The process-wide memory guard: no mix of clients may push the service past its memory budget
// (and the pod into the OOM killer, which would drop every connection). It samples memory on a
// timer, never on the echo path, and sheds load in a fixed order:
//   1. at REFUSE_AT of the budget: refuse new connections (rejected{reason="overload"}), readiness 503;
//   2. at the budget: close the stalled connections (clients not reading their echo) holding the most
//      (closed{reason="overload"}), newest first among equals, until the estimate is back under
//      REFUSE_AT. A connection whose client reads holds next to nothing and is never closed: with new
//      connections refused, their number cannot grow;
//   3. below RESUME_BELOW: accept again, readiness 200.
// A paused connection's buffered echo cannot be shrunk without losing bytes, so closing is the only
// way to take memory back from a client that does not read.
import type { Logger } from 'pino';
import type { MemorySample, MemorySampler } from './memory.js';

export const REFUSE_AT = 0.85;
export const RESUME_BELOW = 0.7;
/** What an open connection costs besides its buffers (socket, handles, V8 objects), as measured here. */
export const CONNECTION_OVERHEAD_BYTES = 8 * 1024;
export const DEFAULT_INTERVAL_MS = 100;
/** While above REFUSE_AT or refusing, a full GC at most this often, so garbage alone never keeps the service refusing. */
export const GC_INTERVAL_MS = 1000;
/**
 * After closing connections, how long before closing more: their buffers are freed once their sockets
 * have closed and V8 has swept them (concurrently, after the collection), so until then the memory
 * they held still counts as used and would make the guard close more than it needs to.
 */
export const SHED_SETTLE_MS = 300;

/** An open connection as the guard sees it. */
export interface Sheddable {
  /** Bytes the service holds for this connection: echo waiting for the client, and input not yet echoed. */
  heldBytes(): number;
  /** Reading is paused because the client does not read its echo. */
  readonly stalled: boolean;
  readonly openedAt: number;
  /** Close at once, counted as `overload`. */
  shed(): void;
}

export interface GuardedListener {
  /** While true, new connections are refused at accept and counted as `overload`. */
  refuseNewConnections(refuse: boolean): void;
  openConnections(): Iterable<Sheddable>;
}

export interface MemoryGuardOptions {
  readonly budgetBytes: number;
  readonly listeners: readonly GuardedListener[];
  readonly sample: MemorySampler;
  readonly collectGarbage: () => void;
  readonly logger: Logger;
  readonly now: () => number;
  readonly intervalMs?: number;
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
  const { budgetBytes, listeners, sample, collectGarbage, logger, now } = options;
  const refuseAt = budgetBytes * REFUSE_AT;
  const resumeBelow = budgetBytes * RESUME_BELOW;
  let last: MemorySample = { usedBytes: 0, rssBytes: 0 };
  let used = 0;
  let refusing = false;
  let closing = false;
  let shedConnections = 0;
  let lastGcAt = -Infinity;
  let lastShedAt = -Infinity;
  let timer: NodeJS.Timeout | undefined;

  const measure = () => {
    last = sample();
    used = last.usedBytes;
  };

  const collect = () => {
    collectGarbage();
    lastGcAt = now();
    measure();
  };

  /** Closes the stalled connections holding the most until about `excess` bytes are freed. */
  const shed = (excess: number) => {
    const candidates: Array<{ connection: Sheddable; held: number }> = [];
    for (const listener of listeners) {
      for (const connection of listener.openConnections()) if (connection.stalled) candidates.push({ connection, held: connection.heldBytes() });
    }
    if (candidates.length === 0) return;
    candidates.sort((a, b) => b.held - a.held || b.connection.openedAt - a.connection.openedAt);
    let freed = 0;
    let closed = 0;
    for (const { connection, held } of candidates) {
      if (freed >= excess) break;
      freed += held + CONNECTION_OVERHEAD_BYTES;
      connection.shed();
      closed++;
    }
    shedConnections += closed;
    lastShedAt = now();
    logger.warn({ event: 'overload_shed', usedBytes: used, budgetBytes, closed, estimatedFreedBytes: freed, stalledLeft: candidates.length - closed }, `memory over budget: closed ${closed} stalled connections holding the most unread echo`);
  };

  const setRefusing = (refuse: boolean) => {
    refusing = refuse;
    for (const listener of listeners) listener.refuseNewConnections(refuse);
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
      // Garbage counts as used until V8 collects it: never refuse for garbage alone, and never close
      // a connection before collecting (what the last closes freed shows only after a collection).
      // While refusing, collect too: garbage alone must not hold the service above RESUME_BELOW.
      if (((refusing || used >= refuseAt) && now() - lastGcAt >= GC_INTERVAL_MS) || used >= budgetBytes) collect();
      closing = used >= budgetBytes;
      if (closing && now() - lastShedAt >= SHED_SETTLE_MS) shed(used - refuseAt);
      // Having had to close connections, keep refusing until well under the budget again.
      if (!refusing && (closing || used >= refuseAt)) setRefusing(true);
      else if (refusing && used < resumeBelow) setRefusing(false);
    },
    start() {
      measure();
      if (used >= resumeBelow) {
        logger.warn({ event: 'memory_budget_small', usedBytes: used, budgetBytes }, 'the memory budget leaves little room: the service already uses most of it');
      }
      timer = setInterval(() => guard.check(), options.intervalMs ?? DEFAULT_INTERVAL_MS);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
  return guard;
}
