import type { Logger } from 'pino';

/**
 * Accept trouble comes in bursts (a full descriptor table fails every attempt): one warning when a
 * burst starts, one info line with the totals when accepting works again.
 */
export interface AcceptTrouble {
  /** A refusal or error: warns if it starts a burst, and returns the burst's counts to add to. */
  starts(what: Record<string, unknown>, message: string): { refused: number; errors: number };
  /** A refusal that needs no warning of its own (the configured limit), counted if a burst is on. */
  refusedDuringBurst(): void;
  /** A connection was accepted: ends a burst with one line. */
  accepted(activeConnections: number): void;
}

export function createAcceptTrouble(logger: Logger, activeConnections: () => number): AcceptTrouble {
  let burst: { refused: number; errors: number } | undefined;
  return {
    starts(what, message) {
      if (burst) return burst;
      burst = { refused: 0, errors: 0 };
      logger.warn({ event: 'accept_trouble', activeConnections: activeConnections(), ...what }, message);
      return burst;
    },
    refusedDuringBurst() {
      if (burst) burst.refused++;
    },
    accepted(active) {
      if (!burst) return;
      logger.info({ event: 'accept_recovered', ...burst, activeConnections: active }, 'accepting connections again');
      burst = undefined;
    },
  };
}
