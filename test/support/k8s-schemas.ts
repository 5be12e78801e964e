// Schemas for every kind the deploy kit uses: the kubernetes-models packages' validators, an
// unknown-field check from their TypeScript types (k8s-fields.ts), and by hand the rules that the
// CRDs state as CEL expressions (x-kubernetes-validations), which no JSON Schema validator runs.
import { isIP } from 'node:net';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { Gateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import { TLSRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/TLSRoute';
import { TCPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha2/TCPRoute';
import { UDPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha2/UDPRoute';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { createFieldChecker, type TypeRef } from './k8s-fields.js';

export type K8sObject = Record<string, unknown> & { apiVersion?: string; kind?: string; metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

interface Schema {
  model: new (data: never) => { validate(): void };
  type: TypeRef;
  /** Validate as this apiVersion instead (the model package has the kind only at an older version). */
  validateAs?: string;
  /** Rules the CRD states in CEL, checked by hand. */
  rules?: (object: K8sObject) => string[];
}

const GATEWAY_API = '@kubernetes-models/gateway-api/gateway.networking.k8s.io';

/**
 * TCPRoute and UDPRoute became v1 in Gateway API v1.6; @kubernetes-models/gateway-api 2.0.0 was
 * generated from v1.5 and has them at v1alpha2 only. In the v1.6.1 CRDs the v1 and v1alpha2 spec
 * schemas are the same but for one bound, rules maxItems 1 (v1) instead of 16, compared field by
 * field when this kit was written (docs/deploying.md#gateway-api). So a v1 route is validated with
 * the v1alpha2 model and that bound is checked here.
 */
const V1_ROUTE_RULES_MAX = 1;

export const SCHEMAS: Record<string, Schema> = {
  'apps/v1/Deployment': { model: Deployment, type: { module: 'kubernetes-models/apps/v1/Deployment', name: 'IDeployment' } },
  'v1/Service': { model: Service, type: { module: 'kubernetes-models/v1/Service', name: 'IService' } },
  'v1/ConfigMap': { model: ConfigMap, type: { module: 'kubernetes-models/v1/ConfigMap', name: 'IConfigMap' } },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, type: { module: 'kubernetes-models/policy/v1/PodDisruptionBudget', name: 'IPodDisruptionBudget' } },
  'autoscaling/v2/HorizontalPodAutoscaler': { model: HorizontalPodAutoscaler, type: { module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', name: 'IHorizontalPodAutoscaler' } },
  'gateway.networking.k8s.io/v1/Gateway': { model: Gateway, type: { module: `${GATEWAY_API}/v1/Gateway`, name: 'IGateway' }, rules: gatewayRules },
  'gateway.networking.k8s.io/v1/TLSRoute': { model: TLSRoute, type: { module: `${GATEWAY_API}/v1/TLSRoute`, name: 'ITLSRoute' }, rules: (o) => [...routeRules(o), ...tlsRouteHostnameRules(o)] },
  'gateway.networking.k8s.io/v1/TCPRoute': { model: TCPRoute, type: { module: `${GATEWAY_API}/v1alpha2/TCPRoute`, name: 'ITCPRoute' }, validateAs: 'gateway.networking.k8s.io/v1alpha2', rules: v1RouteRules },
  'gateway.networking.k8s.io/v1/UDPRoute': { model: UDPRoute, type: { module: `${GATEWAY_API}/v1alpha2/UDPRoute`, name: 'IUDPRoute' }, validateAs: 'gateway.networking.k8s.io/v1alpha2', rules: v1RouteRules },
  'cert-manager.io/v1/Certificate': { model: Certificate, type: { module: '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate', name: 'ICertificate' } },
  'monitoring.coreos.com/v1/PodMonitor': { model: PodMonitor, type: { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor', name: 'IPodMonitor' } },
  'monitoring.coreos.com/v1/PrometheusRule': { model: PrometheusRule, type: { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule', name: 'IPrometheusRule' } },
};

export const schemaKey = (object: K8sObject) => `${object.apiVersion}/${object.kind}`;

let fieldChecker: ((key: string, object: unknown) => string[]) | undefined;
const checkFields = (key: string, object: unknown) => {
  fieldChecker ??= createFieldChecker(Object.fromEntries(Object.entries(SCHEMAS).map(([k, schema]) => [k, schema.type])));
  return fieldChecker(key, object);
};

/** Everything wrong with an object by its schema: validator errors, unknown fields, CEL rules. Empty = valid. */
export function schemaProblems(object: K8sObject): string[] {
  const key = schemaKey(object);
  const schema = SCHEMAS[key];
  if (!schema) return [`no schema for ${key}`];
  const problems: string[] = [];
  const data = schema.validateAs ? { ...object, apiVersion: schema.validateAs } : object;
  try {
    new schema.model(structuredClone(data) as never).validate();
  } catch (error) {
    problems.push((error as Error).message);
  }
  problems.push(...checkFields(key, data).map((path) => `${path} is not a field of ${key}`));
  problems.push(...(schema.rules?.(object) ?? []));
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The CEL rules of Gateway API v1.6.1's standard-channel CRDs that apply to what the kit uses.

interface Listener { name: string; protocol: string; port: number; hostname?: string; tls?: { mode?: string; certificateRefs?: unknown[]; options?: Record<string, string> } }
interface ParentRef { group?: string; kind?: string; namespace?: string; name: string; sectionName?: string }
interface BackendRef { group?: string; kind?: string; name: string; port?: number }
interface RouteSpec { parentRefs?: ParentRef[]; hostnames?: string[]; rules?: Array<{ backendRefs?: BackendRef[] }> }

const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const RFC1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function gatewayRules(object: K8sObject): string[] {
  const listeners = ((object.spec as { listeners?: Listener[] } | undefined)?.listeners ?? []);
  const problems: string[] = [];
  const names = listeners.map((l) => l.name);
  if (new Set(names).size !== names.length) problems.push('Listener name must be unique within the Gateway');
  const combos = listeners.map((l) => `${l.port}/${l.protocol}/${l.hostname ?? ''}`);
  if (new Set(combos).size !== combos.length) problems.push('Combination of port, protocol and hostname must be unique for each listener');
  for (const l of listeners) {
    if (['HTTP', 'TCP', 'UDP'].includes(l.protocol) && l.tls !== undefined) problems.push(`${l.name}: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']`);
    if (['TCP', 'UDP'].includes(l.protocol) && l.hostname) problems.push(`${l.name}: hostname must not be specified for protocols ['TCP', 'UDP']`);
    if (l.protocol === 'TLS' && !l.tls?.mode) problems.push(`${l.name}: tls mode must be set for protocol TLS`);
    if (l.protocol === 'HTTPS' && l.tls?.mode && l.tls.mode !== 'Terminate') problems.push(`${l.name}: tls mode must be Terminate for protocol HTTPS`);
    if ((l.tls?.mode ?? 'Terminate') === 'Terminate' && l.tls && !(l.tls.certificateRefs?.length || Object.keys(l.tls.options ?? {}).length)) problems.push(`${l.name}: certificateRefs or options must be specified when mode is Terminate`);
    if (l.hostname !== undefined && !HOSTNAME.test(l.hostname)) problems.push(`${l.name}: hostname ${l.hostname} is not a valid hostname`);
    // Not CEL but the core protocols: anything else is implementation-specific.
    if (!['HTTP', 'HTTPS', 'TLS', 'TCP', 'UDP'].includes(l.protocol)) problems.push(`${l.name}: ${l.protocol} is not a core protocol`);
  }
  return problems;
}

function routeRules(object: K8sObject): string[] {
  const spec = (object.spec ?? {}) as RouteSpec;
  const problems: string[] = [];
  for (const ref of (spec.rules ?? []).flatMap((r) => r.backendRefs ?? [])) {
    if (!ref.group && (ref.kind ?? 'Service') === 'Service' && ref.port === undefined) problems.push(`backendRef ${ref.name}: Must have port for Service reference`);
  }
  const parents = new Map<string, Array<string | undefined>>();
  for (const ref of spec.parentRefs ?? []) {
    const parent = `${ref.group ?? 'gateway.networking.k8s.io'}/${ref.kind ?? 'Gateway'}/${ref.namespace ?? ''}/${ref.name}`;
    parents.set(parent, [...(parents.get(parent) ?? []), ref.sectionName]);
  }
  for (const [parent, sections] of parents) {
    if (sections.length < 2) continue;
    if (sections.some((s) => !s)) problems.push(`${parent}: sectionName must be specified when parentRefs includes 2 or more references to the same parent`);
    if (new Set(sections).size !== sections.length) problems.push(`${parent}: sectionName must be unique when parentRefs includes 2 or more references to the same parent`);
  }
  return problems;
}

function v1RouteRules(object: K8sObject): string[] {
  const rules = ((object.spec ?? {}) as RouteSpec).rules ?? [];
  return [...routeRules(object), ...(rules.length > V1_ROUTE_RULES_MAX ? [`spec.rules: at most ${V1_ROUTE_RULES_MAX} in ${object.kind} v1`] : [])];
}

function tlsRouteHostnameRules(object: K8sObject): string[] {
  const problems: string[] = [];
  for (const h of ((object.spec ?? {}) as RouteSpec).hostnames ?? []) {
    if (isIP(h)) problems.push(`${h}: Hostnames cannot contain an IP`);
    else if (h.includes('*') ? !(h.startsWith('*.') && RFC1123.test(h.slice(2))) : !RFC1123.test(h)) problems.push(`${h}: not a valid RFC-1123 hostname (wildcards only as the first label)`);
  }
  return problems;
}
