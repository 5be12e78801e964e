// The service's lifecycle (src/process/lifecycle.ts): starting -> ready -> draining -> stopped, and
// starting -> draining or stopped; every other move is refused, leaves the state as it was and is not
// reported to onChange.
import { describe, expect, it } from 'vitest';
import { createLifecycle, type LifecycleState } from '../../../src/process/lifecycle.js';

const STATES: readonly LifecycleState[] = ['starting', 'ready', 'draining', 'stopped'];
const ALLOWED: ReadonlyArray<[LifecycleState, LifecycleState]> = [
  ['starting', 'ready'],
  ['starting', 'draining'],
  ['starting', 'stopped'],
  ['ready', 'draining'],
  ['draining', 'stopped'],
];
const isAllowed = (from: LifecycleState, to: LifecycleState) => ALLOWED.some(([a, b]) => a === from && b === to);

/** A lifecycle brought to `state` by allowed moves, and the changes it reports from then on. */
function lifecycleAt(state: LifecycleState) {
  const changes: Array<[LifecycleState, LifecycleState]> = [];
  const lifecycle = createLifecycle((from, to) => changes.push([from, to]));
  const path: Record<LifecycleState, LifecycleState[]> = { starting: [], ready: ['ready'], draining: ['ready', 'draining'], stopped: ['ready', 'draining', 'stopped'] };
  for (const next of path[state]) expect(lifecycle.to(next)).toBe(true);
  changes.length = 0;
  return { lifecycle, changes };
}

describe('createLifecycle', () => {
  it('begins in starting, without reporting a change', () => {
    const changes: unknown[] = [];
    const lifecycle = createLifecycle((...change) => changes.push(change));
    expect(lifecycle.state).toBe('starting');
    expect(changes).toEqual([]);
  });

  it('the whole way: starting -> ready -> draining -> stopped, each move reported once with where it came from', () => {
    const changes: Array<[LifecycleState, LifecycleState]> = [];
    const lifecycle = createLifecycle((from, to) => changes.push([from, to]));
    for (const next of ['ready', 'draining', 'stopped'] as const) {
      expect(lifecycle.to(next)).toBe(true);
      expect(lifecycle.state).toBe(next);
    }
    expect(changes).toEqual([
      ['starting', 'ready'],
      ['ready', 'draining'],
      ['draining', 'stopped'],
    ]);
  });

  it.each(ALLOWED)('allows %s -> %s', (from, to) => {
    const { lifecycle, changes } = lifecycleAt(from);
    expect(lifecycle.to(to)).toBe(true);
    expect(lifecycle.state).toBe(to);
    expect(changes).toEqual([[from, to]]);
  });

  const refused = STATES.flatMap((from) => STATES.filter((to) => !isAllowed(from, to)).map((to) => [from, to] as [LifecycleState, LifecycleState]));

  it('refuses every other move: 11 of the 16 pairs, staying itself included', () => {
    expect(refused).toHaveLength(11);
    expect(refused).toContainEqual(['ready', 'ready']);
    expect(refused).toContainEqual(['draining', 'ready']);
    expect(refused).toContainEqual(['stopped', 'starting']);
  });

  it.each(refused)('refuses %s -> %s: returns false, stays, reports nothing', (from, to) => {
    const { lifecycle, changes } = lifecycleAt(from);
    expect(lifecycle.to(to)).toBe(false);
    expect(lifecycle.state).toBe(from);
    expect(changes).toEqual([]);
  });

  it('stopped is final', () => {
    const { lifecycle, changes } = lifecycleAt('stopped');
    for (const state of STATES) expect(lifecycle.to(state)).toBe(false);
    expect(lifecycle.state).toBe('stopped');
    expect(changes).toEqual([]);
  });

  it('works without an onChange', () => {
    const lifecycle = createLifecycle();
    expect(lifecycle.to('stopped')).toBe(true);
    expect(lifecycle.state).toBe('stopped');
  });

  it('reports a move after it is made: onChange sees the new state', () => {
    const seen: LifecycleState[] = [];
    const lifecycle = createLifecycle(() => seen.push(lifecycle.state));
    lifecycle.to('ready');
    lifecycle.to('draining');
    expect(seen).toEqual(['ready', 'draining']);
  });
});
