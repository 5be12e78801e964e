import { Gauge, type Registry } from 'prom-client';

/** echo_build_info{version, nodejs} 1: which build and runtime a target runs. */
export function registerBuildInfo(registry: Registry, version: string): void {
  new Gauge({
    name: 'echo_build_info',
    help: 'Build identity; the value is always 1.',
    labelNames: ['version', 'nodejs'],
    registers: [registry],
    aggregator: 'first', // identical in every worker: aggregate to 1, not to the worker count
  }).set({ version, nodejs: process.version }, 1);
}
