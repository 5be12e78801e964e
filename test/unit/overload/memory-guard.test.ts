// The memory guard's decisions, driven with a scripted memory reading and stand-in connections;
// test/service/faults/memory-guard.test.ts attacks the real service, test/external/container.test.ts the real image.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CONNECTION_OVERHEAD_BYTES, createMemoryGuard, DEAD_BUFFERS_FULL_GC_INTERVAL_MS, GC_INTERVAL_MS, SHED_SETTLE_MS, type GuardedListener, type Sheddable } from '../../../src/overload/memory-guard.js';
import { AUTO_BUDGET_FRACTION, cgroupMemoryLimit, cgroupSocketBytes, processMemorySampler, resolveMemoryBudget, type ReadFile } from '../../../src/overload/memory.js';

const MiB = 1024 * 1024;
const BUDGET = 100 * MiB;

interface FakeConnection extends Sheddable {
  readonly id: string;
  held: boolean;
}

function setup() {
  let used = 10 * MiB;
  let garbage = 0;
  /** Dead Buffers: those a young collection frees, and those promoted before they died (a full one only). */
  let deadYoungBuffers = 0;
  let deadOldBuffers = 0;
  let clock = 0;
  let gcs = 0;
  let youngGcs = 0;
  const buffersEarly: boolean[] = [];
  const shed: string[] = [];
  const refusals: boolean[] = [];
  const open = new Set<FakeConnection>();
  const listener: GuardedListener & { maxHeldBytesPerConnection: number } = {
    maxHeldBytesPerConnection: 0, // no growth room unless a test sets it
    refuseNewConnections: (refuse) => refusals.push(refuse),
    openConnections: () => open,
  };
  const connect = (id: string, held: number, openedAt: number, stalled = held > 0) => {
    const connection: FakeConnection = {
      id,
      openedAt,
      held: false,
      get stalled() {
        return stalled || this.held;
      },
      heldBytes: () => held,
      pendingWriteBytes: () => held,
      holdReading() {
        this.held = true;
      },
      releaseReading() {
        this.held = false;
      },
      shed() {
        open.delete(connection);
        shed.push(id);
        used -= held + CONNECTION_OVERHEAD_BYTES;
        garbage += held + CONNECTION_OVERHEAD_BYTES; // freed, but counted until collected
      },
    };
    open.add(connection);
    used += held + CONNECTION_OVERHEAD_BYTES;
    return connection;
  };
  const guard = createMemoryGuard({
    budgetBytes: BUDGET,
    listeners: [listener],
    sample: () => {
      const dead = deadYoungBuffers + deadOldBuffers;
      let held = 0;
      for (const connection of open) held += connection.heldBytes();
      return { usedBytes: used + garbage + dead, rssBytes: used + garbage + dead, bufferBytes: held + dead };
    },
    garbageCollector: {
      young: () => {
        youngGcs++;
        deadYoungBuffers = 0;
      },
      full: () => {
        gcs++;
        garbage = 0;
        deadYoungBuffers = 0;
        deadOldBuffers = 0;
      },
      collectBuffersEarly: (early) => buffersEarly.push(early),
    },
    logger: pino({ level: 'silent' }),
    now: () => clock,
  });
  return {
    guard,
    listener,
    open,
    connect,
    shed,
    refusals,
    gcs: () => gcs,
    youngGcs: () => youngGcs,
    buffersEarly,
    addDeadBuffers: (young: number, old: number) => {
      deadYoungBuffers += young;
      deadOldBuffers += old;
    },
    setUsed: (bytes: number) => (used = bytes),
    used: () => used,
    addGarbage: (bytes: number) => (garbage += bytes),
    advance: (ms: number) => (clock += ms),
  };
}

describe('memory guard', () => {
  it('does nothing below 85% of the budget', () => {
    const t = setup();
    t.setUsed(84 * MiB);
    t.guard.check();
    expect(t.refusals).toEqual([]);
    expect(t.guard.active('refuse_connections')).toBe(false);
    expect(t.gcs()).toBe(0);
  });

  it('at 85% refuses new connections, and accepts again only below 70% (hysteresis)', () => {
    const t = setup();
    t.setUsed(86 * MiB);
    t.guard.check();
    expect(t.refusals).toEqual([true]);
    expect(t.guard.active('refuse_connections')).toBe(true);
    t.setUsed(75 * MiB);
    t.advance(GC_INTERVAL_MS);
    t.guard.check();
    expect(t.refusals).toEqual([true]);
    t.setUsed(69 * MiB);
    t.guard.check();
    expect(t.refusals).toEqual([true, false]);
    expect(t.guard.active('refuse_connections')).toBe(false);
    expect(t.shed).toEqual([]);
  });

  it('where the service at rest already uses 72% of a small budget, it accepts again once back near that, not only below 70%', () => {
    const t = setup();
    t.setUsed(72 * MiB);
    t.guard.start(); // what it uses at rest: over the usual resume line
    t.guard.stop();
    t.setUsed(90 * MiB);
    t.guard.check();
    expect(t.refusals).toEqual([true]);
    t.setUsed(78 * MiB); // above start + 5% of the budget: still refusing
    t.advance(GC_INTERVAL_MS);
    t.guard.check();
    expect(t.refusals).toEqual([true]);
    t.setUsed(76 * MiB); // back within 5% of the budget of where it started
    t.advance(GC_INTERVAL_MS);
    t.guard.check();
    expect(t.refusals).toEqual([true, false]);
  });

  it('the resume line never rises past halfway to the refuse line, however much is used at rest', () => {
    const t = setup();
    t.setUsed(84 * MiB);
    t.guard.start();
    t.guard.stop();
    t.setUsed(90 * MiB);
    t.guard.check();
    t.setUsed(78 * MiB); // under 77.5% of the budget is required
    t.advance(GC_INTERVAL_MS);
    t.guard.check();
    expect(t.refusals).toEqual([true]);
    t.setUsed(77 * MiB);
    t.advance(GC_INTERVAL_MS);
    t.guard.check();
    expect(t.refusals).toEqual([true, false]);
  });

  it('while refusing, stops reading from clients with a backlog over 64 KiB, and lets them read again once they catch up or it recovers', () => {
    const t = setup();
    t.setUsed(86 * MiB);
    const small = t.connect('small backlog', 16 * 1024, 1, false);
    const big = t.connect('big backlog', 512 * 1024, 2, false);
    t.guard.check();
    expect(t.guard.active('refuse_connections')).toBe(true);
    expect([small.held, big.held]).toEqual([false, true]);
    t.setUsed(60 * MiB);
    t.advance(GC_INTERVAL_MS);
    t.guard.check();
    expect(t.guard.active('refuse_connections')).toBe(false);
    expect(big.held).toBe(false);
  });

  it('never refuses for garbage alone: above 85% it collects first', () => {
    const t = setup();
    t.setUsed(50 * MiB);
    t.addGarbage(45 * MiB);
    t.guard.check();
    expect(t.gcs()).toBe(1);
    expect(t.refusals).toEqual([]);
    expect(t.guard.usedBytes).toBe(50 * MiB);
  });

  it('while refusing, collects so that garbage alone does not keep it refusing', () => {
    const t = setup();
    t.setUsed(90 * MiB);
    t.guard.check();
    expect(t.guard.active('refuse_connections')).toBe(true);
    t.setUsed(60 * MiB);
    t.addGarbage(20 * MiB); // 80 MiB counted: under 85%, over 70%
    t.advance(GC_INTERVAL_MS);
    t.guard.check();
    expect(t.guard.active('refuse_connections')).toBe(false);
  });

  it('collects at most once per interval while above the threshold', () => {
    const t = setup();
    t.setUsed(90 * MiB);
    t.guard.check();
    t.guard.check();
    t.advance(GC_INTERVAL_MS - 1);
    t.guard.check();
    expect(t.gcs()).toBe(1);
    t.advance(1);
    t.guard.check();
    expect(t.gcs()).toBe(2);
  });

  it('from half the budget on, has V8 collect for Buffers early; back under half, or stopped, as main.ts set it', () => {
    const t = setup();
    t.setUsed(40 * MiB);
    t.guard.check();
    expect(t.buffersEarly).toEqual([]);
    t.setUsed(55 * MiB);
    t.guard.check();
    t.guard.check();
    expect(t.buffersEarly).toEqual([true]);
    t.setUsed(45 * MiB);
    t.guard.check();
    expect(t.buffersEarly).toEqual([true, false]);
    t.setUsed(60 * MiB);
    t.guard.check();
    t.guard.stop();
    expect(t.buffersEarly).toEqual([true, false, true, false]);
  });

  it('from half the budget on, collects dead Buffers past an eighth of it: a young collection where that frees them', () => {
    const t = setup();
    t.setUsed(40 * MiB);
    t.addDeadBuffers(20 * MiB, 0); // 60 MiB counted: over half, under 85%
    t.guard.check();
    expect(t.youngGcs()).toBe(1);
    expect(t.gcs()).toBe(0);
    expect(t.guard.usedBytes).toBe(40 * MiB);
    t.addDeadBuffers(12 * MiB, 0); // under an eighth: left to V8
    t.guard.check();
    expect(t.youngGcs()).toBe(1);
  });

  it('a full collection where the dead Buffers had been promoted, at most every 100 ms', () => {
    const t = setup();
    t.setUsed(40 * MiB);
    t.addDeadBuffers(0, 20 * MiB);
    t.guard.check();
    expect([t.youngGcs(), t.gcs()]).toEqual([1, 1]);
    expect(t.guard.usedBytes).toBe(40 * MiB);
    t.addDeadBuffers(0, 20 * MiB);
    t.advance(DEAD_BUFFERS_FULL_GC_INTERVAL_MS - 1);
    t.guard.check();
    expect([t.youngGcs(), t.gcs()]).toEqual([2, 1]);
    t.advance(1);
    t.guard.check();
    expect([t.youngGcs(), t.gcs()]).toEqual([3, 2]);
    expect(t.guard.usedBytes).toBe(40 * MiB);
  });

  it('Buffers that connections hold are not dead: no collection for them, nor below half the budget', () => {
    const t = setup();
    t.setUsed(20 * MiB);
    for (let i = 0; i < 10; i++) t.connect(`c${i}`, 4 * MiB, i); // 40 MiB of Buffers held: 60 MiB + overhead counted
    t.guard.check();
    expect([t.youngGcs(), t.gcs()]).toEqual([0, 0]);
    const quiet = setup();
    quiet.setUsed(20 * MiB);
    quiet.addDeadBuffers(25 * MiB, 0); // 45 MiB counted: under half
    quiet.guard.check();
    expect([quiet.youngGcs(), quiet.gcs()]).toEqual([0, 0]);
  });

  it('over the budget closes the connections holding the most, newest first among equals, only as many as needed', () => {
    const t = setup();
    t.setUsed(0);
    t.connect('quiet-old', 0, 1);
    t.connect('quiet-new', 0, 2);
    t.connect('small', 1 * MiB, 3);
    for (let i = 0; i < 10; i++) t.connect(`big-${i}`, 10 * MiB, 10 + i); // 10 x 10 MiB: ~101 MiB in all
    t.guard.check();
    // ~16 MiB over 85%: two of the big ones, the newest two.
    expect(t.shed).toEqual(['big-9', 'big-8']);
    expect(t.guard.active('close_connections')).toBe(true);
    expect(t.guard.shedConnections).toBe(2);
    // What they held is garbage until a collection: the guard deducts it meanwhile, closes nothing
    // more, and once it collects sees it freed.
    t.advance(10);
    t.guard.check();
    expect(t.shed).toHaveLength(2);
    t.advance(GC_INTERVAL_MS);
    t.guard.check();
    expect(t.guard.usedBytes).toBeLessThan(BUDGET);
    expect(t.shed).toHaveLength(2);
    expect(t.guard.active('close_connections')).toBe(false);
    expect(t.guard.active('refuse_connections')).toBe(true);
  });

  it('never closes a reading client, even one with echo in flight', () => {
    const t = setup();
    t.setUsed(101 * MiB);
    t.connect('idle reader', 0, 1);
    t.connect('reader with echo in flight', 4096, 3, false);
    t.connect('stalled', 64 * 1024, 2);
    t.guard.check(); // ~16 MiB over 85%, far more than the stalled one frees
    expect(t.shed).toEqual(['stalled']);
    t.advance(SHED_SETTLE_MS);
    t.guard.check();
    expect(t.shed).toEqual(['stalled']);
    expect(t.guard.active('refuse_connections')).toBe(true);
  });

  it('counts what it just closed as freed, even before the memory shows it', () => {
    const t = setup();
    t.setUsed(0);
    for (let i = 0; i < 10; i++) t.connect(`big-${i}`, 10 * MiB, i);
    t.guard.check();
    expect(t.shed).toEqual(['big-9', 'big-8']);
    // Not freed yet (sockets closing, V8 sweeping): the same memory must not close more.
    t.advance(10);
    t.guard.check();
    expect(t.shed).toHaveLength(2);
    // Real new growth is answered at once.
    t.setUsed(t.used() + 20 * MiB);
    t.advance(10);
    t.guard.check();
    expect(t.shed.length).toBeGreaterThan(2);
  });

  it('under pressure, counts what stalled connections could still grow to, and closes enough of them', () => {
    const t = setup();
    t.listener.maxHeldBytesPerConnection = 4 * MiB;
    t.setUsed(70 * MiB);
    for (let i = 0; i < 10; i++) t.connect(`stalled-${i}`, 1 * MiB, i); // 10 x ~1 MiB: ~80 MiB, each may grow by 3 MiB
    t.guard.check();
    expect(t.shed).toEqual([]); // under 85%: no pressure, whatever they could grow to
    t.setUsed(86 * MiB); // pressed; with their room, ~116 MiB
    t.guard.check();
    expect(t.shed).toHaveLength(8); // 31 MiB over 85%, at ~4 MiB each
    expect(t.guard.active('refuse_connections')).toBe(true);
  });

  it('among stalled connections holding the same, closes the newest first', () => {
    const t = setup();
    t.setUsed(95 * MiB);
    for (let i = 0; i < 1000; i++) t.connect(`stalled-${i}`, 64 * 1024, i); // 1000 x 72 KiB
    t.guard.check();
    expect(t.shed.length).toBeGreaterThan(0);
    expect(t.shed.every((id, i) => id === `stalled-${999 - i}`)).toBe(true);
  });
});

describe('memory readings', () => {
  const files = (entries: Record<string, string>): ReadFile => (path) => {
    const text = entries[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };

  it('counts Buffers as V8 frees them (arrayBuffers), not as external, which keeps them until the next collection', () => {
    const usage = { rss: 100 * MiB, heapUsed: 20 * MiB, external: 6 * MiB, arrayBuffers: 2 * MiB };
    const sample = processMemorySampler(files({}), () => usage);
    const atStart = sample().usedBytes; // native 74 + heap 20 + other external 4 + Buffers 2
    expect(atStart).toBe(100 * MiB);
    Object.assign(usage, { heapUsed: 22 * MiB, external: 90 * MiB, arrayBuffers: 10 * MiB }); // 80 MiB of Buffers freed, still in external
    expect(sample()).toMatchObject({ usedBytes: atStart + 2 * MiB + 8 * MiB, bufferBytes: 10 * MiB, externalBytes: 90 * MiB });
  });

  it('reads the cgroup v2 limit, then v1; "max", v1 "unlimited" and no cgroup mean none', () => {
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': '268435456\n' }))).toBe(268435456);
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' }))).toBeUndefined();
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '167772160\n' }))).toBe(167772160);
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n' }))).toBeUndefined();
    expect(cgroupMemoryLimit(files({}))).toBeUndefined();
  });

  it('reads kernel socket memory from cgroup v2 memory.stat, 0 without it', () => {
    expect(cgroupSocketBytes(files({ '/sys/fs/cgroup/memory.stat': 'anon 1000\nfile 20\nsock 4096\nshmem 0\n' }))).toBe(4096);
    expect(cgroupSocketBytes(files({}))).toBe(0);
  });

  it('budget: auto takes 60% of the cgroup limit and is off without one; bytes as given; off is off', () => {
    expect(AUTO_BUDGET_FRACTION).toBe(0.6);
    expect(resolveMemoryBudget({ kind: 'auto' }, () => 400 * MiB)).toBe(240 * MiB);
    expect(resolveMemoryBudget({ kind: 'auto' }, () => undefined)).toBeUndefined();
    expect(resolveMemoryBudget({ kind: 'bytes', bytes: 64 * MiB }, () => 400 * MiB)).toBe(64 * MiB);
    expect(resolveMemoryBudget({ kind: 'off' }, () => 400 * MiB)).toBeUndefined();
  });
});
