// The probe's loop with an injected clock and channels: count, duration and rate, concurrency,
// failures counted by kind with a growing pause, broken channels replaced, channels closed after
// N messages and at the end, stop(). Real sockets: stream-channel.test.ts, udp.test.ts.
import { describe, expect, it } from 'vitest';
import type { Channel, ChannelFactory } from '../../../src/probe/channel.js';
import type { Clock } from '../../../src/probe/clock.js';
import { ProbeFailure } from '../../../src/probe/errors.js';
import { createMessagePattern } from '../../../src/probe/pattern.js';
import { RETRY_PAUSE_MS, startProbeRun, type RunPlan } from '../../../src/probe/run.js';
import { createProbeStats } from '../../../src/probe/stats.js';

/** Time moves only when the code under test sleeps or a fake channel takes its round trip. */
function fakeClock(): Clock & { advance(ms: number): void; sleeps: number[] } {
  let time = 1000;
  const sleeps: number[] = [];
  return {
    now: () => time,
    async sleep(ms, signal) {
      sleeps.push(ms);
      if (!signal.aborted) time += ms;
    },
    advance(ms) {
      time += ms;
    },
    sleeps,
  };
}

interface Exchange {
  slot: number;
  sequence: number;
  message: Buffer;
  at: number;
}

interface FakeChannelsOptions {
  clock: ReturnType<typeof fakeClock>;
  rttMs?: number;
  /** A failure for the open of channel number `opened` (counting from 0), or undefined to open it. */
  failOpen?: (opened: number) => ProbeFailure | undefined;
  /** A failure for message `sequence`, or undefined to echo it; `breaks` leaves the channel broken. */
  failExchange?: (sequence: number) => { failure: ProbeFailure; breaks: boolean } | undefined;
  failClose?: boolean;
}

function fakeChannels({ clock, rttMs = 2, failOpen = () => undefined, failExchange = () => undefined, failClose = false }: FakeChannelsOptions) {
  const log = { opened: [] as number[], exchanges: [] as Exchange[], closed: 0, destroyed: 0 };
  let opens = 0;
  const open: ChannelFactory = async (slot) => {
    const failure = failOpen(opens++);
    if (failure) throw failure;
    log.opened.push(slot);
    let broken = false;
    const channel: Channel = {
      banner: `slot ${slot}`,
      get broken() {
        return broken;
      },
      async exchange(message, sequence) {
        log.exchanges.push({ slot, sequence, message, at: clock.now() });
        await new Promise((resolve) => setImmediate(resolve)); // as a socket would: the echo comes in a later turn of the loop
        clock.advance(rttMs);
        const outcome = failExchange(sequence);
        if (outcome) {
          broken = outcome.breaks;
          throw outcome.failure;
        }
      },
      async close() {
        log.closed++;
        if (failClose) throw new ProbeFailure('reset', 'read ECONNRESET');
      },
      destroy() {
        log.destroyed++;
      },
    };
    return channel;
  };
  return { open, log };
}

const plan = (overrides: Partial<RunPlan>): RunPlan => ({ count: 10, durationMs: undefined, ratePerSecond: 0, concurrency: 1, messagesPerChannel: 0, ...overrides });

function start(overrides: Partial<RunPlan>, channels: Omit<FakeChannelsOptions, 'clock'> = {}, size = 16) {
  const clock = fakeClock();
  const { open, log } = fakeChannels({ clock, ...channels });
  const stats = createProbeStats();
  const pattern = createMessagePattern(size);
  const run = startProbeRun(plan(overrides), { clock, openChannel: open, pattern, stats });
  return { clock, log, stats, pattern, run };
}

describe('startProbeRun', () => {
  it('sends each message of the count once, over `concurrency` channels, timing each echo, and closes them all', async () => {
    const { log, stats, pattern, run } = start({ count: 10, concurrency: 3 }, { rttMs: 2 });
    await run.done;
    expect(log.exchanges.map((e) => e.sequence).sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    for (const { sequence, message } of log.exchanges) expect(message.equals(pattern.message(sequence))).toBe(true);
    expect(new Set(log.exchanges.map((e) => e.slot))).toEqual(new Set([0, 1, 2]));
    expect(log.opened.sort()).toEqual([0, 1, 2]);
    expect(log.closed).toBe(3);
    expect(stats).toMatchObject({ messagesOk: 10, messagesFailed: 0, bytesSent: 160, bytesVerified: 160, connectionsOpened: 3, errorTotal: 0 });
    expect(stats.rtt.summary()).toMatchObject({ count: 10, min: 2 }); // more where the workers' round trips overlap on the one clock
    expect([...stats.banners.keys()].sort()).toEqual(['slot 0', 'slot 1', 'slot 2']);
  });

  it('a duration: messages until it is over, none after', async () => {
    const { log, stats, run } = start({ count: undefined, durationMs: 100 }, { rttMs: 10 });
    await run.done;
    expect(stats.messagesOk).toBe(10);
    expect(log.exchanges.at(-1)?.at).toBe(1090);
    expect(run.elapsedMs()).toBe(100);
  });

  it('a rate: each message at its slot, start + sequence / rate', async () => {
    const { log, run } = start({ count: 5, ratePerSecond: 100 }, { rttMs: 1 });
    await run.done;
    expect(log.exchanges.map((e) => e.at)).toEqual([1000, 1010, 1020, 1030, 1040]);
  });

  it('a refused target: every message fails as refused, with a pause that doubles up to its maximum', async () => {
    const { clock, log, stats, run } = start({ count: 10 }, { failOpen: () => new ProbeFailure('refused', 'connect ECONNREFUSED 127.0.0.1:9') });
    await run.done;
    expect(log.opened).toEqual([]);
    expect(stats).toMatchObject({ messagesOk: 0, messagesFailed: 10, errorTotal: 10, connectionsOpened: 0 });
    expect(stats.errors.refused).toBe(10);
    expect(stats.examples.refused).toBe('connect ECONNREFUSED 127.0.0.1:9');
    expect(clock.sleeps).toEqual([10, 20, 40, 80, 160, 320, 640, RETRY_PAUSE_MS.max, RETRY_PAUSE_MS.max, RETRY_PAUSE_MS.max]);
  });

  it('a failure that breaks the channel: destroyed, a new one for the next message; the pause starts over after a success', async () => {
    const { clock, log, stats, run } = start({ count: 6 }, { failExchange: (sequence) => (sequence === 1 || sequence === 4 ? { failure: new ProbeFailure('mismatch', 'differs'), breaks: true } : undefined) });
    await run.done;
    expect(log.opened).toHaveLength(3);
    expect(log.destroyed).toBe(2);
    expect(log.closed).toBe(1);
    expect(stats).toMatchObject({ messagesOk: 4, messagesFailed: 2, connectionsOpened: 3 });
    expect(stats.errors.mismatch).toBe(2);
    expect(clock.sleeps).toEqual([RETRY_PAUSE_MS.first, RETRY_PAUSE_MS.first]);
  });

  it('a failure that leaves the channel usable (a lost datagram): the channel stays', async () => {
    const { log, stats, run } = start({ count: 4 }, { failExchange: (sequence) => (sequence === 1 ? { failure: new ProbeFailure('timeout', 'no echo'), breaks: false } : undefined) });
    await run.done;
    expect(log.opened).toHaveLength(1);
    expect(stats).toMatchObject({ messagesOk: 3, messagesFailed: 1 });
    expect(stats.errors.timeout).toBe(1);
  });

  it('--messages-per-connection: a new channel after every N messages; an error on close counts, but not as a message', async () => {
    const { log, stats, run } = start({ count: 5, messagesPerChannel: 2 }, { failClose: true });
    await run.done;
    expect(log.opened).toHaveLength(3);
    expect(log.closed).toBe(3);
    expect(stats).toMatchObject({ messagesOk: 5, messagesFailed: 0, errorTotal: 3 });
    expect(stats.errors.reset).toBe(3);
  });

  it('stop(): no message after it, the channels closed, done resolves', async () => {
    const { log, stats, run } = start({ count: undefined, durationMs: 3_600_000, concurrency: 2 }, { rttMs: 1 });
    while (stats.messagesOk < 20) await new Promise((resolve) => setImmediate(resolve));
    run.stop();
    await run.done;
    const sent = log.exchanges.length;
    expect(sent).toBeLessThan(30);
    expect(stats.messagesOk + stats.messagesFailed).toBe(sent);
    expect(log.closed).toBe(2);
  });
});
