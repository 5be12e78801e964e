// Sizes and durations (src/config/units.ts): the one syntax the memory budget, listener options and
// the probe share.
import { describe, expect, it } from 'vitest';
import { parseBytes, parseDuration } from '../../../src/config/units.js';
import { parseConfig } from '../../../src/config/parse.js';
import { parseProbeArgs } from '../../../src/probe/args.js';

describe('parseBytes', () => {
  it.each([
    ['0', 0],
    ['1000', 1000],
    ['64K', 64_000],
    ['64KB', 64_000],
    ['64Ki', 65_536],
    ['64KiB', 65_536],
    ['1M', 1_000_000],
    ['384Mi', 384 * 1024 ** 2],
    ['2G', 2e9],
    ['2GiB', 2 * 1024 ** 3],
  ])('%s = %i bytes', (raw, bytes) => {
    expect(parseBytes(raw)).toBe(bytes);
  });

  it.each(['', 'K', '1.5Ki', '-1', '1k', '1kib', '1 Ki', '1Ti', '1B', '0x10', '9999999999999999999'])('refuses %j', (raw) => {
    expect(parseBytes(raw)).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it.each([
    ['250ms', undefined, 250],
    ['1.5s', undefined, 1500],
    ['5m', undefined, 300_000],
    ['1h', undefined, 3_600_000],
    ['0.4ms', undefined, 0],
    ['30', 's', 30_000],
    ['30', 'ms', 30],
  ] as const)('%s (bare unit %s) = %i ms', (raw, bareUnit, ms) => {
    expect(parseDuration(raw, bareUnit)).toBe(ms);
  });

  it.each(['30', '', 's', '1d', '-1s', '1 s', '1.s', 'fast'])('refuses %j without a bare unit', (raw) => {
    expect(parseDuration(raw)).toBeUndefined();
  });
});

describe('the same syntax wherever a size is taken', () => {
  const sizes = ['40000000', '40M', '40MB', '64Mi', '64MiB', '1G', '1Gi'];

  it.each(sizes)('ECHO_MEMORY_BUDGET=%s', (raw) => {
    const outcome = parseConfig([], { ECHO_MEMORY_BUDGET: raw });
    expect(outcome.kind === 'run' && outcome.config.memoryBudget).toEqual({ kind: 'bytes', bytes: parseBytes(raw) });
  });

  it.each(sizes)('a listener option: reset_after=%s', (raw) => {
    const outcome = parseConfig([], { ECHO_LISTENERS: `tcp://127.0.0.1:0?reset_after=${raw}` });
    expect(outcome.kind === 'run' && outcome.config.listeners[0]?.behaviour).toMatchObject({ resetAfter: { afterBytes: parseBytes(raw) } });
  });

  it.each(['1200', '1Ki', '1KiB', '4M', '4Mi'])('the probe: --size %s', (raw) => {
    const outcome = parseProbeArgs(['tcp://127.0.0.1:7000', '--size', raw]);
    expect(outcome.kind === 'run' && outcome.options.size).toBe(parseBytes(raw));
  });
});
