import type { Logger } from 'pino';
import type { ListenerGroup } from './group.js';

export type DrainOutcome = 'drained' | 'deadline';

/**
 * Stops accepting, lets every open connection finish (client half-close, or quiet for
 * `quietMs`), and closes whatever is still open at `deadline` (a `now()` timestamp).
 */
export async function drainListeners(
  listeners: ListenerGroup,
  { quietMs, deadline, now, logger }: { quietMs: number; deadline: number; now: () => number; logger: Logger },
): Promise<DrainOutcome> {
  listeners.stopAccepting();
  listeners.drain(quietMs);
  let deadlineTimer: NodeJS.Timeout | undefined;
  const deadlinePassed = new Promise<'deadline'>((resolve) => {
    deadlineTimer = setTimeout(() => resolve('deadline'), Math.max(0, deadline - now()));
  });
  const outcome = await Promise.race([listeners.idle().then(() => 'drained' as const), deadlinePassed]);
  clearTimeout(deadlineTimer);
  if (outcome === 'deadline') {
    logger.warn({ event: 'shutdown_deadline', openConnections: listeners.activeConnections }, 'shutdown deadline reached; closing remaining connections');
    listeners.closeAll();
    await listeners.idle();
  }
  return outcome;
}
