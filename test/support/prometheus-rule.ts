// deploy/kubernetes/prometheus-operator/prometheusrule.yaml is made from deploy/prometheus/alerts.yml
// by this function. Kustomize cannot do it: a PrometheusRule's spec is the rules file itself, and
// kustomize only reads files into ConfigMaps and Secrets (as strings), never as structure into
// another kind. So the file is generated and kept in the repository, and deploy-kubernetes.test.ts
// fails when it differs from what this function makes of the current alerts.yml (rewrite it with
// `vitest run test/external/deploy-kubernetes.test.ts -u`).

/** alerts.yml as a PrometheusRule: its leading comment dropped, the rest (comments too) indented under `spec:`. */
export function prometheusRuleYaml(alertsYaml: string): string {
  const lines = alertsYaml.replace(/\n+$/, '').split('\n');
  const body = lines.slice(lines.findIndex((line) => line.trim() !== '' && !line.startsWith('#')));
  return [
    '# GENERATED from deploy/prometheus/alerts.yml, the one source of the alerting rules (promtool',
    '# checks and unit-tests it there). Do not edit: change alerts.yml, then regenerate this file with',
    '#   npx vitest run test/external/deploy-kubernetes.test.ts -u',
    '# (that test fails while the two differ).',
    '#',
    "# Your Prometheus resource's ruleSelector must match this object's labels: kube-prometheus-stack",
    '# selects `release: <its Helm release name>` by default; add that label in your kustomization.',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    '  name: tcp-echo',
    '  labels:',
    '    app.kubernetes.io/name: tcp-echo',
    '    app.kubernetes.io/component: echo-server',
    'spec:',
    ...body.map((line) => (line === '' ? '' : `  ${line}`)),
    '',
  ].join('\n');
}
