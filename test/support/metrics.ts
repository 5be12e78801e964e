import { request } from 'node:http';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A plain HTTP request over a fresh connection (no keep-alive pooling between tests). */
export function httpRequest(port: number, path: string, { method = 'GET', headers = {} as Record<string, string>, host = '127.0.0.1', body = undefined as string | undefined } = {}): Promise<HttpResponse> {
  // Node frames no body for DELETE/OPTIONS/TRACE by default; say its length so the request is well-formed.
  if (body !== undefined) headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, headers, agent: false }, (res) => {
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
