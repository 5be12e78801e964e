// Whether a run passed: no mismatch at all, and errors within the budget. Exit codes, once.
import type { ErrorBudget } from './args.js';

export const EXIT_PASSED = 0;
/** A mismatch, or errors over the budget. */
export const EXIT_FAILED = 1;
export const EXIT_INVALID_ARGUMENTS = 2;

export interface Verdict {
  readonly passed: boolean;
  readonly exitCode: number;
  /** Why it failed, one line each (empty when it passed). */
  readonly reasons: readonly string[];
}

export interface VerdictInput {
  readonly mismatches: number;
  readonly errors: number;
  /** Messages attempted (echoed or failed): what a fractional budget is a fraction of. */
  readonly attempted: number;
  readonly budget: ErrorBudget;
}

export function describeBudget(budget: ErrorBudget): string {
  return budget.kind === 'count' ? String(budget.max) : `${+(budget.max * 100).toFixed(4)}% of the messages`;
}

export function judge({ mismatches, errors, attempted, budget }: VerdictInput): Verdict {
  const reasons: string[] = [];
  if (mismatches > 0) reasons.push(`${mismatches} echo${mismatches === 1 ? '' : 'es'} did not match what was sent`);
  const overBudget = budget.kind === 'count' ? errors > budget.max : errors > 0 && errors > budget.max * attempted;
  if (overBudget) reasons.push(`${errors} error${errors === 1 ? '' : 's'} in ${attempted} message${attempted === 1 ? '' : 's'}, over the budget of ${describeBudget(budget)}`);
  if (attempted === 0) reasons.push('no message was sent');
  return { passed: reasons.length === 0, exitCode: reasons.length === 0 ? EXIT_PASSED : EXIT_FAILED, reasons };
}
