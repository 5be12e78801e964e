// The deploy kit's kustomizations: where they are, what files they name, and what
// `kubectl kustomize` (the kustomize built into kubectl) renders from them.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import type { K8sObject } from './k8s-schemas.js';
import { hasCommand, requireAllTests } from './tools.js';

/** The kustomize built into kubectl renders the kit; 5.0 (kubectl 1.27) brought `labels`, components and `patches` as used here. */
const MIN_KUSTOMIZE: [number, number] = [5, 0];

/**
 * Whether `kubectl kustomize` can build the kit here: kubectl on the PATH with kustomize 5.0 or
 * later. Otherwise the tests that need it skip, with a message, or fail when REQUIRE_ALL_TESTS=1.
 */
export function kubectlKustomizeAvailable(): boolean {
  const problem = kubectlProblem();
  if (!problem) return true;
  const message = `${problem}: the rendered-manifest checks need kubectl 1.27 or later (kustomize >= ${MIN_KUSTOMIZE.join('.')}); Debian's kubernetes-client 1.20 is too old, the \`kubectl\` package from the Kubernetes or Google Cloud apt repositories is fine`;
  if (requireAllTests) throw new Error(`${message}; REQUIRE_ALL_TESTS=1 forbids skipping`);
  console.warn(`skipping: ${message}`);
  return false;
}

function kubectlProblem(): string | undefined {
  if (!hasCommand('kubectl')) return "'kubectl' not found";
  let version: string;
  try {
    version = (JSON.parse(execFileSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { kustomizeVersion?: string }).kustomizeVersion ?? '';
  } catch (error) {
    return `'kubectl version --client' failed (${(error as Error).message.split('\n')[0]})`;
  }
  const [major = 0, minor = 0] = (/^v?(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  if (major < MIN_KUSTOMIZE[0] || (major === MIN_KUSTOMIZE[0] && minor < MIN_KUSTOMIZE[1])) return `kubectl's kustomize is ${version || 'unknown'}`;
  return undefined;
}

/** `kubectl kustomize DIR`: the objects, in its order. */
export function kustomizeBuild(dir: string): K8sObject[] {
  const output = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(output).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as K8sObject;
  });
}

export interface KustomizationFile {
  dir: string;
  kind: 'Kustomization' | 'Component';
  /** Files and folders it names (resources, components, patch files, generator files), resolved. */
  references: string[];
  /** Of those, the files whose objects it takes whole (resources), as opposed to patches and generator inputs. */
  resourceFiles: string[];
}

interface KustomizationYaml {
  kind?: string;
  resources?: string[];
  components?: string[];
  patches?: Array<{ path?: string; patch?: string }>;
  configMapGenerator?: Array<{ files?: string[] }>;
}

/** Every kustomization.yaml under a folder, read (not built). */
export function kustomizations(root: string): KustomizationFile[] {
  return yamlFiles(root)
    .filter((file) => /\/kustomization\.ya?ml$/.test(file))
    .map((file) => {
      const dir = dirname(file);
      const k = parseYaml(readFileSync(file, 'utf8')) as KustomizationYaml;
      const at = (path: string) => join(dir, path);
      const resources = (k.resources ?? []).map(at);
      const references = [
        ...resources,
        ...(k.components ?? []).map(at),
        ...(k.patches ?? []).flatMap((p) => (p.path ? [at(p.path)] : [])),
        ...(k.configMapGenerator ?? []).flatMap((g) => (g.files ?? []).map((f) => at(f.replace(/^[^=]*=/, '')))),
      ];
      for (const path of references) if (!existsSync(path)) throw new Error(`${relative(root, file)} names ${relative(dir, path)}, which does not exist`);
      return { dir, kind: k.kind === 'Component' ? 'Component' : 'Kustomization', references, resourceFiles: resources.filter((path) => statSync(path).isFile()) };
    });
}

export function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((entry) => {
      const path = join(dir, entry);
      return statSync(path).isDirectory() ? yamlFiles(path) : /\.ya?ml$/.test(entry) ? [path] : [];
    })
    .sort();
}
