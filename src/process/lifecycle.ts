// The service's life, one way only: starting -> ready -> draining -> stopped.
// (starting -> stopped when start fails.) Readiness is a function of this state.

export type LifecycleState = 'starting' | 'ready' | 'draining' | 'stopped';

const NEXT: Record<LifecycleState, readonly LifecycleState[]> = {
  starting: ['ready', 'draining', 'stopped'],
  ready: ['draining'],
  draining: ['stopped'],
  stopped: [],
};

export interface Lifecycle {
  readonly state: LifecycleState;
  /** Moves forward; returns false (and stays) if the move is not allowed from here. */
  to(next: LifecycleState): boolean;
}

export function createLifecycle(onChange: (from: LifecycleState, to: LifecycleState) => void = () => {}): Lifecycle {
  let state: LifecycleState = 'starting';
  return {
    get state() {
      return state;
    },
    to(next) {
      if (!NEXT[state].includes(next)) return false;
      const from = state;
      state = next;
      onChange(from, next);
      return true;
    },
  };
}
