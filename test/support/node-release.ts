import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireAllTests } from './tools.js';

/** The Node release the container image runs (node:22): SO_REUSEPORT listeners arrived in 22.12. */
export const NODE_22 = '22.23.3';

const CACHE = fileURLToPath(new URL('../../node_modules/.cache/tcp-echo-test-node/', import.meta.url));

/**
 * A Node binary of another release than the one running the tests, for behaviour that depends on
 * the Node version. Taken from TCP_ECHO_TEST_NODE_<major> when set, else fetched once from the npm
 * registry (the node-<os>-<arch> packages carry the official binaries; `npm ci` already needs that
 * registry) into node_modules/.cache. Undefined, with a message, where it cannot be had; with
 * REQUIRE_ALL_TESTS=1 that is an error.
 */
export function nodeRelease(version: string): string | undefined {
  const major = version.split('.')[0] as string;
  const named = process.env[`TCP_ECHO_TEST_NODE_${major}`];
  if (named) return named;
  const dir = join(CACHE, `${process.platform}-${process.arch}-${version}`);
  const binary = join(dir, 'package', 'bin', 'node');
  if (existsSync(binary)) return binary;
  try {
    mkdirSync(dir, { recursive: true });
    const tarball = execFileSync('npm', ['pack', `node-${process.platform}-${process.arch}@${version}`, '--pack-destination', dir, '--silent'], { cwd: dir, encoding: 'utf8', timeout: 180_000 }).trim().split('\n').pop() as string;
    execFileSync('tar', ['xzf', join(dir, tarball), '-C', dir, 'package/bin/node'], { timeout: 60_000 });
    rmSync(join(dir, tarball));
    execFileSync(binary, ['--version'], { timeout: 10_000 });
    return binary;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const message = `Node ${version} is not available (npm pack node-${process.platform}-${process.arch}@${version} failed: ${String(error).split('\n')[0]}); set TCP_ECHO_TEST_NODE_${major} to a node ${major} binary`;
    if (requireAllTests) throw new Error(`${message}; REQUIRE_ALL_TESTS=1 forbids skipping`, { cause: error });
    console.warn(`skipping: ${message}`);
    return undefined;
  }
}
