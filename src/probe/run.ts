// The probe's loop: `concurrency` workers, each with a channel of its own, take messages from the
// schedule, send each and time its echo. A failed message is counted by kind; a channel it left
// broken is replaced by a new one (after a pause that doubles while failures go on, so a refused
// or unreachable target is not hammered). Clock and channels are injected.
import type { Channel, ChannelFactory } from './channel.js';
import type { Clock } from './clock.js';
import { classifyError } from './errors.js';
import type { MessagePattern } from './pattern.js';
import { createSchedule, type SchedulePlan } from './schedule.js';
import type { ProbeStats } from './stats.js';

/** The pause after a failure starts here and doubles with each failure in a row, up to the maximum. */
export const RETRY_PAUSE_MS = { first: 10, max: 1000 };

export interface RunPlan extends SchedulePlan {
  /** Channels working at once. */
  readonly concurrency: number;
  /** Messages on one channel before it is closed and a new one opened; 0: no limit. */
  readonly messagesPerChannel: number;
}

export interface RunDeps {
  readonly clock: Clock;
  readonly openChannel: ChannelFactory;
  readonly pattern: MessagePattern;
  readonly stats: ProbeStats;
}

export interface ProbeRun {
  /** Resolves once every worker has finished and closed its channel. */
  readonly done: Promise<void>;
  /** Sends no more messages; those in flight finish (each within its timeout). */
  stop(): void;
  /** Milliseconds since the run started (until it finished, once it has). */
  elapsedMs(): number;
}

export function startProbeRun(plan: RunPlan, { clock, openChannel, pattern, stats }: RunDeps): ProbeRun {
  const startedAt = clock.now();
  let finishedAt: number | undefined;
  const schedule = createSchedule(plan, clock);
  const stopping = new AbortController();

  async function closeQuietly(channel: Channel): Promise<void> {
    try {
      await channel.close();
    } catch (error) {
      stats.error(classifyError(error));
    }
  }

  async function worker(slot: number): Promise<void> {
    let channel: Channel | undefined;
    let sentOnChannel = 0;
    let pauseMs = 0;
    const afterFailure = async () => {
      pauseMs = pauseMs === 0 ? RETRY_PAUSE_MS.first : Math.min(RETRY_PAUSE_MS.max, pauseMs * 2);
      await clock.sleep(pauseMs, stopping.signal);
    };
    try {
      for (let sequence = await schedule.next(); sequence !== undefined; sequence = await schedule.next()) {
        if (!channel) {
          try {
            channel = await openChannel(slot);
            sentOnChannel = 0;
            stats.connectionOpened(channel.banner);
          } catch (error) {
            stats.messageFailed(classifyError(error));
            await afterFailure();
            continue;
          }
        }
        const message = pattern.message(sequence);
        stats.messageSent(message.length);
        const sentAt = clock.now();
        try {
          await channel.exchange(message, sequence);
          stats.messageEchoed(clock.now() - sentAt, message.length);
          pauseMs = 0;
        } catch (error) {
          stats.messageFailed(classifyError(error));
          if (channel.broken) {
            channel.destroy();
            channel = undefined;
          }
          await afterFailure();
          continue;
        }
        if (++sentOnChannel === plan.messagesPerChannel) {
          await closeQuietly(channel);
          channel = undefined;
        }
      }
    } finally {
      if (channel) await closeQuietly(channel);
    }
  }

  const done = Promise.all(Array.from({ length: plan.concurrency }, (_, slot) => worker(slot))).then(() => {
    finishedAt = clock.now();
  });
  return {
    done,
    stop() {
      schedule.stop();
      stopping.abort();
    },
    elapsedMs: () => (finishedAt ?? clock.now()) - startedAt,
  };
}
