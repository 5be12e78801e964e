// The sidecar over HTTP, and what its /metrics says: Prometheus text parsed into samples.
import { request, type Agent } from 'node:http';
import { expect } from 'vitest';

/** An Accept header asking for OpenMetrics. */
export const OPENMETRICS_ACCEPT = 'application/openmetrics-text; version=1.0.0';
/** What Prometheus 2.42 itself sends (scrape.go, scrapeAcceptHeader): OpenMetrics first. */
export const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A plain HTTP request, over a fresh connection unless an `agent` keeps connections alive (none is pooled between tests by default). */
export function httpRequest(port: number, path: string, { method = 'GET', headers = {} as Record<string, string>, host = '127.0.0.1', body = undefined as string | undefined, agent = false as Agent | false } = {}): Promise<HttpResponse> {
  // Node frames no body for DELETE/OPTIONS/TRACE by default; say its length so the request is well-formed.
  if (body !== undefined) headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Parses Prometheus text exposition into `name{labels}` -> value. */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{.*\})?)\s+(\S+)(?:\s+\S+)?$/.exec(line);
    if (!match) throw new Error(`unparseable exposition line: ${line}`);
    samples.set(match[1] as string, Number(match[2]));
  }
  return samples;
}

export async function scrape(port: number, host = '127.0.0.1'): Promise<Map<string, number>> {
  const response = await httpRequest(port, '/metrics', { host });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return parseExposition(response.body);
}

function splitKey(key: string): { name: string; labels: Map<string, string> } {
  const brace = key.indexOf('{');
  if (brace === -1) return { name: key, labels: new Map() };
  const labels = new Map<string, string>();
  for (const match of key.slice(brace + 1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels.set(match[1] as string, match[2] as string);
  return { name: key.slice(0, brace), labels };
}

/**
 * The value of `key` (`name` or `name{label="v",...}`): an exact series, or else the sum of every
 * series of that name whose labels include the given ones (e.g. summed over `listener`).
 */
export function sample(samples: Map<string, number>, key: string): number {
  const exact = samples.get(key);
  if (exact !== undefined) return exact;
  const wanted = splitKey(key);
  let total: number | undefined;
  for (const [candidate, value] of samples) {
    const { name, labels } = splitKey(candidate);
    if (name !== wanted.name) continue;
    if ([...wanted.labels].every(([label, v]) => labels.get(label) === v)) total = (total ?? 0) + value;
  }
  if (total === undefined) throw new Error(`metric ${key} missing from the exposition`);
  return total;
}

/** Each listener's bound port by scheme, as /healthz lists them (one listener per scheme). */
export async function listenerPorts(httpPort: number): Promise<Map<string, number>> {
  const detail = JSON.parse((await httpRequest(httpPort, '/healthz')).body) as { listeners: { all: Array<{ scheme: string; port: number }> } };
  return new Map(detail.listeners.all.map((listener) => [listener.scheme, listener.port]));
}

/** GET /metrics (with `accept`, if given), which must answer 200. */
export async function getMetrics(port: number, accept?: string): Promise<HttpResponse> {
  const response = await httpRequest(port, '/metrics', { headers: accept ? { accept } : {} });
  expect(response.status, `/metrics answered ${response.status}: ${response.body}`).toBe(200);
  return response;
}

/** `# TYPE` declarations of an exposition: family name -> type. */
export function declaredTypes(body: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(match[1] as string, match[2] as string);
  return types;
}

/** Distinct sample names (labels stripped) of an exposition. */
export function sampleNames(body: string): Set<string> {
  const names = new Set<string>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    names.add(/^[^\s{]+/.exec(line)![0]);
  }
  return names;
}
