// The deploy kit's alerts (deploy/prometheus/alerts.yml) and dashboard (deploy/grafana) checked with
// real tools and against the real service: promtool, and a running service whose metric names they
// must use. The Kubernetes manifests are checked in deploy-kubernetes.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { createTestPki, type TestPki } from '../support/certs.js';
import { httpRequest, parseExposition } from '../support/metrics.js';
import { startService, type RunningService } from '../support/service.js';
import { toolAvailable } from '../support/tools.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOYMENT = join(ROOT, 'deploy/kubernetes/base/deployment.yaml');
const ALERTS = join(ROOT, 'deploy/prometheus/alerts.yml');
const ALERTS_TEST = join(ROOT, 'deploy/prometheus/alerts.test.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/dashboard.json');

// ---------------------------------------------------------------------------------------------
// PromQL metric-name extraction

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'atan2', 'inf', 'nan']);
const STRING = String.raw`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + '`[^`]*`';
// Leftmost wins: a label-matcher block, a string, or a comment, whichever starts first.
const OPAQUE = new RegExp(String.raw`\{(?:[^{}"'` + '`' + String.raw`]|${STRING})*\}|${STRING}|#[^\n]*`, 'g');

/**
 * The metric names a PromQL expression selects. Label-matcher blocks, strings and comments are
 * removed first (a `__name__="x"` matcher counts as x), then grouping and matching clauses
 * (`by (...)`, `on (...)`, ...), ranges and subqueries, numbers, durations and Grafana `$variables`.
 * What is left are identifiers: one followed by `(` is a function or aggregation, a few are
 * keywords; every other one is a metric name.
 */
function metricNames(expr: string): string[] {
  const names = new Set<string>();
  let s = expr.replace(OPAQUE, (token) => {
    if (token.startsWith('{')) {
      for (const m of token.matchAll(/(?:^|[{,\s])__name__\s*=\s*(?:"([^"]*)"|'([^']*)'|`([^`]*)`)/g)) names.add((m[1] ?? m[2] ?? m[3]) as string);
    }
    return ' ';
  });
  s = s
    .replace(/\$(?:\{[^}]*\}|\w+)/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/(?<![\w:])\.?\d(?:[eE][+-]|[\w.])*/g, ' ');
  for (const m of s.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const name = m[0];
    const rest = s.slice((m.index ?? 0) + name.length);
    if (/^\s*\(/.test(rest) || PROMQL_KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** Grafana variable queries: `label_values(selector, label)` selects metrics; `label_values(label)` none. */
function variableQueryMetricNames(query: string): string[] {
  const labelValues = /^\s*label_values\(\s*(.*?)\s*,\s*[A-Za-z_]\w*\s*\)\s*$/s.exec(query);
  if (labelValues) return metricNames(labelValues[1] as string);
  if (/^\s*label_values\(\s*[A-Za-z_]\w*\s*\)\s*$/.test(query)) return [];
  const queryResult = /^\s*query_result\((.*)\)\s*$/s.exec(query);
  if (queryResult) return metricNames(queryResult[1] as string);
  throw new Error(`unsupported variable query: ${query}`);
}

/** Metric names not exported by the service, each allowed for a stated reason. */
const EXTERNAL_METRICS = new Map([
  ['up', 'recorded by Prometheus for every scrape target'],
  ['kube_pod_status_ready', 'kube-state-metrics: pod readiness as the kubelet saw it (alerts only)'],
]);

/**
 * Every series name a query may select: the samples in the scrape, plus the names each `# TYPE`
 * line declares (a labelled histogram such as nodejs_gc_duration_seconds{kind} has no samples until
 * its first observation, but its _bucket/_sum/_count series are part of what the service exports).
 */
function exposedMetricNames(exposition: string): Set<string> {
  const names = new Set([...parseExposition(exposition).keys()].map((series) => series.replace(/\{.*$/, '')));
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const suffixes = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of suffixes) names.add(`${name}${suffix}`);
  }
  return names;
}

let running: RunningService;
let pki: TestPki;
let exportedNames: Set<string>;
beforeAll(async () => {
  // One listener of each kind the deploy kit's overlays run (deploy/kubernetes: tcp; tls; udp;
  // tcp+proxy), so that the metrics only such a listener exports (the certificate expiry, the
  // PROXY errors, the UDP counters) are in the scrape the alerts and the dashboard are held to.
  pki = await createTestPki();
  running = await startService({ ECHO_LISTENERS: 'tcp://127.0.0.1:0,tls://127.0.0.1:0,udp://127.0.0.1:0,tcp+proxy://127.0.0.1:0', ECHO_TLS_CERT: pki.server.certFile, ECHO_TLS_KEY: pki.server.keyFile });
  const response = await httpRequest(running.httpPort, '/metrics');
  expect(response.status).toBe(200);
  exportedNames = exposedMetricNames(response.body);
});
afterAll(async () => {
  await running?.stop();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

describe('metric-name extractor', () => {
  it.each([
    ['up{job="tcp-echo"} == 0', ['up']],
    ['absent(up{job="tcp-echo"} == 1)', ['up']],
    ['histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="$job", le!="+Inf"}[$__rate_interval])))', ['a_bucket']],
    ['sum(rate(x_sum[5m])) by (le) / sum(rate(x_count[5m])) by (le)', ['x_count', 'x_sum']],
    ['a{x="}{ b", y=~"c|d"} / on (instance) group_left (version) b offset -5m', ['a', 'b']],
    ['a * on() group_left b', ['a', 'b']],
    ['label_replace(m, "dst", "$1 fake_metric", "src", "(.*)")', ['m']],
    ['sum without (reason) (rate(z_total[5m:30s])) > bool 1e-3', ['z_total']],
    ['{__name__="by_name_only", job="x"}', ['by_name_only']],
    ['count_values("le", foo) # bar{x="y"} is a comment', ['foo']],
    ['time() - process_start_time_seconds @ 1609746000', ['process_start_time_seconds']],
    ['p and on(i) q unless r or s', ['p', 'q', 'r', 's']],
    ['(echo_a / (echo_b > 0)) > 0.9 and Inf > NaN', ['echo_a', 'echo_b']],
    ['max_over_time(job:echo_bytes:rate5m[1h30m]) atan2 0x1F', ['job:echo_bytes:rate5m']],
    ['topk(5, sum by(instance)(rate(c[${__interval}])))', ['c']],
  ])('%s -> %j', (expr, expected) => {
    expect(metricNames(expr)).toEqual(expected);
  });

  it('collects the names a scrape offers, including the series of a histogram with no observations yet', () => {
    const exposition = [
      '# HELP a_total A counter.',
      '# TYPE a_total counter',
      'a_total 3',
      '# HELP gc GC durations.',
      '# TYPE gc histogram',
      '# HELP h Lifetimes.',
      '# TYPE h histogram',
      'h_bucket{le="1"} 0',
      'h_bucket{le="+Inf"} 0',
      'h_sum 0',
      'h_count 0',
      '',
    ].join('\n');
    expect([...exposedMetricNames(exposition)].sort()).toEqual(['a_total', 'gc_bucket', 'gc_count', 'gc_sum', 'h_bucket', 'h_count', 'h_sum']);
  });

  it('reads the selector of a Grafana label_values() variable query, not its label', () => {
    expect(variableQueryMetricNames('label_values(echo_build_info{job="$job"}, instance)')).toEqual(['echo_build_info']);
    expect(variableQueryMetricNames('label_values(job)')).toEqual([]);
    expect(() => variableQueryMetricNames('metrics(echo_.*)')).toThrow(/unsupported/);
  });
});

// ---------------------------------------------------------------------------------------------

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const alertRules = (parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ name: string; rules: AlertRule[] }> }).groups.flatMap((g) => g.rules);

const promtool = toolAvailable('promtool', 'prometheus');

describe('Prometheus alerting rules', () => {
  it.runIf(promtool)('pass `promtool check rules`', () => {
    const result = spawnSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it.runIf(promtool)('pass their unit tests, `promtool test rules alerts.test.yml`', () => {
    const result = spawnSync('promtool', ['test', 'rules', ALERTS_TEST], { encoding: 'utf8' });
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it('cover what an operator needs, each with a severity, summary, description and runbook', () => {
    expect(alertRules.map((r) => r.alert).sort()).toEqual([
      'TcpEchoCertificateExpiresSoon',
      'TcpEchoCertificateExpiring',
      'TcpEchoConnectionsNearLimit',
      'TcpEchoConnectionsRejected',
      'TcpEchoEventLoopLag',
      'TcpEchoMemoryOverload',
      'TcpEchoMemoryShedding',
      'TcpEchoNoTargetUp',
      'TcpEchoPodNotReady',
      'TcpEchoRestartingOften',
      'TcpEchoTargetDown',
    ]);
    for (const rule of alertRules) {
      expect(['warning', 'critical'], `${rule.alert} severity`).toContain(rule.labels?.severity);
      for (const annotation of ['summary', 'description', 'runbook']) expect(rule.annotations?.[annotation], `${rule.alert} ${annotation}`).toMatch(/\S{3}/);
    }
  });

  it('the readiness alert selects the pods the Deployment creates, by their names', () => {
    const rule = alertRules.find((r) => r.alert === 'TcpEchoPodNotReady')!;
    const podName = /pod=~"([^"]+)"/.exec(rule.expr)?.[1];
    expect(podName).toBeDefined();
    const matches = (name: string) => new RegExp(`^(?:${podName})$`).test(name);
    // Deployment pods are named <deployment>-<pod-template-hash>-<suffix>.
    const deployment = parseYaml(readFileSync(DEPLOYMENT, 'utf8')) as { metadata: { name: string } };
    expect(matches(`${deployment.metadata.name}-6d4cf56db6-x7k2p`)).toBe(true);
    expect(matches('other-app-6d4cf56db6-x7k2p')).toBe(false);
  });

  it('every alert has a unit test in which it fires', () => {
    const tests = (parseYaml(readFileSync(ALERTS_TEST, 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }> }).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of alertRules) expect(cases.some((c) => c.alertname === rule.alert && (c.exp_alerts ?? []).length > 0), `${rule.alert} fires in a test`).toBe(true);
    for (const c of cases) expect(alertRules.map((r) => r.alert), 'tested alert exists').toContain(c.alertname);
  });

  it('every metric an alert uses is in the running service /metrics (or a named outside source)', () => {
    for (const rule of alertRules) {
      const names = metricNames(rule.expr);
      expect(names.length, `${rule.alert} selects no metric`).toBeGreaterThan(0);
      for (const name of names) expect(exportedNames.has(name) || EXTERNAL_METRICS.has(name), `${rule.alert}: ${name} is not exported by the service`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------

interface Target { expr?: string; refId?: string; legendFormat?: string; datasource?: { uid?: string } }
interface Panel { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { type?: string; uid?: string }; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query?: string | { query: string } }
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = panels.filter((p) => p.type !== 'row');
const variables = dashboard.templating.list;
const variableQueries = variables.filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : v.query!.query));
const dashboardExprs = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t, expr: t.expr ?? '' })));
const GRAFANA_BUILTINS = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms', '__all']);

describe('Grafana dashboard', () => {
  it('splits the connection and byte panels by listener (the service can run several)', () => {
    const perListener = queryPanels.flatMap((panel) => panel.targets ?? []).filter((t) => /sum by \((instance, )?listener/.test(t.expr ?? ''));
    const exprs = perListener.map((t) => t.expr ?? '').join('\n');
    for (const metric of ['echo_connections_active', 'echo_connections_accepted_total', 'echo_received_bytes_total', 'echo_sent_bytes_total', 'echo_connections_closed_total']) {
      expect(exprs, metric).toContain(metric);
    }
    for (const target of perListener) expect(target.legendFormat ?? '', target.expr).toContain('{{listener}}');
  });

  it('is a well-formed dashboard: unique ids, panels on the 24-column grid without overlap, every query on the datasource variable', () => {
    expect(dashboard.uid).toBe('tcp-echo');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const [i, a] of panels.entries()) {
      expect(a.gridPos.x + a.gridPos.w, `${a.title} fits the grid`).toBeLessThanOrEqual(24);
      for (const b of panels.slice(i + 1)) {
        const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
    expect(variables.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    for (const panel of queryPanels) {
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, `${panel.title} has queries`).toBeGreaterThan(0);
      expect(new Set(panel.targets!.map((t) => t.refId)).size, `${panel.title} refIds`).toBe(panel.targets!.length);
    }
  });

  it('uses only variables it defines (or Grafana builtins)', () => {
    const defined = new Set(variables.map((v) => v.name));
    for (const expr of [...dashboardExprs.map((e) => e.expr), ...variableQueries]) {
      for (const m of expr.matchAll(/\$\{?(\w+)/g)) expect(defined.has(m[1]!) || GRAFANA_BUILTINS.has(m[1]!), `$${m[1]} in ${expr}`).toBe(true);
    }
  });

  it('shows connections, traffic, duration quantiles and the process', () => {
    const used = new Set(dashboardExprs.flatMap((e) => metricNames(e.expr)));
    for (const name of [
      'echo_connections_active',
      'echo_connections_accepted_total',
      'echo_connections_rejected_total',
      'echo_received_bytes_total',
      'echo_sent_bytes_total',
      'echo_connection_duration_seconds_bucket',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'echo_memory_used_bytes',
      'echo_memory_budget_bytes',
      'echo_overload_active',
    ]) expect(used.has(name), name).toBe(true);
    expect(dashboardExprs.some((e) => /histogram_quantile\(\s*0\.99\s*,.*echo_connection_duration_seconds_bucket/.test(e.expr))).toBe(true);
  });

  it('every metric it queries is in the running service /metrics (or a named outside source)', () => {
    for (const { panel, expr } of dashboardExprs) {
      const names = metricNames(expr);
      expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(exportedNames.has(name) || EXTERNAL_METRICS.has(name), `${panel.title}: ${name} is not exported by the service`).toBe(true);
    }
    for (const query of variableQueries) for (const name of variableQueryMetricNames(query)) expect(exportedNames.has(name), `variable query ${query}`).toBe(true);
  });

  it.runIf(promtool)('every query is valid PromQL (parsed by promtool, variables filled in)', () => {
    const fill = (expr: string) => expr.replace(/\$\{?__rate_interval\}?|\$\{?__interval\}?|\$\{?__range\}?/g, '5m').replace(/\$\{?job\}?/g, 'tcp-echo').replace(/\$\{?instance\}?/g, '.*');
    const rules = dashboardExprs.map(({ panel, target, expr }) => ({ record: `dashboard:panel_${panel.id}:${target.refId}`, expr: fill(expr) }));
    const dir = mkdtempSync(join(tmpdir(), 'tcp-echo-dashboard-'));
    try {
      const file = join(dir, 'dashboard-rules.yml');
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const result = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain(`${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('outside metrics', () => {
  it('each allowed outside metric is really used (the list does not go stale)', () => {
    const used = new Set([...alertRules.flatMap((r) => metricNames(r.expr)), ...dashboardExprs.flatMap((e) => metricNames(e.expr))]);
    for (const name of EXTERNAL_METRICS.keys()) {
      expect(used.has(name), `${name} is allowed but unused`).toBe(true);
      expect(exportedNames.has(name), `${name} is exported by the service after all`).toBe(false);
    }
  });
});
