// Counters whose values the service keeps as plain numbers and hands to prom-client only when
// scraped, so the paths that count never touch prom-client.
import { Counter, type Registry, type RegistryContentType } from 'prom-client';

export type SeriesLabels = Readonly<Record<string, string | number>>;

export interface ScrapedCounterOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
}

/**
 * Registers a counter on `registry` whose series are set afresh at every scrape: `read` calls
 * `add(labels, value)` once per series (a value of 0 still makes the series appear).
 */
export function registerScrapedCounter(
  registry: Registry<RegistryContentType>,
  { name, help, labelNames = [] }: ScrapedCounterOptions,
  read: (add: (labels: SeriesLabels, value: number) => void) => void,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, value) => this.inc(labels, value));
    },
  });
}
