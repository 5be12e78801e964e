// Numbers, sizes and durations as people write them: one syntax wherever the service or the probe takes one.

/** setTimeout's ceiling in milliseconds; larger values fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Digits only (no sign, point or exponent), from `min` to `max`. */
export const wholeNumberFrom = (min: number, max: number) => (raw: string): number | undefined => {
  if (!/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= min && n <= max ? n : undefined;
};

const BYTES = /^(\d+)(|[KMG]i?B?)$/;
/** K, M, G are powers of 1000 (as in Kubernetes), Ki, Mi, Gi of 1024; a trailing B is allowed. */
const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, K: 1e3, KB: 1e3, Ki: 1024, KiB: 1024, M: 1e6, MB: 1e6, Mi: 1024 ** 2, MiB: 1024 ** 2, G: 1e9, GB: 1e9, Gi: 1024 ** 3, GiB: 1024 ** 3 };

/** `1000`, `64Ki`, `64KiB`, `1M`, `2Gi`: whole bytes, or undefined. */
export function parseBytes(raw: string): number | undefined {
  const match = BYTES.exec(raw);
  const unit = match ? BYTE_UNITS[match[2] ?? ''] : undefined;
  const bytes = match && unit !== undefined ? Number(match[1]) * unit : NaN;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

export const BYTES_SYNTAX = 'a whole number of bytes, optionally with a unit: K, M, G (powers of 1000) or Ki, Mi, Gi (powers of 1024)';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `250ms`, `1.5s`, `5m`, `1h` in whole milliseconds, or undefined. A bare number takes `bareUnit`, and
 * without one is refused (where a bare number means something else, such as bytes).
 */
export function parseDuration(raw: string, bareUnit?: 'ms' | 's'): number | undefined {
  const match = DURATION.exec(raw);
  const unit = match ? (match[2] ?? bareUnit) : undefined;
  const ms = match && unit !== undefined ? Number(match[1]) * (DURATION_UNITS[unit] as number) : NaN;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}
