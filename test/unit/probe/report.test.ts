// The run's tallies, the verdict (mismatch, error budget as a count or a fraction) and the report
// made from them: the JSON object's shape and the text. The built command's output:
// test/service/probe.test.ts.
import { describe, expect, it } from 'vitest';
import { parseProbeArgs, type ProbeOptions } from '../../../src/probe/args.js';
import { ERROR_KINDS, ProbeFailure } from '../../../src/probe/errors.js';
import { buildReport, formatText, progressLine } from '../../../src/probe/report.js';
import { BANNERS_KEPT, createProbeStats, MISMATCHES_KEPT } from '../../../src/probe/stats.js';
import { EXIT_FAILED, EXIT_PASSED, judge } from '../../../src/probe/verdict.js';

function options(...argv: string[]): ProbeOptions {
  const outcome = parseProbeArgs(['tcp://127.0.0.1:7000', ...argv]);
  if (outcome.kind !== 'run') throw new Error('help');
  return outcome.options;
}

const mismatchAt = (message: number) => new ProbeFailure('mismatch', `message ${message} differs`, { connection: 0, message, offset: 3, expected: 0x41, actual: 0x42, received: 'B..' });

describe('judge', () => {
  it.each([
    [{ mismatches: 0, errors: 0, attempted: 10, budget: { kind: 'count', max: 0 } }, true],
    [{ mismatches: 0, errors: 2, attempted: 10, budget: { kind: 'count', max: 2 } }, true],
    [{ mismatches: 0, errors: 3, attempted: 10, budget: { kind: 'count', max: 2 } }, false],
    [{ mismatches: 0, errors: 1, attempted: 100, budget: { kind: 'fraction', max: 0.01 } }, true],
    [{ mismatches: 0, errors: 2, attempted: 100, budget: { kind: 'fraction', max: 0.01 } }, false],
    [{ mismatches: 0, errors: 1, attempted: 10, budget: { kind: 'fraction', max: 0 } }, false],
    [{ mismatches: 1, errors: 1, attempted: 100, budget: { kind: 'count', max: 10 } }, false],
    [{ mismatches: 0, errors: 0, attempted: 0, budget: { kind: 'count', max: 0 } }, false],
  ] as const)('%j passes: %s', (input, passed) => {
    const verdict = judge(input);
    expect(verdict.passed).toBe(passed);
    expect(verdict.exitCode).toBe(passed ? EXIT_PASSED : EXIT_FAILED);
    expect(verdict.reasons.length === 0).toBe(passed);
  });

  it('a mismatch fails the run whatever the budget, and says so', () => {
    expect(judge({ mismatches: 2, errors: 2, attempted: 100, budget: { kind: 'fraction', max: 1 } }).reasons).toEqual(['2 echoes did not match what was sent']);
  });
});

describe('stats and report', () => {
  it('counts messages, bytes, errors by kind with their first example, and keeps the first mismatches and banners', () => {
    const stats = createProbeStats();
    for (let i = 0; i < 4; i++) {
      stats.messageSent(64);
      stats.messageEchoed(1 + i, 64);
    }
    stats.messageFailed(new ProbeFailure('refused', 'connect ECONNREFUSED 127.0.0.1:7000'));
    stats.messageFailed(new ProbeFailure('refused', 'another'));
    for (let i = 0; i < MISMATCHES_KEPT + 3; i++) stats.messageFailed(mismatchAt(i));
    stats.error(new ProbeFailure('reset', 'read ECONNRESET'));
    for (let i = 0; i < BANNERS_KEPT + 5; i++) stats.connectionOpened(`replica ${i % (BANNERS_KEPT + 2)}`);
    stats.connectionOpened(undefined);
    stats.strayReply();

    const report = buildReport(options('--max-errors', '50%', '--banner-lines', '1'), stats, 2000, false);
    expect(report).toMatchObject({
      target: 'tcp://127.0.0.1:7000',
      result: 'fail',
      exitCode: EXIT_FAILED,
      interrupted: false,
      elapsedMs: 2000,
      messages: { attempted: 4 + 2 + MISMATCHES_KEPT + 3, echoed: 4, failed: 2 + MISMATCHES_KEPT + 3 },
      bytes: { sent: 256, verified: 256 },
      connections: { opened: BANNERS_KEPT + 6 },
      throughput: { messagesPerSecond: 2, bytesPerSecond: 128 },
      rttMs: { count: 4, min: 1, max: 4, mean: 2.5, p50: 2.007, p90: 4, p99: 4 }, // p50: the upper end of 2 ms's bucket (8 µs wide)
      errors: { total: 2 + MISMATCHES_KEPT + 3 + 1, examples: { refused: 'connect ECONNREFUSED 127.0.0.1:7000', mismatch: 'message 0 differs', reset: 'read ECONNRESET' } },
      strayReplies: 1,
      settings: { maxErrors: '50% of the messages', bannerLines: 1, proxy: null, count: 100, durationMs: null },
    });
    expect(Object.keys(report.errors.byKind)).toEqual([...ERROR_KINDS]);
    expect(report.errors.byKind).toMatchObject({ refused: 2, mismatch: MISMATCHES_KEPT + 3, reset: 1, timeout: 0 });
    expect(report.mismatches.map((m) => m.message)).toEqual(Array.from({ length: MISMATCHES_KEPT }, (_, i) => i));
    expect(report.banners).toHaveLength(BANNERS_KEPT);
    expect(report.banners[0]).toEqual({ text: 'replica 0', connections: 2 });
    expect(report.reasons[0]).toMatch(/did not match/);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report); // plain data, JSON as it is
  });

  it('the text report: verdict first, percentiles, banners, errors with examples, mismatches, reasons', () => {
    const stats = createProbeStats();
    stats.connectionOpened('10.1.2.3:5555');
    stats.messageSent(64);
    stats.messageEchoed(0.25, 64);
    stats.messageFailed(mismatchAt(1));
    const text = formatText(buildReport(options('--proxy', 'v2'), stats, 1000, true));
    const lines = text.split('\n');
    expect(lines[0]).toBe('tcp-echo probe tcp://127.0.0.1:7000: FAIL (interrupted)');
    expect(text).toContain('2 attempted, 1 echoed byte-exact, 1 failed (64 bytes each, concurrency 1, PROXY v2)');
    expect(text).toContain('p50 0.250 ms  p90 0.250 ms  p99 0.250 ms  max 0.250 ms');
    expect(text).toContain('banner       "10.1.2.3:5555" (1 connection)');
    expect(text).toContain('errors       1 (budget 0): mismatch 1');
    expect(text).toContain('connection 0, message 1, offset 3: sent 0x41, got 0x42 ("B..")');
    expect(text).toContain('FAIL: 1 echo did not match what was sent');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('a clean run: PASS, errors none', () => {
    const stats = createProbeStats();
    stats.connectionOpened(undefined);
    stats.messageSent(64);
    stats.messageEchoed(0.5, 64);
    const report = buildReport(options(), stats, 10, false);
    expect(report).toMatchObject({ result: 'pass', exitCode: EXIT_PASSED, reasons: [] });
    expect(formatText(report)).toMatch(/: PASS\n[\s\S]*errors {7}none \(budget 0\)\n$/);
  });

  it('the progress line: elapsed, counts, rate, p50 and p99 once there are round trips', () => {
    const stats = createProbeStats();
    expect(progressLine('tcp://h:1', stats, 1000)).toBe('probe tcp://h:1: 1 s, 0 echoed, 0 failed, 0 errors, 0 messages/s');
    stats.messageEchoed(2, 10);
    expect(progressLine('tcp://h:1', stats, 2000)).toBe('probe tcp://h:1: 2 s, 1 echoed, 0 failed, 0 errors, 0.5 messages/s, p50 2.000 ms, p99 2.000 ms');
  });
});
