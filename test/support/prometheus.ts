// Prometheus for the tests: `promtool check metrics` on an exposition, and instant queries against a
// Prometheus server's HTTP API (a child process, or the compose stack's container).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { httpRequest } from './metrics.js';
import { within } from './wait.js';

export interface PromtoolResult {
  code: number | null;
  /** stdout and stderr together: empty when the exposition is clean. */
  output: string;
}

/** `promtool check metrics` with `exposition` on stdin (Debian package `prometheus`; check toolAvailable('promtool', 'prometheus') first). */
export async function promtoolCheckMetrics(exposition: string, timeoutMs = 15_000): Promise<PromtoolResult> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stdin.on('error', () => {}); // an early exit shows in the status; EPIPE here adds nothing
  child.stdin.end(exposition);
  try {
    const [code] = (await within(once(child, 'close'), timeoutMs, 'promtool check metrics')) as [number | null];
    return { code, output };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

/** An instant query against Prometheus's HTTP API. */
export async function promQuery(port: number, expr: string): Promise<PromSample[]> {
  const response = await httpRequest(port, `/api/v1/query?query=${encodeURIComponent(expr)}`);
  if (response.status !== 200) throw new Error(`Prometheus answered ${response.status}: ${response.body}`);
  const parsed = JSON.parse(response.body) as { status: string; data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  if (parsed.status !== 'success' || parsed.data.resultType !== 'vector') throw new Error(`unexpected Prometheus answer: ${response.body}`);
  return parsed.data.result.map(({ metric, value }) => ({ metric, value: Number(value[1]) }));
}

/** The value of a query that should return exactly one series, or undefined while it returns none. */
export async function promValue(port: number, expr: string): Promise<number | undefined> {
  const result = await promQuery(port, expr);
  if (result.length > 1) throw new Error(`${expr} returned ${result.length} series`);
  return result[0]?.value;
}
