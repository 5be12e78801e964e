// The Kubernetes half of the deploy kit (deploy/kubernetes, and deploy/grafana's kustomization):
// every entry point rendered by the real `kubectl kustomize`, every object it renders validated
// against its schema (test/support/k8s-schemas.ts), and every setting, port, probe, route and
// reference checked against the service itself: its config parser, and a running instance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IServiceSpec } from 'kubernetes-models/v1/ServiceSpec';
import { parseConfig } from '../../src/config/parse.js';
import { SETTINGS } from '../../src/config/settings.js';
import type { Config, ListenerSpec } from '../../src/config/types.js';
import { schemaProblems, type K8sObject } from '../support/k8s-schemas.js';
import { kubectlKustomizeAvailable, kustomizations, kustomizeBuild, yamlFiles } from '../support/kustomize.js';
import { httpRequest } from '../support/metrics.js';
import { prometheusRuleYaml } from '../support/prometheus-rule.js';
import { startService, type RunningService } from '../support/service.js';
import { requireAllTests } from '../support/tools.js';
import { canBindUdp6 } from '../support/udp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY_DIR = join(ROOT, 'deploy');
const KIT_DIRS = [join(DEPLOY_DIR, 'kubernetes'), join(DEPLOY_DIR, 'grafana')];
const ALERTS = join(DEPLOY_DIR, 'prometheus/alerts.yml');
const DASHBOARD = join(DEPLOY_DIR, 'grafana/dashboard.json');
const PROMETHEUS_RULE = join(DEPLOY_DIR, 'kubernetes/prometheus-operator/prometheusrule.yaml');

const BASE = ['Deployment/tcp-echo', 'HorizontalPodAutoscaler/tcp-echo', 'PodDisruptionBudget/tcp-echo', 'Service/tcp-echo'];
const DASHBOARD_CONFIGMAP = 'ConfigMap/tcp-echo-dashboard';

/** Every entry point (a kustomization that is not a Component), what it renders and the listeners its pods run. */
const ENTRY_POINTS: Record<string, { objects: string[]; listeners?: string[] }> = {
  'deploy/kubernetes': { objects: BASE, listeners: ['tcp://*:7000'] },
  'deploy/kubernetes/base': { objects: BASE, listeners: ['tcp://*:7000'] },
  'deploy/kubernetes/prometheus-operator': { objects: [...BASE, DASHBOARD_CONFIGMAP, 'PodMonitor/tcp-echo', 'PrometheusRule/tcp-echo'], listeners: ['tcp://*:7000'] },
  'deploy/kubernetes/tls': { objects: [...BASE, 'Certificate/tcp-echo'], listeners: ['tcp://*:7000', 'tls://*:7443'] },
  'deploy/kubernetes/gateway-api': {
    objects: [...BASE, 'Certificate/tcp-echo', 'Gateway/tcp-echo', 'TCPRoute/tcp-echo', 'TLSRoute/tcp-echo', 'UDPRoute/tcp-echo'],
    listeners: ['tcp://*:7000', 'udp://*:7000', 'tls://*:7443'],
  },
  'deploy/kubernetes/load-balancer-proxy/aws': { objects: BASE, listeners: ['tcp+proxy://*:7000'] },
  'deploy/kubernetes/load-balancer-proxy/digitalocean': { objects: BASE, listeners: ['tcp+proxy://*:7000'] },
  'deploy/kubernetes/load-balancer-proxy/hetzner': { objects: BASE, listeners: ['tcp+proxy://*:7000'] },
  'deploy/grafana': { objects: [DASHBOARD_CONFIGMAP] },
};

/**
 * What each cloud's controller needs to send PROXY headers (and what else this kit sets), as
 * docs/deploying.md#external-load-balancer-with-proxy-protocol explains; the annotation names
 * were checked against each controller's own documentation or source.
 */
const CLOUD_ANNOTATIONS: Record<string, Record<string, string>> = {
  aws: {
    'service.beta.kubernetes.io/aws-load-balancer-proxy-protocol': '*',
    'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
    'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing',
    'service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol': 'http',
    'service.beta.kubernetes.io/aws-load-balancer-healthcheck-port': '8080',
    'service.beta.kubernetes.io/aws-load-balancer-healthcheck-path': '/readyz',
    'service.beta.kubernetes.io/aws-load-balancer-target-group-attributes': 'deregistration_delay.timeout_seconds=30',
  },
  digitalocean: {
    'service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol': 'true',
    'service.beta.kubernetes.io/do-loadbalancer-type': 'REGIONAL',
  },
  hetzner: {
    'load-balancer.hetzner.cloud/uses-proxyprotocol': 'true',
    'load-balancer.hetzner.cloud/location': 'fsn1',
  },
};

/** Env vars the Deployment sets through the Downward API; the service does not read them (ECHO_BANNER can show them). */
const DOWNWARD_ENV: Record<string, string> = { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' };

// ---------------------------------------------------------------------------------------------

const rel = (path: string) => relative(ROOT, path) || '.';
const key = (object: K8sObject) => `${object.kind}/${object.metadata?.name}`;
const kits = KIT_DIRS.flatMap(kustomizations);
const entryDirs = kits.filter((k) => k.kind === 'Kustomization').map((k) => rel(k.dir)).sort();

const kubectl = kubectlKustomizeAvailable();
const prometheusRuleAtRender = parseYaml(readFileSync(PROMETHEUS_RULE, 'utf8')) as K8sObject;
const rendered = new Map<string, K8sObject[]>(kubectl ? entryDirs.map((dir) => [dir, kustomizeBuild(join(ROOT, dir))]) : []);
const withPods = Object.keys(ENTRY_POINTS).filter((dir) => ENTRY_POINTS[dir]!.listeners);
const withTls = withPods.filter((dir) => ENTRY_POINTS[dir]!.listeners!.some((l) => l.startsWith('tls')));
const clouds = Object.keys(CLOUD_ANNOTATIONS);

function object(dir: string, name: string): K8sObject {
  const found = (rendered.get(dir) ?? []).find((o) => key(o) === name);
  if (!found) throw new Error(`${dir} renders no ${name}`);
  return found;
}
const kinds = (dir: string, kind: string) => (rendered.get(dir) ?? []).filter((o) => o.kind === kind);

/** The pod template's parts, and the configuration its container runs with. */
function pod(dir: string) {
  const deployment = object(dir, 'Deployment/tcp-echo') as K8sObject & { spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: IPodSpec } } };
  const spec = deployment.spec.template.spec;
  const container = spec.containers[0] as IContainer;
  const containerPort = (name: string | number) => {
    const port = container.ports?.find((p) => (typeof name === 'number' ? p.containerPort === name : p.name === name));
    if (!port) throw new Error(`${dir}: the container has no port ${name}`);
    return port;
  };
  return { deployment, spec, container, labels: deployment.spec.template.metadata.labels, annotations: deployment.spec.template.metadata.annotations ?? {}, config: containerConfig(container), containerPort };
}

/** The configuration a container runs with: its args over its literal env over the defaults, through the service's own parser. */
function containerConfig(container: IContainer): Config {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value;
  const outcome = parseConfig(container.args ?? [], env);
  if (outcome.kind !== 'run') throw new Error('container args ask for --help');
  return outcome.config;
}

/** The environment variables the service reads: its settings table, which the parser, --help and docs/configuration.md all follow. */
const SETTING_ENV = new Set(Object.values(SETTINGS).map((setting) => setting.env));

const service = (dir: string) => object(dir, 'Service/tcp-echo') as K8sObject & { spec: IServiceSpec };
const transportProtocol = (listener: ListenerSpec) => (listener.transport === 'udp' ? 'UDP' : 'TCP');
/** The listener a Service port reaches: by its target port's name to a container port, then by number and protocol. */
function listenerBehind(dir: string, servicePort: { targetPort?: string | number; protocol?: string }): ListenerSpec | undefined {
  const { config, containerPort } = pod(dir);
  const target = containerPort(servicePort.targetPort!);
  return config.listeners.find((l) => l.port === target.containerPort && transportProtocol(l) === (target.protocol ?? 'TCP'));
}

// ---------------------------------------------------------------------------------------------

describe('Kustomize layout (read from the files; needs no kubectl)', () => {
  it('the entry points are the ones this test knows: a new overlay needs its row in ENTRY_POINTS', () => {
    expect(entryDirs).toEqual(Object.keys(ENTRY_POINTS).sort());
  });

  it('every YAML file in the kit is named by a kustomization: no manifest lies there unused', () => {
    const named = new Set(kits.flatMap((k) => [join(k.dir, 'kustomization.yaml'), ...k.references]));
    // deploy/kubernetes/examples/ holds objects applied by hand, on their own (test/unit/probe/job-example.test.ts checks the probe Job).
    const orphans = KIT_DIRS.flatMap(yamlFiles).filter((file) => !named.has(file) && !file.startsWith(join(DEPLOY_DIR, 'kubernetes/examples/')));
    expect(orphans.map(rel)).toEqual([]);
  });

  it('every resource file holds whole objects that validate by their schema (patches are checked once rendered)', () => {
    const files = [...new Set(kits.flatMap((k) => k.resourceFiles))];
    const validated = new Set<string>();
    for (const file of files) {
      for (const doc of readFileSync(file, 'utf8').split(/^---$/m).map((text) => parseYaml(text) as K8sObject | null)) {
        if (!doc) continue;
        expect(schemaProblems(doc), `${rel(file)} ${key(doc)}`).toEqual([]);
        validated.add(doc.kind!);
      }
    }
    expect([...validated].sort()).toEqual(['Certificate', 'Deployment', 'Gateway', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'PodMonitor', 'PrometheusRule', 'Service', 'TCPRoute', 'TLSRoute', 'UDPRoute']);
  });

  it('the image placeholder, the kustomize images entry and package.json agree on name and version', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const deployment = parseYaml(readFileSync(join(DEPLOY_DIR, 'kubernetes/base/deployment.yaml'), 'utf8')) as { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
    const image = deployment.spec.template.spec.containers[0]!.image;
    const name = image.slice(0, image.lastIndexOf(':'));
    const base = parseYaml(readFileSync(join(DEPLOY_DIR, 'kubernetes/base/kustomization.yaml'), 'utf8')) as { images: unknown };
    expect(base.images).toEqual([{ name, newName: name, newTag: version }]);
    expect(image).toBe(`${name}:${version}`);
  });

  it('the PrometheusRule is alerts.yml, generated: the file as the generator writes it, and the same rules', async () => {
    // The file is what the generator makes (`-u` rewrites it, when the test file ends)...
    const alerts = readFileSync(ALERTS, 'utf8');
    const generated = prometheusRuleYaml(alerts);
    await expect(generated).toMatchFileSnapshot(PROMETHEUS_RULE);
    // ...and what the generator makes holds exactly the rules of alerts.yml.
    expect((parseYaml(generated) as { spec: unknown }).spec, 'spec = alerts.yml').toEqual(parseYaml(alerts));
  });
});

describe('the schema checks are live', () => {
  it('reject a wrong type, a misspelt field, a second rule in a v1 TCPRoute, a hostname on a TCP listener, an unknown kind', () => {
    const deployment = parseYaml(readFileSync(join(DEPLOY_DIR, 'kubernetes/base/deployment.yaml'), 'utf8')) as K8sObject & { spec: { template: { spec: Record<string, unknown> & { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } } };
    expect(schemaProblems(deployment)).toEqual([]);
    const wrongType = structuredClone(deployment);
    wrongType.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'seven thousand';
    expect(schemaProblems(wrongType).join('\n')).toMatch(/containerPort/);
    const misspelt = structuredClone(deployment);
    misspelt.spec.template.spec.toplogySpreadConstraints = misspelt.spec.template.spec.topologySpreadConstraints;
    expect(schemaProblems(misspelt)).toEqual(['spec.template.spec.toplogySpreadConstraints is not a field of apps/v1/Deployment']);

    const rule = { backendRefs: [{ name: 'tcp-echo', port: 7000 }] };
    const route = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'TCPRoute', metadata: { name: 'r' }, spec: { parentRefs: [{ name: 'g' }], rules: [rule] } };
    expect(schemaProblems(route)).toEqual([]);
    expect(schemaProblems({ ...route, spec: { ...route.spec, rules: [rule, rule] } })).toEqual(['spec.rules: at most 1 in TCPRoute v1']);
    expect(schemaProblems({ ...route, spec: { ...route.spec, rules: [{ backendRefs: [{ name: 'tcp-echo' }] }] } })).toEqual(['backendRef tcp-echo: Must have port for Service reference']);
    expect(schemaProblems({ ...route, spec: { ...route.spec, rulez: [] } })).toEqual(['spec.rulez is not a field of gateway.networking.k8s.io/v1/TCPRoute']);

    const gateway = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: { gatewayClassName: 'c', listeners: [{ name: 'a', protocol: 'TCP', port: 7000, hostname: 'echo.example.com' }] } };
    expect(schemaProblems(gateway)).toEqual(["a: hostname must not be specified for protocols ['TCP', 'UDP']"]);
    expect(schemaProblems({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'c' }, spec: { secretName: 's', issuerRef: { name: 'i' }, renewBfore: '720h' } })).toEqual(['spec.renewBfore is not a field of cert-manager.io/v1/Certificate']);
    expect(schemaProblems({ apiVersion: 'v1', kind: 'Secret' })).toEqual(['no schema for v1/Secret']);
  });
});

// ---------------------------------------------------------------------------------------------
// Rendered by kubectl kustomize

describe.runIf(kubectl)('every entry point, as `kubectl kustomize` renders it', () => {
  it.each(Object.keys(ENTRY_POINTS))('%s: the expected objects, each valid by its schema, names unique', (dir) => {
    const objects = rendered.get(dir)!;
    expect(objects.map(key).sort()).toEqual([...ENTRY_POINTS[dir]!.objects].sort());
    for (const o of objects) expect(schemaProblems(o), `${dir} ${key(o)}`).toEqual([]);
  });

  it('deploy/kubernetes renders the same objects as its base', () => {
    expect(rendered.get('deploy/kubernetes')).toEqual(rendered.get('deploy/kubernetes/base'));
  });
});

describe.runIf(kubectl).each(withPods)('%s: the pods against the service', (dir) => {
  it('every env name is a setting the service reads, apart from the Downward-API extras, and its config parser accepts the env', () => {
    const { container } = pod(dir);
    const env = container.env ?? [];
    expect(['ECHO_LISTENERS', 'ECHO_TLS_CERT', 'HTTP_PORT'].every((name) => SETTING_ENV.has(name)) && !SETTING_ENV.has('ECHO_LISTENER'), 'the table itself').toBe(true);
    for (const variable of env.filter((v) => v.valueFrom === undefined)) expect(SETTING_ENV.has(variable.name), `${variable.name} is not a setting`).toBe(true);
    for (const variable of env.filter((v) => v.valueFrom !== undefined)) {
      expect(Object.keys(DOWNWARD_ENV), `${variable.name} is not a setting the service reads`).toContain(variable.name);
      expect(variable.valueFrom?.fieldRef?.fieldPath).toBe(DOWNWARD_ENV[variable.name]);
    }
    expect(new Set(env.map((v) => v.name)).size, 'duplicate env names').toBe(env.length);
    // With ECHO_LISTENERS set, ECHO_HOST and ECHO_PORT would be ignored: a sign of a mistake.
    if (env.some((v) => v.name === 'ECHO_LISTENERS')) expect(env.map((v) => v.name)).not.toEqual(expect.arrayContaining(['ECHO_PORT']));
    if (env.some((v) => v.name === 'ECHO_LISTENERS')) expect(env.map((v) => v.name)).not.toEqual(expect.arrayContaining(['ECHO_HOST']));
    expect(() => containerConfig(container)).not.toThrow();
  });

  it('the listeners are the expected ones, each on every address family with a container port of its protocol; no other ports but the sidecar', () => {
    const { config, container, containerPort } = pod(dir);
    expect(config.listeners.map((l) => l.name)).toEqual(ENTRY_POINTS[dir]!.listeners);
    // `*` = every family: the pods answer on IPv4 and IPv6 (the dual-stack Service reaches both).
    for (const listener of config.listeners) expect(listener.host, listener.name).toBe('*');
    expect(config.http.host, 'HTTP_HOST').toBe('*');
    for (const listener of config.listeners) {
      const port = container.ports?.find((p) => p.containerPort === listener.port && (p.protocol ?? 'TCP') === transportProtocol(listener));
      expect(port, `container port for ${listener.name}`).toBeDefined();
    }
    expect(containerPort('metrics').containerPort).toBe(config.http.port);
    for (const port of container.ports ?? []) {
      const isListener = config.listeners.some((l) => l.port === port.containerPort && transportProtocol(l) === (port.protocol ?? 'TCP'));
      expect(isListener || port.name === 'metrics', `container port ${port.name} serves nothing`).toBe(true);
      expect(port.name ?? '', 'IANA_SVC_NAME: at most 15 characters').toMatch(/^(?=.{1,15}$)[a-z0-9]+(-[a-z0-9]+)*$/);
    }
    expect(new Set(container.ports?.map((p) => p.name)).size).toBe(container.ports?.length);
  });

  it('the Service: dual-stack, selects the pods, every port by name to a container port of its protocol', () => {
    const { labels, containerPort } = pod(dir);
    const spec = service(dir).spec;
    expect(spec.ipFamilyPolicy).toBe('PreferDualStack');
    expect(Object.entries(spec.selector ?? {}).every(([k, v]) => labels[k] === v) && Object.keys(spec.selector ?? {}).length > 0).toBe(true);
    for (const port of spec.ports ?? []) {
      expect(typeof port.targetPort, `${port.name}: target port by name`).toBe('string');
      expect(containerPort(port.targetPort!).protocol ?? 'TCP', `${port.name} protocol`).toBe(port.protocol ?? 'TCP');
      expect(port.name === 'metrics' || listenerBehind(dir, port) !== undefined, `${port.name} reaches a listener`).toBe(true);
      // Meshes read appProtocol: the echo ports are opaque TCP, the sidecar HTTP.
      if ((port.protocol ?? 'TCP') === 'TCP') expect(port.appProtocol, port.name).toBe(port.name === 'metrics' ? 'http' : 'tcp');
    }
    const ports = (spec.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`);
    expect(new Set(ports).size, 'port and protocol unique').toBe(ports.length);
  });

  it('probes: startup and liveness /livez, readiness /readyz, all httpGet on the sidecar port', () => {
    const { container, config, containerPort } = pod(dir);
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(container.livenessProbe?.httpGet?.path).toBe('/livez');
    expect(container.startupProbe?.httpGet?.path).toBe('/livez');
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
      expect(containerPort(probe!.httpGet!.port).containerPort).toBe(config.http.port);
      expect(probe!.httpGet!.host, 'the pod IP, not a fixed host').toBeUndefined();
    }
    const startup = container.startupProbe!;
    expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3), 'time to start').toBeGreaterThanOrEqual(10);
  });

  it('spread: strictly across nodes, preferably across zones, over this Deployment\'s pods only', () => {
    const { spec, labels } = pod(dir);
    const constraints = spec.topologySpreadConstraints ?? [];
    expect(constraints.map((c) => [c.topologyKey, c.whenUnsatisfiable, c.maxSkew])).toEqual([
      ['kubernetes.io/hostname', 'DoNotSchedule', 1],
      ['topology.kubernetes.io/zone', 'ScheduleAnyway', 1],
    ]);
    for (const c of constraints) {
      expect(Object.entries(c.labelSelector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v)).toBe(true);
      expect(c.matchLabelKeys).toEqual(['pod-template-hash']);
    }
    // A cordoned or tainted node must not count as a domain, or a drain could leave a pod Pending.
    expect(constraints[0]!.nodeTaintsPolicy).toBe('Honor');
  });

  it('graceful shutdown: the grace period outlasts the drain deadline, and a delay lets endpoints go first', () => {
    const { spec, config } = pod(dir);
    expect(spec.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(config.shutdown.timeoutMs);
    expect(config.shutdown.delayMs).toBeGreaterThan(0);
    expect(config.shutdown.delayMs).toBeLessThanOrEqual(config.shutdown.timeoutMs / 2);
  });

  it('security context: non-root, read-only root, no privilege escalation, ALL capabilities dropped, RuntimeDefault seccomp', () => {
    const { spec, container } = pod(dir);
    const own = container.securityContext!;
    expect(spec.securityContext?.runAsNonRoot || own.runAsNonRoot).toBe(true);
    expect(own.runAsUser ?? spec.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(own.readOnlyRootFilesystem).toBe(true);
    expect(own.allowPrivilegeEscalation).toBe(false);
    expect(own.capabilities?.drop).toEqual(['ALL']);
    expect(own.capabilities?.add ?? []).toEqual([]);
    expect((own.seccompProfile ?? spec.securityContext?.seccompProfile)?.type).toBe('RuntimeDefault');
  });

  it('resources, the HPA and the PDB: requests and limits, CPU scaling on the Deployment, one pod at a time', () => {
    const { container, deployment, labels } = pod(dir);
    for (const resource of ['cpu', 'memory']) {
      expect(container.resources?.requests?.[resource], `requests.${resource}`).toBeDefined();
      expect(container.resources?.limits?.[resource], `limits.${resource}`).toBeDefined();
    }
    const hpa = object(dir, 'HorizontalPodAutoscaler/tcp-echo') as K8sObject & { spec: { scaleTargetRef: unknown; minReplicas: number; metrics: Array<{ type: string; resource?: { name: string; target: { type: string } } }> } };
    const pdb = object(dir, 'PodDisruptionBudget/tcp-echo') as K8sObject & { spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } };
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'tcp-echo' });
    expect(hpa.spec.metrics.find((m) => m.resource?.name === 'cpu')?.resource?.target.type).toBe('Utilization');
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    // The HPA owns the replica count.
    expect(deployment.spec.replicas).toBeUndefined();
    expect(pdb.spec.maxUnavailable).toBe(1);
    for (const selector of [deployment.spec.selector.matchLabels, pdb.spec.selector.matchLabels]) expect(Object.entries(selector).every(([k, v]) => labels[k] === v)).toBe(true);
  });

  it('scraping annotations point at the sidecar /metrics', () => {
    const { annotations, config } = pod(dir);
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(config.http.port);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
  });
});

describe.runIf(kubectl).each(withTls)('%s: TLS from a cert-manager Certificate', (dir) => {
  it('the certificate and key are read from the Certificate\'s Secret, mounted whole (so renewals reach the pod) and readable by the service only', () => {
    const { config, container, spec } = pod(dir);
    const certificate = object(dir, 'Certificate/tcp-echo') as K8sObject & { spec: { secretName: string } };
    const volume = spec.volumes?.find((v) => v.secret?.secretName === certificate.spec.secretName);
    expect(volume, 'a volume of the Certificate\'s Secret').toBeDefined();
    const mount = container.volumeMounts?.find((m) => m.name === volume!.name);
    expect(mount?.readOnly).toBe(true);
    // A subPath mount is a copy that the kubelet never updates: a renewal would not arrive.
    expect(mount?.subPath).toBeUndefined();
    expect(config.tls?.certFile).toBe(`${mount!.mountPath}/tls.crt`);
    expect(config.tls?.keyFile).toBe(`${mount!.mountPath}/tls.key`);
    expect(volume!.secret!.defaultMode).toBe(0o440);
    expect(spec.securityContext?.fsGroup, 'group owner of the Secret files').toBe(container.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup);
  });

  it('cert-manager renews long before the certificate alert fires', () => {
    const certificate = object(dir, 'Certificate/tcp-echo') as K8sObject & { spec: { duration: string; renewBefore: string; privateKey: { rotationPolicy: string } } };
    const hours = (d: string) => Number(/^(\d+)h$/.exec(d)?.[1] ?? NaN);
    const alerts = parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; expr: string }> }> };
    const soon = alerts.groups.flatMap((g) => g.rules).find((r) => r.alert === 'TcpEchoCertificateExpiresSoon')!;
    const alertDays = Number(/<\s*(\d+)\s*\*\s*86400/.exec(soon.expr)?.[1]);
    expect(alertDays).toBe(14);
    expect(hours(certificate.spec.renewBefore) / 24).toBeGreaterThanOrEqual(alertDays * 2);
    expect(hours(certificate.spec.duration)).toBeGreaterThan(hours(certificate.spec.renewBefore));
    expect(certificate.spec.privateKey.rotationPolicy).toBe('Always');
  });
});

describe.runIf(kubectl)('deploy/kubernetes/gateway-api: the Gateway, its routes and the Service', () => {
  const dir = 'deploy/kubernetes/gateway-api';
  const ROUTES: Record<string, { listenerProtocol: string; serviceProtocol: string; scheme: string }> = {
    TCPRoute: { listenerProtocol: 'TCP', serviceProtocol: 'TCP', scheme: 'tcp' },
    UDPRoute: { listenerProtocol: 'UDP', serviceProtocol: 'UDP', scheme: 'udp' },
    TLSRoute: { listenerProtocol: 'TLS', serviceProtocol: 'TCP', scheme: 'tls' },
  };
  interface Route { kind: string; metadata: { name: string }; spec: { parentRefs: Array<{ name: string; sectionName?: string }>; hostnames?: string[]; rules: Array<{ backendRefs: Array<{ name: string; port: number }> }> } }
  interface GatewayListener { name: string; protocol: string; port: number; hostname?: string; tls?: { mode?: string }; allowedRoutes?: { kinds?: Array<{ group?: string; kind: string }> } }

  it('uses the apiVersions that are GA in Gateway API v1.6 (standard channel): v1 for Gateway, TCPRoute, UDPRoute and TLSRoute', () => {
    const gatewayApi = (rendered.get(dir) ?? []).filter((o) => o.apiVersion?.startsWith('gateway.networking.k8s.io/'));
    expect(gatewayApi.map((o) => `${o.apiVersion} ${o.kind}`).sort()).toEqual(['Gateway', 'TCPRoute', 'TLSRoute', 'UDPRoute'].map((k) => `gateway.networking.k8s.io/v1 ${k}`));
  });

  it('each route attaches to a listener of its protocol that allows its kind, and reaches, through a Service port of its protocol, a listener of its scheme', () => {
    const gateway = object(dir, 'Gateway/tcp-echo') as K8sObject & { spec: { listeners: GatewayListener[] } };
    const routes = Object.keys(ROUTES).flatMap((kind) => kinds(dir, kind)) as unknown as Route[];
    expect(routes.map((r) => r.kind).sort()).toEqual(Object.keys(ROUTES).sort());
    for (const route of routes) {
      const expected = ROUTES[route.kind]!;
      for (const ref of route.spec.parentRefs) {
        expect(ref.name).toBe(gateway.metadata!.name);
        const listener = gateway.spec.listeners.find((l) => l.name === ref.sectionName);
        expect(listener?.protocol, `${route.kind} parent ${ref.sectionName}`).toBe(expected.listenerProtocol);
        expect(listener?.allowedRoutes?.kinds?.map((k) => k.kind)).toEqual([route.kind]);
      }
      for (const backend of route.spec.rules.flatMap((r) => r.backendRefs)) {
        expect(backend.name).toBe('tcp-echo');
        const servicePort = service(dir).spec.ports?.find((p) => p.port === backend.port && (p.protocol ?? 'TCP') === expected.serviceProtocol);
        expect(servicePort, `${route.kind}: Service port ${backend.port}/${expected.serviceProtocol}`).toBeDefined();
        expect(listenerBehind(dir, servicePort!)?.scheme, `${route.kind} reaches`).toBe(expected.scheme);
      }
    }
  });

  it('TLS is passed through to the pods, for names their certificate holds', () => {
    const gateway = object(dir, 'Gateway/tcp-echo') as K8sObject & { spec: { listeners: GatewayListener[] } };
    const tlsRoute = object(dir, 'TLSRoute/tcp-echo') as unknown as Route;
    const certificate = object(dir, 'Certificate/tcp-echo') as K8sObject & { spec: { dnsNames: string[] } };
    const listener = gateway.spec.listeners.find((l) => l.protocol === 'TLS')!;
    expect(listener.tls?.mode).toBe('Passthrough');
    expect(certificate.spec.dnsNames).toContain(listener.hostname);
    for (const hostname of tlsRoute.spec.hostnames ?? []) expect(certificate.spec.dnsNames).toContain(hostname);
  });

  it('the Service carries TCP and UDP 7000 side by side (which needs server-side apply, as the kustomization says)', () => {
    expect((service(dir).spec.ports ?? []).filter((p) => p.port === 7000).map((p) => p.protocol).sort()).toEqual(['TCP', 'UDP']);
    expect(readFileSync(join(ROOT, dir, 'kustomization.yaml'), 'utf8')).toContain('kubectl apply --server-side -k deploy/kubernetes/gateway-api');
  });
});

describe.runIf(kubectl).each(clouds)('deploy/kubernetes/load-balancer-proxy/%s: a cloud load balancer sending PROXY headers', (cloud) => {
  const dir = `deploy/kubernetes/load-balancer-proxy/${cloud}`;

  it('a LoadBalancer Service, externalTrafficPolicy Local, whose every port reaches a PROXY listener; the sidecar stays off it', () => {
    const spec = service(dir).spec;
    expect(spec.type).toBe('LoadBalancer');
    expect(spec.externalTrafficPolicy).toBe('Local');
    expect(spec.ports?.map((p) => p.name)).toEqual(['echo']);
    for (const port of spec.ports ?? []) expect(listenerBehind(dir, port)?.proxy, `${port.name} reads PROXY headers`).toBe(true);
  });

  it("the cloud controller's annotations", () => {
    expect(service(dir).metadata?.annotations).toEqual(CLOUD_ANNOTATIONS[cloud]);
  });
});

describe.runIf(kubectl)('deploy/kubernetes/load-balancer-proxy/aws: NLB specifics', () => {
  const dir = 'deploy/kubernetes/load-balancer-proxy/aws';
  it('handed to the AWS Load Balancer Controller, health-checked on the sidecar readiness path', () => {
    const { config } = pod(dir);
    const annotations = service(dir).metadata!.annotations!;
    expect(service(dir).spec.loadBalancerClass).toBe('service.k8s.aws/nlb');
    expect(Number(annotations['service.beta.kubernetes.io/aws-load-balancer-healthcheck-port'])).toBe(config.http.port);
    expect(annotations['service.beta.kubernetes.io/aws-load-balancer-healthcheck-path']).toBe('/readyz');
    // Deregistration should not hold a draining pod's target much beyond the drain.
    const delay = Number(/deregistration_delay\.timeout_seconds=(\d+)/.exec(annotations['service.beta.kubernetes.io/aws-load-balancer-target-group-attributes']!)?.[1]);
    expect(delay * 1000).toBeGreaterThan(config.shutdown.timeoutMs);
    expect(delay).toBeLessThanOrEqual(pod(dir).spec.terminationGracePeriodSeconds!);
  });
});

describe.runIf(kubectl)('deploy/kubernetes/prometheus-operator: PodMonitor, PrometheusRule, dashboard', () => {
  const dir = 'deploy/kubernetes/prometheus-operator';

  it('the PodMonitor scrapes the sidecar /metrics by port name and sets job="tcp-echo" from a pod label', () => {
    const { labels, config, containerPort } = pod(dir);
    const podMonitor = object(dir, 'PodMonitor/tcp-echo') as K8sObject & { spec: { jobLabel: string; selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string; path: string }> } };
    expect(Object.entries(podMonitor.spec.selector.matchLabels).every(([k, v]) => labels[k] === v)).toBe(true);
    const [endpoint] = podMonitor.spec.podMetricsEndpoints;
    expect(containerPort(endpoint!.port).containerPort).toBe(config.http.port);
    expect(endpoint!.path).toBe('/metrics');
    // The alerts select job="tcp-echo".
    expect(labels[podMonitor.spec.jobLabel]).toBe('tcp-echo');
  });

  it('the PrometheusRule is prometheusrule.yaml as is (which the layout test holds to alerts.yml)', () => {
    // Compared with the file as it was when kustomize rendered it: a `-u` run rewrites it later.
    expect(object(dir, 'PrometheusRule/tcp-echo')).toEqual(prometheusRuleAtRender);
  });

  it('the dashboard ConfigMap: dashboard.json byte for byte, labelled for the Grafana sidecar, no hash suffix, small enough for client-side apply', () => {
    const configMap = object(dir, DASHBOARD_CONFIGMAP) as K8sObject & { data: Record<string, string> };
    expect(configMap.metadata?.labels?.grafana_dashboard).toBe('1');
    expect(Object.keys(configMap.data)).toEqual(['tcp-echo.json']);
    expect(configMap.data['tcp-echo.json']).toBe(readFileSync(DASHBOARD, 'utf8'));
    expect(rendered.get('deploy/grafana')).toEqual([configMap]);
    // kubectl apply (client-side) copies the object into an annotation limited to 256 KiB.
    expect(Buffer.byteLength(JSON.stringify(configMap))).toBeLessThan(256 * 1024);
  });
});

// ---------------------------------------------------------------------------------------------

const ipv6 = await canBindUdp6();
if (!ipv6 && requireAllTests) throw new Error('no IPv6 loopback (::1) for the dual-stack probe check; REQUIRE_ALL_TESTS=1 forbids skipping');
if (!ipv6) console.warn('skipping the probe check over ::1: this host has no IPv6 loopback');

describe('the probe and scrape paths on a running service, over IPv4 and IPv6', () => {
  // The manifests leave HTTP_HOST at its default, `*` (every family): start the sidecar so. The
  // kubelet probes the pod IP of whichever family; here both loopbacks stand in for them.
  let running: RunningService;
  beforeAll(async () => {
    running = await startService({ HTTP_HOST: '*' });
  });
  afterAll(async () => {
    await running?.stop();
  });

  it.each(ipv6 ? ['127.0.0.1', '::1'] : ['127.0.0.1'])('%s: /livez, /readyz and /metrics answer 200', async (host) => {
    for (const path of ['/livez', '/readyz', '/metrics']) {
      const response = await httpRequest(running.httpPort, path, { host });
      expect(response.status, `GET ${path} on ${host}`).toBe(200);
    }
  });
});
