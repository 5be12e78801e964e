// What a run reports: one object (printed as JSON with --json), the text report made from it, and
// the progress line shown while it runs.
import type { ProbeOptions } from './args.js';
import { ERROR_KINDS, type ErrorKind, type Mismatch } from './errors.js';
import type { LatencySummary } from './histogram.js';
import type { ProbeStats } from './stats.js';
import { describeBudget, judge, type Verdict } from './verdict.js';

export interface ProbeReport {
  readonly target: string;
  readonly result: 'pass' | 'fail';
  readonly exitCode: number;
  readonly reasons: readonly string[];
  /** Stopped by SIGINT or SIGTERM before its count or duration was done. */
  readonly interrupted: boolean;
  readonly elapsedMs: number;
  readonly settings: {
    readonly transport: string;
    readonly size: number;
    readonly count: number | null;
    readonly durationMs: number | null;
    readonly ratePerSecond: number;
    readonly concurrency: number;
    readonly messagesPerConnection: number;
    readonly timeoutMs: number;
    readonly proxy: string | null;
    readonly bannerLines: number;
    readonly maxErrors: string;
  };
  readonly messages: { readonly attempted: number; readonly echoed: number; readonly failed: number };
  readonly bytes: { readonly sent: number; readonly verified: number };
  readonly connections: { readonly opened: number };
  readonly throughput: { readonly messagesPerSecond: number; readonly bytesPerSecond: number };
  /** Round-trip times of the echoed messages, milliseconds (null when none was echoed). */
  readonly rttMs: { readonly [K in keyof LatencySummary]: K extends 'count' ? number : number | null };
  readonly errors: { readonly total: number; readonly byKind: Readonly<Record<ErrorKind, number>>; readonly examples: Readonly<Partial<Record<ErrorKind, string>>> };
  /** The first mismatches in detail (all are counted in errors.byKind.mismatch). */
  readonly mismatches: readonly Mismatch[];
  /** Distinct banners and the connections that showed each (with --banner-lines). */
  readonly banners: ReadonlyArray<{ readonly text: string; readonly connections: number }>;
  /** UDP: replies to datagrams already answered or given up on. */
  readonly strayReplies: number;
}

const perSecond = (amount: number, elapsedMs: number) => (elapsedMs > 0 ? Math.round((amount * 1000 * 100) / elapsedMs) / 100 : 0);
const rounded = (ms: number | undefined) => (ms === undefined ? null : Math.round(ms * 1000) / 1000);

export function buildReport(options: ProbeOptions, stats: ProbeStats, elapsedMs: number, interrupted: boolean): ProbeReport {
  const attempted = stats.messagesOk + stats.messagesFailed;
  const verdict: Verdict = judge({ mismatches: stats.errors.mismatch, errors: stats.errorTotal, attempted, budget: options.errorBudget });
  const rtt = stats.rtt.summary();
  return {
    target: options.target.text,
    result: verdict.passed ? 'pass' : 'fail',
    exitCode: verdict.exitCode,
    reasons: verdict.reasons,
    interrupted,
    elapsedMs: Math.round(elapsedMs * 1000) / 1000,
    settings: {
      transport: options.target.transport,
      size: options.size,
      count: options.count ?? null,
      durationMs: options.durationMs ?? null,
      ratePerSecond: options.ratePerSecond,
      concurrency: options.concurrency,
      messagesPerConnection: options.messagesPerConnection,
      timeoutMs: options.timeoutMs,
      proxy: options.proxy ? `v${options.proxy.version}` : null,
      bannerLines: options.bannerLines,
      maxErrors: describeBudget(options.errorBudget),
    },
    messages: { attempted, echoed: stats.messagesOk, failed: stats.messagesFailed },
    bytes: { sent: stats.bytesSent, verified: stats.bytesVerified },
    connections: { opened: stats.connectionsOpened },
    throughput: { messagesPerSecond: perSecond(stats.messagesOk, elapsedMs), bytesPerSecond: perSecond(stats.bytesVerified, elapsedMs) },
    rttMs: { count: rtt.count, min: rounded(rtt.min), mean: rounded(rtt.mean), p50: rounded(rtt.p50), p90: rounded(rtt.p90), p99: rounded(rtt.p99), max: rounded(rtt.max) },
    errors: { total: stats.errorTotal, byKind: { ...stats.errors }, examples: { ...stats.examples } },
    mismatches: [...stats.mismatches],
    banners: [...stats.banners].map(([text, connections]) => ({ text, connections })),
    strayReplies: stats.strayReplies,
  };
}

const ms = (value: number | null) => (value === null ? '-' : `${value.toFixed(3)} ms`);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function humanBytes(perSecond: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = perSecond;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function describeMismatchLine({ connection, message, offset, expected, actual, received }: Mismatch): string {
  const byte = (value: number | undefined) => (value === undefined ? 'nothing' : `0x${value.toString(16).padStart(2, '0')}`);
  const which = message === -1 ? 'bytes no message asked for' : `message ${message}`;
  return `connection ${connection}, ${which}, offset ${offset}: sent ${byte(expected)}, got ${byte(actual)} ("${received}")`;
}

export function formatText(report: ProbeReport): string {
  const { settings, messages, rttMs, throughput, errors } = report;
  const lines = [
    `tcp-echo probe ${report.target}: ${report.result.toUpperCase()}${report.interrupted ? ' (interrupted)' : ''}`,
    `  messages     ${messages.attempted} attempted, ${messages.echoed} echoed byte-exact, ${messages.failed} failed (${plural(settings.size, 'byte')} each, concurrency ${settings.concurrency}${settings.proxy ? `, PROXY ${settings.proxy}` : ''})`,
    `  round trip   p50 ${ms(rttMs.p50)}  p90 ${ms(rttMs.p90)}  p99 ${ms(rttMs.p99)}  max ${ms(rttMs.max)}  (min ${ms(rttMs.min)}, mean ${ms(rttMs.mean)})`,
    `  throughput   ${throughput.messagesPerSecond.toFixed(1)} messages/s, ${humanBytes(throughput.bytesPerSecond)}/s echoed, over ${(report.elapsedMs / 1000).toFixed(3)} s`,
    `  connections  ${report.connections.opened} opened`,
  ];
  for (const { text, connections } of report.banners) lines.push(`  banner       ${JSON.stringify(text)} (${plural(connections, 'connection')})`);
  if (report.strayReplies > 0) lines.push(`  stray        ${plural(report.strayReplies, 'late or repeated reply')} (not errors)`);
  if (errors.total === 0) {
    lines.push(`  errors       none (budget ${settings.maxErrors})`);
  } else {
    const kinds = ERROR_KINDS.filter((kind) => errors.byKind[kind] > 0);
    lines.push(`  errors       ${errors.total} (budget ${settings.maxErrors}): ${kinds.map((kind) => `${kind} ${errors.byKind[kind]}`).join(', ')}`);
    for (const kind of kinds) lines.push(`    ${kind}: ${errors.examples[kind] ?? ''}`);
  }
  for (const mismatch of report.mismatches) lines.push(`  mismatch     ${describeMismatchLine(mismatch)}`);
  for (const reason of report.reasons) lines.push(`  FAIL: ${reason}`);
  return `${lines.join('\n')}\n`;
}

/** One line for stderr while the run goes on. */
export function progressLine(target: string, stats: ProbeStats, elapsedMs: number): string {
  const p50 = stats.rtt.quantile(0.5);
  const p99 = stats.rtt.quantile(0.99);
  const latency = p50 === undefined ? '' : `, p50 ${p50.toFixed(3)} ms, p99 ${(p99 as number).toFixed(3)} ms`;
  return `probe ${target}: ${(elapsedMs / 1000).toFixed(0)} s, ${stats.messagesOk} echoed, ${stats.messagesFailed} failed, ${stats.errorTotal} errors, ${perSecond(stats.messagesOk, elapsedMs)} messages/s${latency}`;
}
