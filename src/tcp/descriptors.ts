// The process's file-descriptor limit, and how many of its descriptors echo connections may use.
import { readdirSync, readFileSync } from 'node:fs';

export interface DescriptorSource {
  /** The soft RLIMIT_NOFILE, or undefined where it cannot be read. */
  limit(): number | undefined;
  /** Descriptors open now, or undefined where they cannot be counted. */
  inUse(): number | undefined;
}

/** Linux: /proc/self/limits and /proc/self/fd. Read once, at listen(); never on the accept path. */
export const procDescriptors: DescriptorSource = {
  limit() {
    try {
      const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
      return match && match[1] !== 'unlimited' ? Number(match[1]) : undefined;
    } catch {
      return undefined;
    }
  },
  inUse() {
    try {
      return readdirSync('/proc/self/fd').length;
    } catch {
      return undefined;
    }
  },
};

/**
 * Descriptors kept back from echo connections: for the sidecar's probes and scrapes, logging and
 * the runtime. With this headroom, running out of descriptors refuses echo clients (counted) instead
 * of starving the probes.
 */
export function descriptorHeadroom(limit: number): number {
  return Math.min(256, Math.max(16, Math.ceil(limit / 10)));
}

/** What the descriptor limit leaves for echo connections, read once at listen(). */
export interface DescriptorBudget {
  readonly fdLimit: number;
  readonly fdsInUse: number;
  /** Connections this listener can hold before the headroom is touched (at least 1). */
  readonly connections: number;
}

/**
 * On EMFILE libuv accepts and closes pending connections itself and tells Node nothing, so a full
 * descriptor table would go unseen. A listener stops short of it instead: at this many connections
 * Node refuses new ones ('drop'), which is counted and logged. Undefined where the limit or the
 * descriptors in use cannot be read.
 */
export function descriptorBudget(descriptors: DescriptorSource): DescriptorBudget | undefined {
  const fdLimit = descriptors.limit();
  const fdsInUse = descriptors.inUse();
  if (fdLimit === undefined || fdsInUse === undefined) return undefined;
  return { fdLimit, fdsInUse, connections: Math.max(1, fdLimit - fdsInUse - descriptorHeadroom(fdLimit)) };
}
