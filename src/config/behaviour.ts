// Test behaviours a listener can be given in ECHO_LISTENERS, as a query string on its entry
// (`tcp://*:7001?delay=50ms`): the far end misbehaving on purpose, so a path's handling of it can be
// seen. A listener without options echoes exactly as every other.
import { parseBytes, parseDuration } from './units.js';

/** A duration, or a range to draw each value from (jitter), in milliseconds. */
export interface DelayRange {
  readonly minMs: number;
  readonly maxMs: number;
}

/** After this many bytes echoed, or this long after the connection opened. */
export type CloseTrigger = { readonly afterBytes: number } | { readonly afterMs: number };

export interface TcpBehaviour {
  readonly kind: 'tcp';
  /** Hold each chunk this long before echoing it; order kept. */
  readonly delay?: DelayRange;
  /** Echo at most this many bytes per second per connection. */
  readonly rateBytesPerSecond?: number;
  /** Close with a FIN at the trigger (what was echoed is flushed first). */
  readonly closeAfter?: CloseTrigger;
  /** Close with a RST at the trigger (SO_LINGER 0: what is unsent is dropped). */
  readonly resetAfter?: CloseTrigger;
  /** Read and count, echo nothing (RFC 863). */
  readonly discard?: boolean;
  /** Accept, then stop reading (Node reads ahead at most one buffer). */
  readonly stall?: boolean;
}

export interface UdpBehaviour {
  readonly kind: 'udp';
  /** Hold each datagram this long before echoing it. */
  readonly delay?: DelayRange;
  /** Drop this fraction of datagrams (0 to 1), counted. */
  readonly loss?: number;
}

export type ListenerBehaviour = TcpBehaviour | UdpBehaviour;

const TCP_OPTIONS = ['delay', 'rate', 'close_after', 'reset_after', 'discard', 'stall'] as const;
const UDP_OPTIONS = ['delay', 'loss'] as const;
const MAX_DELAY_MS = 60_000;

/** `50ms`, `1s`, or a range `10ms-200ms`. */
function delayRange(raw: string): DelayRange | string {
  const [low = '', high = low] = raw.split('-');
  const minMs = parseDuration(low);
  const maxMs = parseDuration(high);
  if (minMs === undefined || maxMs === undefined) return 'a duration such as 50ms or 1s, or a range such as 10ms-200ms';
  if (minMs > maxMs || maxMs > MAX_DELAY_MS) return `a duration up to ${MAX_DELAY_MS / 1000}s, the range's low end first`;
  return { minMs, maxMs };
}

/** A number of bytes (`1000`, `64KiB`) or a duration (`5s`). */
function closeTrigger(raw: string): CloseTrigger | string {
  const afterMs = parseDuration(raw);
  if (afterMs !== undefined && afterMs > 0) return { afterMs };
  const afterBytes = parseBytes(raw);
  if (afterBytes !== undefined && afterBytes > 0) return { afterBytes };
  return 'a number of bytes (1000, 64KiB) or a duration (5s), more than 0';
}

const flag = (raw: string) => (raw === '' || raw === '1' || raw === 'true' ? true : 'no value, or 1');

/**
 * The options of one entry (the query string without `?`); throws a one-line reason naming the option.
 * Undefined when there are none.
 */
export function parseBehaviour(query: string, transport: 'tcp' | 'udp'): ListenerBehaviour | undefined {
  if (query === '') return undefined;
  const known: readonly string[] = transport === 'udp' ? UDP_OPTIONS : TCP_OPTIONS;
  const options = new Map<string, string>();
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    if (!known.includes(name)) throw new Error(`unknown option "${name}"; ${transport} listeners take ${known.join(', ')}`);
    if (options.has(name)) throw new Error(`option "${name}" is given twice`);
    options.set(name, value);
  }
  const read = <T>(name: string, parse: (raw: string) => T | string): T | undefined => {
    const raw = options.get(name);
    if (raw === undefined) return undefined;
    const value = parse(raw);
    if (typeof value === 'string') throw new Error(`option ${name}=${JSON.stringify(raw)}: ${value}`);
    return value;
  };
  if (transport === 'udp') {
    return {
      kind: 'udp',
      delay: read('delay', delayRange),
      loss: read('loss', (raw) => {
        const percent = /^(\d+(?:\.\d+)?)%$/.exec(raw);
        const fraction = percent ? Number(percent[1]) / 100 : /^(0|1|0?\.\d+)$/.test(raw) ? Number(raw) : NaN;
        return fraction >= 0 && fraction <= 1 ? fraction : 'a fraction from 0 to 1 (0.05) or a percentage (5%)';
      }),
    };
  }
  const behaviour: TcpBehaviour = {
    kind: 'tcp',
    delay: read('delay', delayRange),
    rateBytesPerSecond: read('rate', (raw) => {
      const perSecond = parseBytes(raw.replace(/\/s$/, ''));
      return perSecond !== undefined && perSecond > 0 ? perSecond : 'bytes per second, more than 0 (64KiB, 1MB, 1000)';
    }),
    closeAfter: read('close_after', closeTrigger),
    resetAfter: read('reset_after', closeTrigger),
    discard: read('discard', flag),
    stall: read('stall', flag),
  };
  const echoShaping = behaviour.delay !== undefined || behaviour.rateBytesPerSecond !== undefined;
  if (behaviour.stall && (echoShaping || behaviour.discard)) throw new Error('stall reads nothing, so it takes no delay, rate or discard');
  if (behaviour.discard && echoShaping) throw new Error('discard echoes nothing, so it takes no delay or rate');
  if (behaviour.closeAfter && behaviour.resetAfter) throw new Error('close_after and reset_after exclude each other');
  return behaviour;
}

/** A delay drawn from its range. */
export const drawDelay = ({ minMs, maxMs }: DelayRange, random: () => number = Math.random): number => minMs + Math.floor(random() * (maxMs - minMs + 1));
