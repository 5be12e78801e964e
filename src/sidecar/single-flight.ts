// Scrapes that arrive together share one render, per exposition format, without ever being answered
// from a render that started before they arrived: counters are exact, so a scrape taken after N bytes
// were echoed must show them, and a render already running may have read the counters before that.
import { wantsOpenMetrics, type Exposition, type MetricsRenderer } from '../metrics/exposition.js';

export interface SingleFlightOptions {
  /**
   * Renders of one format start at least this far apart. Not a multiple of the last render's duration:
   * the primary's renders wait on its workers, so their duration is mostly waiting, not work.
   */
  readonly minGapMs?: number;
  readonly now?: () => number;
}

interface Waiting {
  readonly accept: string | undefined;
  readonly promise: Promise<Exposition>;
  resolve(exposition: Promise<Exposition>): void;
}

interface Flight {
  /** A render is waiting to start or running. */
  busy: boolean;
  /** Everyone who asked since the last render started: they share the next one. */
  next: Waiting | undefined;
  lastStart: number;
}

/**
 * At most one render running and one waiting per format, however many scrapes arrive, and renders
 * spaced out so that scrapes cannot keep the event loop busy rendering. A render starts no earlier
 * than the end of the event-loop turn in which it was asked for (every scrape read in that turn shares
 * it: new connections are accepted one per turn, so their scrapes would otherwise each get one), and
 * no earlier than the gap after the previous one started. A scrape waits at most for the render
 * running when it came, the gap, and its own render.
 */
export function singleFlight(render: MetricsRenderer['render'], { minGapMs = 50, now = () => performance.now() }: SingleFlightOptions = {}): MetricsRenderer['render'] {
  const flights = { text: newFlight(), openMetrics: newFlight() };

  const schedule = (flight: Flight) => {
    const wait = flight.lastStart + minGapMs - now();
    if (wait > 0) setTimeout(run, wait, flight);
    else setImmediate(run, flight);
  };

  const run = (flight: Flight) => {
    const waiting = flight.next as Waiting;
    flight.next = undefined;
    flight.lastStart = now();
    const exposition = (async () => render(waiting.accept))(); // a throw becomes a rejection: the flight still ends
    waiting.resolve(exposition);
    const done = () => {
      if (flight.next === undefined) flight.busy = false;
      else schedule(flight);
    };
    exposition.then(done, done);
  };

  return (accept) => {
    const flight = wantsOpenMetrics(accept) ? flights.openMetrics : flights.text;
    flight.next ??= waiting(accept);
    if (!flight.busy) {
      flight.busy = true;
      schedule(flight);
    }
    return flight.next.promise;
  };
}

function newFlight(): Flight {
  return { busy: false, next: undefined, lastStart: -Infinity };
}

function waiting(accept: string | undefined): Waiting {
  let resolve!: (exposition: Promise<Exposition>) => void;
  const promise = new Promise<Exposition>((r) => (resolve = r));
  return { accept, promise, resolve };
}
