// The deploy kit (deploy/kubernetes, deploy/prometheus/alerts.yml, deploy/grafana) checked with real
// tools and against the real service: schemas (kubernetes-models), promtool, and a running service
// whose routes, ports, settings and metric names the artefacts must match.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import { ConfigError, parseConfig } from '../../src/config/parse.js';
import type { Config } from '../../src/config/types.js';
import { createTestPki, type TestPki } from '../support/certs.js';
import { httpRequest, parseExposition } from '../support/metrics.js';
import { startService, type RunningService } from '../support/service.js';
import { hasCommand, toolAvailable } from '../support/tools.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KUBE_DIR = join(ROOT, 'deploy/kubernetes');
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

// ---------------------------------------------------------------------------------------------
// Settings: which env names the service knows, and what a container's env and args make of it

/** Names the service does not read: parseConfig rejects a bad value only for a setting it knows. */
function unknownSettings(names: readonly string[]): string[] {
  return names.filter((name) => {
    try {
      parseConfig([], { [name]: 'not a valid value!' });
      return true;
    } catch (error) {
      return !(error instanceof ConfigError && error.setting === name);
    }
  });
}

/** Env vars the Deployment sets through the Downward API; the service does not read them. */
const DOWNWARD_ENV: Record<string, string> = { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' };

// ---------------------------------------------------------------------------------------------
// Loading manifests

interface Manifest {
  file: string;
  object: Record<string, unknown> & { apiVersion?: string; kind?: string; metadata?: { name?: string } };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((entry) => {
      const path = join(dir, entry);
      return statSync(path).isDirectory() ? yamlFiles(path) : /\.ya?ml$/.test(entry) ? [path] : [];
    })
    .sort();
}

function loadYamlDocuments(file: string): Manifest[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  const list = Array.isArray(documents) ? documents : [documents];
  return list.flatMap((doc) => {
    if (doc.errors.length > 0 || doc.warnings.length > 0) throw new Error(`${relative(ROOT, file)}: ${[...doc.errors, ...doc.warnings].map((e) => e.message).join('; ')}`);
    const object = doc.toJS() as Manifest['object'] | null;
    return object === null ? [] : [{ file, object }];
  });
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

const isName = (value: unknown) => typeof value === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) && value.length <= 63;
const isDuration = (value: unknown) => typeof value === 'string' && /^(\d+(ms|s|m|h))+$/.test(value);

/** prometheus-operator's CRD models are not installed here: the fields this kit uses, checked by hand. */
function podMonitorProblems(object: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const metadata = object.metadata as { name?: unknown } | undefined;
  const spec = object.spec as Record<string, unknown> | undefined;
  if (!isName(metadata?.name)) problems.push('metadata.name must be a DNS label');
  if (!spec) return [...problems, 'spec is required'];
  const known = new Set(['jobLabel', 'podTargetLabels', 'podMetricsEndpoints', 'selector', 'namespaceSelector', 'sampleLimit', 'targetLimit', 'labelLimit', 'labelNameLengthLimit', 'labelValueLengthLimit', 'attachMetadata']);
  for (const key of Object.keys(spec)) if (!known.has(key)) problems.push(`spec.${key} is not a PodMonitor field`);
  const selector = spec.selector as { matchLabels?: Record<string, unknown> } | undefined;
  if (!selector?.matchLabels || Object.keys(selector.matchLabels).length === 0) problems.push('spec.selector.matchLabels must select the pods');
  if (spec.jobLabel !== undefined && typeof spec.jobLabel !== 'string') problems.push('spec.jobLabel must be a string');
  const endpoints = spec.podMetricsEndpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0) return [...problems, 'spec.podMetricsEndpoints must be a non-empty list'];
  const endpointFields = new Set(['port', 'targetPort', 'path', 'scheme', 'interval', 'scrapeTimeout', 'honorLabels', 'honorTimestamps', 'relabelings', 'metricRelabelings', 'params']);
  endpoints.forEach((endpoint: Record<string, unknown>, i) => {
    for (const key of Object.keys(endpoint)) if (!endpointFields.has(key)) problems.push(`podMetricsEndpoints[${i}].${key} is not an endpoint field`);
    if (typeof endpoint.port !== 'string') problems.push(`podMetricsEndpoints[${i}].port must name a container port`);
    if (endpoint.path !== undefined && (typeof endpoint.path !== 'string' || !endpoint.path.startsWith('/'))) problems.push(`podMetricsEndpoints[${i}].path must be an absolute path`);
    for (const key of ['interval', 'scrapeTimeout']) if (endpoint[key] !== undefined && !isDuration(endpoint[key])) problems.push(`podMetricsEndpoints[${i}].${key} must be a Prometheus duration`);
  });
  return problems;
}

function kustomizationProblems(object: Record<string, unknown>): string[] {
  const known = new Set(['apiVersion', 'kind', 'resources', 'images', 'namespace', 'namePrefix', 'nameSuffix', 'labels', 'commonAnnotations', 'patches', 'components', 'configMapGenerator', 'secretGenerator', 'replicas']);
  const problems = Object.keys(object).filter((key) => !known.has(key)).map((key) => `${key} is not a Kustomization field this kit expects`);
  if (!Array.isArray(object.resources) || !object.resources.every((r) => typeof r === 'string')) problems.push('resources must be a list of paths');
  return problems;
}

interface Kustomization {
  resources: string[];
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
}

/** A small stand-in for `kustomize build` covering what these kustomizations use: resources and images. */
function kustomize(dir: string, seen: Set<string> = new Set()): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  seen.add(file);
  const k = parseYaml(readFileSync(file, 'utf8')) as Kustomization;
  const out = k.resources.flatMap((resource) => {
    const path = join(dir, resource);
    if (!existsSync(path)) throw new Error(`${relative(ROOT, file)}: resource ${resource} does not exist`);
    if (statSync(path).isDirectory()) return kustomize(path, seen);
    seen.add(path);
    return loadYamlDocuments(path);
  });
  for (const image of k.images ?? []) {
    for (const { object } of out) {
      const containers = ((object.spec as { template?: { spec?: { containers?: Array<{ image: string }> } } } | undefined)?.template?.spec?.containers) ?? [];
      for (const container of containers) {
        const [name, tag] = splitImage(container.image);
        if (name === image.name) container.image = `${image.newName ?? name}:${image.newTag ?? tag}`;
      }
    }
  }
  return out;
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? [image.slice(0, at), image.slice(at + 1)] : [image, undefined];
}

const key = ({ object }: Manifest) => `${object.kind}/${object.metadata?.name}`;

// ---------------------------------------------------------------------------------------------

const manifests = yamlFiles(KUBE_DIR).flatMap(loadYamlDocuments);
const objects = manifests.filter(({ object }) => object.kind !== 'Kustomization');
const only = (kind: string) => {
  const found = objects.filter(({ object }) => object.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} in deploy/kubernetes, found ${found.length}`);
  return found[0]!.object;
};
const deployment = new Deployment(only('Deployment') as never);
const service = new Service(only('Service') as never);
const pdb = new PodDisruptionBudget(only('PodDisruptionBudget') as never);
const hpa = new HorizontalPodAutoscaler(only('HorizontalPodAutoscaler') as never);
const podMonitor = only('PodMonitor') as { spec: { jobLabel?: string; selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string; path?: string }> } };
const podSpec = deployment.spec!.template.spec!;
const container = podSpec.containers[0]!;
const podLabels = deployment.spec!.template.metadata!.labels ?? {};
const containerPort = (name: string | number) => {
  const port = typeof name === 'number' ? container.ports?.find((p) => p.containerPort === name) : container.ports?.find((p) => p.name === name);
  if (!port) throw new Error(`container has no port ${name}`);
  return port.containerPort;
};

/** The configuration the container runs with: its args over its literal env over the defaults. */
function containerConfig(): Config {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value;
  const outcome = parseConfig(container.args ?? [], env);
  if (outcome.kind !== 'run') throw new Error('container args ask for --help');
  return outcome.config;
}

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

describe('Kubernetes manifests: schemas and structure', () => {
  it('every file parses and every object is a known kind that validates', () => {
    const kinds = manifests.map(key).sort();
    expect(kinds).toEqual([
      'Deployment/tcp-echo',
      'HorizontalPodAutoscaler/tcp-echo',
      'Kustomization/undefined',
      'Kustomization/undefined',
      'Kustomization/undefined',
      'PodDisruptionBudget/tcp-echo',
      'PodMonitor/tcp-echo',
      'Service/tcp-echo',
    ]);
    for (const { file, object } of manifests) {
      const where = `${relative(ROOT, file)} ${object.kind}`;
      const model = MODELS[`${object.apiVersion}/${object.kind}`];
      if (model) expect(() => new model(object as never).validate(), where).not.toThrow();
      else if (object.apiVersion === 'monitoring.coreos.com/v1' && object.kind === 'PodMonitor') expect(podMonitorProblems(object), where).toEqual([]);
      else if (object.apiVersion === 'kustomize.config.k8s.io/v1beta1' && object.kind === 'Kustomization') expect(kustomizationProblems(object), where).toEqual([]);
      else throw new Error(`${where}: no schema to validate ${object.apiVersion} ${object.kind} against`);
    }
  });

  it('the schema validation is live: a wrong type and a bad PodMonitor are rejected', () => {
    const broken = structuredClone(only('Deployment')) as { spec: { template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } } };
    broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'seven thousand';
    expect(() => new Deployment(broken as never).validate()).toThrow(/containerPort/);
    expect(podMonitorProblems({ metadata: { name: 'x' }, spec: { selector: {}, podMetricsEndpoints: [{ port: 8080, intervall: '15s' }] } })).toHaveLength(3);
  });

  it('kustomize entry points list every manifest; the plain one has no PodMonitor, the operator one adds it', () => {
    const seen = new Set<string>();
    const plain = kustomize(KUBE_DIR, seen).map(key).sort();
    const withOperator = kustomize(join(KUBE_DIR, 'prometheus-operator'), seen).map(key).sort();
    expect(plain).toEqual(['Deployment/tcp-echo', 'HorizontalPodAutoscaler/tcp-echo', 'PodDisruptionBudget/tcp-echo', 'Service/tcp-echo']);
    expect(withOperator).toEqual([...plain, 'PodMonitor/tcp-echo'].sort());
    const orphans = yamlFiles(KUBE_DIR).filter((file) => !seen.has(file));
    expect(orphans.map((file) => relative(ROOT, file)), 'manifests no kustomization lists').toEqual([]);
  });

  it('the image placeholder, the kustomize images entry and package.json agree on name and version', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const [name, tag] = splitImage(container.image!);
    const base = parseYaml(readFileSync(join(KUBE_DIR, 'base/kustomization.yaml'), 'utf8')) as Kustomization;
    expect(base.images).toEqual([{ name, newName: name, newTag: version }]);
    expect(tag).toBe(version);
  });

  const kubectl = hasCommand('kubectl');
  if (!kubectl) console.warn("skipping the `kubectl kustomize` build check: kubectl not found (the schema and structure checks above still ran). Debian's kubernetes-client 1.20 bundles a kustomize too old for these files; use kubectl >= 1.21.");
  it.runIf(kubectl)('`kubectl kustomize` builds both entry points to what the checks above validated', () => {
    for (const dir of [KUBE_DIR, join(KUBE_DIR, 'prometheus-operator')]) {
      const built = parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }));
      const rendered = (Array.isArray(built) ? built : [built]).map((doc) => doc.toJS() as Manifest['object']);
      const ours = kustomize(dir).map(({ object }) => object);
      const byKey = (list: Manifest['object'][]) => Object.fromEntries(list.map((object) => [`${object.kind}/${object.metadata?.name}`, object]));
      expect(byKey(rendered), relative(ROOT, dir)).toEqual(byKey(ours));
    }
  });
});

describe('Kubernetes manifests against the service', () => {
  it('every env name is a setting the service reads, apart from the Downward-API extras', () => {
    const env = container.env ?? [];
    expect(unknownSettings(['ECHO_PORT', 'ECHO_PROT', 'NODE_OPTIONS']), 'the check itself').toEqual(['ECHO_PROT', 'NODE_OPTIONS']);
    const literal = env.filter((v) => v.valueFrom === undefined).map((v) => v.name);
    expect(unknownSettings(literal)).toEqual([]);
    for (const variable of env.filter((v) => v.valueFrom !== undefined)) {
      expect(Object.keys(DOWNWARD_ENV), `${variable.name} is not a setting the service reads`).toContain(variable.name);
      expect(variable.valueFrom?.fieldRef?.fieldPath).toBe(DOWNWARD_ENV[variable.name]);
    }
    expect(env.map((v) => v.name)).toEqual(expect.arrayContaining(Object.keys(DOWNWARD_ENV)));
    expect(new Set(env.map((v) => v.name)).size, 'duplicate env names').toBe(env.length);
    expect(() => containerConfig(), 'the container env is a configuration the service accepts').not.toThrow();
  });

  it('container ports are the ports the service listens on, and the defaults of src/config.ts', () => {
    const defaults = parseConfig([], {});
    if (defaults.kind !== 'run') throw new Error('unexpected help');
    const config = containerConfig();
    expect(containerPort('echo')).toBe(config.echo.port);
    expect(containerPort('metrics')).toBe(config.http.port);
    expect([config.echo.port, config.http.port]).toEqual([defaults.config.echo.port, defaults.config.http.port]);
    expect(container.ports?.every((p) => (p.protocol ?? 'TCP') === 'TCP')).toBe(true);
  });

  it('probes: readiness /readyz, liveness /livez, a startup probe, all on the sidecar port; each path answers 200 on a running service', async () => {
    const probes = { readiness: container.readinessProbe, liveness: container.livenessProbe, startup: container.startupProbe };
    expect(probes.readiness?.httpGet?.path).toBe('/readyz');
    expect(probes.liveness?.httpGet?.path).toBe('/livez');
    for (const [name, probe] of Object.entries(probes)) {
      const httpGet = probe?.httpGet;
      expect(httpGet, `${name} probe`).toBeDefined();
      expect(containerPort(httpGet!.port), `${name} probe port`).toBe(containerConfig().http.port);
      const response = await httpRequest(running.httpPort, httpGet!.path!);
      expect(response.status, `GET ${httpGet!.path} (${name} probe)`).toBe(200);
    }
    // A startup probe that allows too little time would restart a slow-starting pod forever.
    const startup = probes.startup!;
    expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3)).toBeGreaterThanOrEqual(10);
  });

  it('graceful shutdown: the grace period outlasts the drain deadline, and a delay lets endpoints go first', () => {
    const { shutdown } = containerConfig();
    expect(podSpec.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(shutdown.timeoutMs);
    expect(shutdown.delayMs).toBeGreaterThan(0);
    // The delay counts inside the deadline; leave most of it for the drain itself.
    expect(shutdown.delayMs).toBeLessThanOrEqual(shutdown.timeoutMs / 2);
  });

  it('security context: non-root, read-only root, no privilege escalation, ALL capabilities dropped, RuntimeDefault seccomp', () => {
    const pod = podSpec.securityContext!;
    const own = container.securityContext!;
    expect(pod.runAsNonRoot || own.runAsNonRoot).toBe(true);
    expect(own.runAsUser ?? pod.runAsUser).toBeGreaterThan(0);
    expect(own.readOnlyRootFilesystem).toBe(true);
    expect(own.allowPrivilegeEscalation).toBe(false);
    expect(own.capabilities?.drop).toEqual(['ALL']);
    expect(own.capabilities?.add ?? []).toEqual([]);
    expect((own.seccompProfile ?? pod.seccompProfile)?.type).toBe('RuntimeDefault');
  });

  it('resources: CPU and memory requests and limits, a CPU request for the HPA to scale on', () => {
    const { requests, limits } = container.resources ?? {};
    for (const resource of ['cpu', 'memory']) {
      expect(requests?.[resource], `requests.${resource}`).toBeDefined();
      expect(limits?.[resource], `limits.${resource}`).toBeDefined();
    }
    const cpuTarget = hpa.spec!.metrics!.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
    expect(cpuTarget?.resource?.target.type).toBe('Utilization');
  });

  it('the Service exposes the echo port and a named metrics port, by the container port names', () => {
    const ports = service.spec!.ports!;
    const echo = ports.find((p) => p.name === 'echo');
    const metrics = ports.find((p) => p.name === 'metrics');
    expect(echo && containerPort(echo.targetPort!)).toBe(containerConfig().echo.port);
    expect(metrics && containerPort(metrics.targetPort!)).toBe(containerConfig().http.port);
    expect(ports.every((p) => typeof p.targetPort === 'string'), 'target ports by name, not number').toBe(true);
    // Meshes read appProtocol: the echo port is opaque TCP, not something to sniff.
    expect([echo?.appProtocol, metrics?.appProtocol]).toEqual(['tcp', 'http']);
  });

  it('selectors of the Deployment, Service, PodDisruptionBudget and PodMonitor select the pods; the HPA targets the Deployment', () => {
    const selects = (matchLabels: Record<string, string> | undefined) => Object.keys(matchLabels ?? {}).length > 0 && Object.entries(matchLabels ?? {}).every(([k, v]) => podLabels[k] === v);
    expect(selects(deployment.spec!.selector.matchLabels), 'Deployment').toBe(true);
    expect(selects(service.spec!.selector), 'Service').toBe(true);
    expect(selects(pdb.spec!.selector?.matchLabels), 'PodDisruptionBudget').toBe(true);
    expect(selects(podMonitor.spec.selector.matchLabels), 'PodMonitor').toBe(true);
    expect(hpa.spec!.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata!.name });
    // The HPA owns the replica count; a PDB allowing one disruption still leaves a pod serving.
    expect(deployment.spec!.replicas).toBeUndefined();
    expect(hpa.spec!.minReplicas).toBeGreaterThanOrEqual(2);
    expect(pdb.spec!.maxUnavailable).toBe(1);
  });

  it('scraping: prometheus.io annotations and the PodMonitor point at the sidecar /metrics, which serves Prometheus text', async () => {
    const annotations = deployment.spec!.template.metadata!.annotations ?? {};
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(containerConfig().http.port);
    const [endpoint] = podMonitor.spec.podMetricsEndpoints;
    expect(containerPort(endpoint!.port)).toBe(containerConfig().http.port);
    expect(endpoint!.path ?? '/metrics').toBe(annotations['prometheus.io/path']);
    // The job label the alerts select on comes from this pod label.
    expect(podLabels[podMonitor.spec.jobLabel!]).toBe('tcp-echo');
    const response = await httpRequest(running.httpPort, annotations['prometheus.io/path']!);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
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
    expect(matches(`${deployment.metadata!.name}-6d4cf56db6-x7k2p`)).toBe(true);
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
