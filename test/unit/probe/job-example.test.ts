// deploy/kubernetes/examples/probe-job.yaml, the probe as a Kubernetes Job: a valid batch/v1 Job
// (the kubernetes-models validator and an unknown-field check from its TypeScript type), arguments
// the probe's own parser accepts, aimed at the base Service's echo port, from the Deployment's
// image, bounded, and hardened like the Deployment. It is applied by hand: no kustomization names it.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { Job, type IJob } from 'kubernetes-models/batch/v1/Job';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import { parseProbeArgs } from '../../../src/probe/args.js';
import { createFieldChecker } from '../../support/k8s-fields.js';
import { kustomizations } from '../../support/kustomize.js';

const KUBERNETES = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));
const JOB_FILE = join(KUBERNETES, 'examples/probe-job.yaml');
const read = <T>(path: string) => parseYaml(readFileSync(join(KUBERNETES, path), 'utf8')) as T;

function jobDocument(): IJob {
  const documents = parseAllDocuments(readFileSync(JOB_FILE, 'utf8'));
  expect(documents).toHaveLength(1);
  expect(documents[0]?.errors).toEqual([]);
  return documents[0]?.toJS() as IJob;
}

describe('the probe Job example', () => {
  const job = jobDocument();
  const pod = job.spec!.template.spec!;
  const container = pod.containers[0]!;

  it('is a valid batch/v1 Job with no field its schema does not know', () => {
    expect(job).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'tcp-echo-probe' } });
    expect(() => new Job(structuredClone(job)).validate()).not.toThrow();
    const unknownFields = createFieldChecker({ job: { module: 'kubernetes-models/batch/v1/Job', name: 'IJob' } });
    expect(unknownFields('job', job)).toEqual([]);
  });

  it('runs `probe` through the image entry point, with arguments the probe accepts, at the base Service echo port', () => {
    expect(pod.containers).toHaveLength(1);
    expect(container.command).toBeUndefined(); // the entry point, node dist/main.js, takes the arguments
    const [subcommand, ...argv] = container.args ?? [];
    expect(subcommand).toBe('probe');
    const outcome = parseProbeArgs(argv);
    if (outcome.kind !== 'run') throw new Error('the Job asks for --help');
    const { target, count, durationMs, ratePerSecond, timeoutMs } = outcome.options;
    const service = read<IService>('base/service.yaml');
    expect(target).toMatchObject({ transport: 'tcp', host: service.metadata!.name });
    expect(service.spec!.ports!.find((port) => port.name === 'echo')).toMatchObject({ port: target.port, protocol: 'TCP' });
    // Bounded: a count at a rate, each step within the timeout, the whole within the Job's deadline.
    expect(count).toBeDefined();
    expect(durationMs).toBeUndefined();
    expect(ratePerSecond).toBeGreaterThan(0);
    expect((count! / ratePerSecond) * 1000 + timeoutMs).toBeLessThan(job.spec!.activeDeadlineSeconds! * 1000);
  });

  it('uses the Deployment image; runs once, never restarted, cleaned up after', () => {
    const deployment = read<IDeployment>('base/deployment.yaml');
    expect(container.image).toBe(deployment.spec!.template.spec!.containers[0]!.image);
    expect(pod.restartPolicy).toBe('Never');
    expect(job.spec).toMatchObject({ backoffLimit: 0 });
    expect(job.spec!.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(job.spec!.ttlSecondsAfterFinished).toBeGreaterThan(0);
  });

  it('is locked down like the Deployment: non-root, read-only root, no capabilities, no service account token', () => {
    const deployment = read<IDeployment>('base/deployment.yaml').spec!.template.spec!;
    expect(pod.securityContext).toEqual(deployment.securityContext);
    expect(container.securityContext).toEqual(deployment.containers[0]!.securityContext);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.resources?.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it('no kustomization names it: it is applied on its own', () => {
    const named = kustomizations(KUBERNETES).flatMap((k) => k.references);
    expect(named.filter((path) => path.startsWith(join(KUBERNETES, 'examples')))).toEqual([]);
  });
});
