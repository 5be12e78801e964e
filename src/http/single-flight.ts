// Scrapes that arrive together share one render, per exposition format, without ever being answered
// from a render that started before they arrived: counters are exact, so a scrape taken after N bytes
// were echoed must show them, and a render already running may have read the counters before that.
import { wantsOpenMetrics, type Exposition, type MetricsRenderer } from '../metrics.js';

interface Waiting {
  readonly accept: string | undefined;
  readonly promise: Promise<Exposition>;
  resolve(exposition: Promise<Exposition>): void;
}

interface Flight {
  /** A render is about to start or running. */
  busy: boolean;
  /** Everyone who asked since the last render started: they share the next one. */
  next: Waiting | undefined;
}

/**
 * At most one render running and one waiting per format, however many scrapes arrive. A render
 * starts at the end of the event-loop turn in which it was first asked for (so every scrape read in
 * that turn shares it: a render is synchronous, and would otherwise be repeated for each), and the
 * next one a turn after it ends, for everyone who asked meanwhile.
 */
export function singleFlight(render: MetricsRenderer['render']): MetricsRenderer['render'] {
  const flights = { text: newFlight(), openMetrics: newFlight() };

  const run = (flight: Flight) => {
    const waiting = flight.next as Waiting;
    flight.next = undefined;
    const exposition = (async () => render(waiting.accept))(); // a throw becomes a rejection: the flight still ends
    waiting.resolve(exposition);
    const done = () => {
      if (flight.next === undefined) flight.busy = false;
      else setImmediate(run, flight);
    };
    exposition.then(done, done);
  };

  return (accept) => {
    const flight = wantsOpenMetrics(accept) ? flights.openMetrics : flights.text;
    flight.next ??= waiting(accept);
    if (!flight.busy) {
      flight.busy = true;
      setImmediate(run, flight);
    }
    return flight.next.promise;
  };
}

function newFlight(): Flight {
  return { busy: false, next: undefined };
}

function waiting(accept: string | undefined): Waiting {
  let resolve!: (exposition: Promise<Exposition>) => void;
  const promise = new Promise<Exposition>((r) => (resolve = r));
  return { accept, promise, resolve };
}
