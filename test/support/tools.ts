import { execFileSync } from 'node:child_process';

/** REQUIRE_ALL_TESTS=1 (set by .ci/run) turns every "tool missing" skip into a failure. */
export const requireAllTests = process.env.REQUIRE_ALL_TESTS === '1';

export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a test that needs an outside program can run. Absent program: skip with a message naming
 * the Debian package, or throw when REQUIRE_ALL_TESTS=1.
 */
export function toolAvailable(command: string, debianPackage: string): boolean {
  if (hasCommand(command)) return true;
  const message = `'${command}' not found: install the Debian package '${debianPackage}' (apt-get install -y ${debianPackage})`;
  if (requireAllTests) throw new Error(`${message}; REQUIRE_ALL_TESTS=1 forbids skipping`);
  console.warn(`skipping: ${message}`);
  return false;
}
