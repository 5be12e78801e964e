import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hasCommand, requireAllTests } from './tools.js';

/** The repository root: the build context and the directory docker-compose.yml lives in. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The base image the Dockerfile names by default (`ARG NODE_IMAGE=...`), e.g. node:26-trixie-slim. */
export function dockerfileNodeImage(): string {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const match = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile);
  if (!match) throw new Error('no ARG NODE_IMAGE=<default> in the Dockerfile');
  return match[1] as string;
}

/** What the container tests need from the environment (see ../shared/CONTAINERS.md). */
export interface ContainerEnvironment {
  /**
   * Base image for every Dockerfile stage: the one the Dockerfile names, as prepare.sh's local
   * stand-in (localhost/node:26-trixie-slim) or, where a registry was reached, the official image.
   */
  nodeImage: string;
  /** Prometheus image for the compose stack (prepare.sh: a local stand-in for prom/prometheus). */
  prometheusImage: string;
  /** The Docker-compatible API that docker-compose talks to (docker-api.sh: podman's socket). */
  dockerHost: string;
}

/**
 * The container engine and its environment, or undefined when something is missing: then the tests
 * skip with a message naming it, or throw when REQUIRE_ALL_TESTS=1 (CI), as toolAvailable does.
 */
export function containerEnvironment(): ContainerEnvironment | undefined {
  const missing: string[] = [];
  if (!hasCommand('podman')) missing.push("'podman' not found (apt-get install -y podman, or run ../shared/containers/prepare.sh)");
  if (!hasCommand('docker-compose')) missing.push("'docker-compose' not found (apt-get install -y docker-compose, or run ../shared/containers/prepare.sh)");
  const fromPrepare = 'eval "$(../shared/containers/prepare.sh)"';
  const { PROMETHEUS_IMAGE, DOCKER_HOST } = process.env;
  const tag = dockerfileNodeImage();
  const nodeImage = missing.length === 0 ? [`localhost/${tag}`, tag].find(imageExists) : undefined;
  if (missing.length === 0 && !nodeImage) missing.push(`the Dockerfile's base image ${tag} (${fromPrepare} builds the stand-in localhost/${tag}; with registry access, podman pull ${tag})`);
  if (!PROMETHEUS_IMAGE) missing.push(`PROMETHEUS_IMAGE is not set (${fromPrepare}; with registry access PROMETHEUS_IMAGE=prom/prometheus:v3.13.3 works too)`);
  if (!DOCKER_HOST) missing.push('DOCKER_HOST is not set (eval "$(../shared/containers/docker-api.sh start)" serves the Docker API from podman)');
  if (missing.length === 0) return { nodeImage: nodeImage!, prometheusImage: PROMETHEUS_IMAGE!, dockerHost: DOCKER_HOST! };
  const message = `container tests need: ${missing.join('; ')}`;
  if (requireAllTests) throw new Error(`${message}; REQUIRE_ALL_TESTS=1 forbids skipping`);
  console.warn(`skipping: ${message}`);
  return undefined;
}

function imageExists(name: string): boolean {
  try {
    execFileSync('podman', ['image', 'exists', name], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; rejects with its exit code and the tail of its output on failure. */
export function run(command: string, args: string[], { env = process.env, cwd = REPO_ROOT, timeoutMs = 120_000 } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, cwd, timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const tail = (text: string) => text.split('\n').slice(-40).join('\n');
        reject(new Error(`${command} ${args.join(' ')} failed (${error.code ?? error.signal ?? error.message})\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/** Like `run`, but resolves with the exit code instead of rejecting on a non-zero exit. */
export function runStatus(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number } & RunResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: options.env ?? process.env, cwd: REPO_ROOT, timeout: options.timeoutMs ?? 60_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

export async function podman(args: string[], timeoutMs = 120_000): Promise<string> {
  return (await run('podman', args, { timeoutMs })).stdout.trim();
}

/** `podman inspect` of one object, parsed. */
export async function inspect<T = Record<string, unknown>>(kind: 'image' | 'container', name: string): Promise<T> {
  const [first] = JSON.parse(await podman([kind, 'inspect', name])) as T[];
  if (!first) throw new Error(`podman ${kind} inspect ${name}: nothing`);
  return first;
}

/** The host port that `podman run -p 127.0.0.1::PORT` published for a container port. */
export async function publishedPort(container: string, containerPort: number): Promise<number> {
  const line = await podman(['port', container, `${containerPort}/tcp`]);
  const port = Number(line.split('\n')[0]?.split(':').pop());
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no published port for ${container} ${containerPort}/tcp: '${line}'`);
  return port;
}

/** A name no other run of these tests uses at the same time (podman names are global on the machine). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
}
