// The memory guard's gauges; read at scrape time like every other echo metric.
import { Gauge, type Registry } from 'prom-client';
import { OVERLOAD_ACTIONS, type MemoryGuard } from './memory-guard.js';
import type { MemorySampler } from './memory.js';

/** With the guard off the budget reads 0 and the used bytes are sampled at scrape time. */
export function registerMemoryGuardMetrics(registry: Registry, guard: MemoryGuard | undefined, sample: MemorySampler): void {
  const registers = [registry];
  new Gauge({
    name: 'echo_memory_budget_bytes',
    help: 'The memory guard budget (0 = guard off).',
    registers,
    collect() {
      this.set(guard?.budgetBytes ?? 0);
    },
  });
  new Gauge({
    name: 'echo_memory_used_bytes',
    help: 'Memory the guard counts against its budget: V8 heap, buffers, the native rest of the process, kernel socket buffers where the cgroup reports them.',
    registers,
    collect() {
      this.set(guard ? guard.usedBytes : sample().usedBytes);
    },
  });
  new Gauge({
    name: 'echo_overload_active',
    help: 'Memory guard actions in force (1) or not (0): refuse_connections above 85% of the budget, close_connections above it.',
    labelNames: ['action'],
    registers,
    collect() {
      for (const action of OVERLOAD_ACTIONS) this.set({ action }, guard?.active(action) ? 1 : 0);
    },
  });
}
