import type { Logger } from 'pino';
import type { EchoGroup } from './build.js';

export type DrainOutcome = 'drained' | 'deadline';

/**
 * Stops accepting, lets every open connection finish (client half-close, or quiet for
 * `quietMs`), and closes whatever is still open at `deadline` (a `now()` timestamp).
 */
export async function drainEcho(
  echo: EchoGroup,
  { quietMs, deadline, now, logger }: { quietMs: number; deadline: number; now: () => number; logger: Logger },
): Promise<DrainOutcome> {
  echo.stopAccepting();
  echo.drain(quietMs);
  let deadlineTimer: NodeJS.Timeout | undefined;
  const deadlinePassed = new Promise<'deadline'>((resolve) => {
    deadlineTimer = setTimeout(() => resolve('deadline'), Math.max(0, deadline - now()));
  });
  const outcome = await Promise.race([echo.idle().then(() => 'drained' as const), deadlinePassed]);
  clearTimeout(deadlineTimer);
  if (outcome === 'deadline') {
    logger.warn({ event: 'shutdown_deadline', openConnections: echo.activeConnections }, 'shutdown deadline reached; closing remaining connections');
    echo.closeAll();
    await echo.idle();
  }
  return outcome;
}
