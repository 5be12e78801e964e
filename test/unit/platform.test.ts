// The supported Node lines are stated once, in package.json `engines`, and every other place that
// names a Node must agree with it: the Node `npm ci` brings for `npm start` and `npm test`
// (devDependency `node`), the types the code is checked against, the image's base, and the Node
// running this suite. .ci/run runs the suite on each line `engines` names.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dockerfileNodeImage } from '../support/containers.js';

interface PackageJson {
  engines: { node: string };
  devDependencies: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageJson;

type Version = [major: number, minor: number, patch: number];
const parseVersion = (text: string): Version => text.split('.').map(Number) as Version;
const atLeast = (version: Version, floor: Version) => version[0] === floor[0] && (version[1] > floor[1] || (version[1] === floor[1] && version[2] >= floor[2]));

/** engines.node as the tested release of each line: '^24.22.3 || ^26.10.0' -> [[24, 22, 3], [26, 10, 0]]. */
function supportedLines(): Version[] {
  return pkg.engines.node.split('||').map((range) => {
    const match = /^\^(\d+\.\d+\.\d+)$/.exec(range.trim());
    if (!match) throw new Error(`engines.node: '${range.trim()}' is not ^major.minor.patch`);
    return parseVersion(match[1] as string);
  });
}

describe('supported Node lines (package.json engines)', () => {
  it('are LTS lines in support (even majors from 24 on; 20 and 22 are not tested), oldest first', () => {
    const majors = supportedLines().map(([major]) => major);
    expect(majors.length).toBeGreaterThanOrEqual(2);
    for (const major of majors) {
      expect(major % 2, `Node ${major} is not an LTS line`).toBe(0);
      expect(major).toBeGreaterThanOrEqual(24);
    }
    expect([...majors].sort((a, b) => a - b)).toEqual(majors);
  });

  it('include the Node running this suite', () => {
    const running = parseVersion(process.versions.node);
    expect(supportedLines().some((floor) => atLeast(running, floor)), `Node ${process.versions.node} against engines ${pkg.engines.node}`).toBe(true);
  });

  it('npm ci brings the exact release engines names for the image line, and the types are of the oldest line', () => {
    const nodeDependency = pkg.devDependencies.node as string;
    expect(nodeDependency).toMatch(/^\d+\.\d+\.\d+$/); // pinned, so `npm test` runs the same Node everywhere
    expect(supportedLines().map((line) => line.join('.'))).toContain(nodeDependency);
    const imageMajor = Number(/^node:(\d+)-/.exec(dockerfileNodeImage())?.[1]);
    expect(parseVersion(nodeDependency)[0], `npm test runs ${nodeDependency}, the image ${dockerfileNodeImage()}`).toBe(imageMajor);
    const typesMajor = Number(/(\d+)\./.exec(pkg.devDependencies['@types/node'] as string)?.[1]);
    expect(typesMajor).toBe(supportedLines()[0]?.[0]);
  });

  it('the image is built on an official Node image of a supported line on Debian 13 (trixie) slim', () => {
    const [, major, suite] = /^node:(\d+)-(\w+)-slim$/.exec(dockerfileNodeImage()) ?? [];
    expect(supportedLines().map(([line]) => line)).toContain(Number(major));
    expect(suite).toBe('trixie');
  });
});

// The command line (src/main.ts) is what runs wherever the package does: `npx tcp-echo ...` through
// package.json's bin (a shebang, which tsc keeps), and `<image> ...` through the image's entry point,
// so that `probe` and flags after the image name reach it (docs/probe.md).
describe('the command line as the entry point', () => {
  it('package.json bin tcp-echo is dist/main.js, built from src/main.ts, which starts with a node shebang', () => {
    const { bin, main } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string>; main: string };
    expect(bin).toEqual({ 'tcp-echo': 'dist/main.js' });
    expect(main).toBe('dist/main.js');
    expect(readFileSync(new URL('../../src/main.ts', import.meta.url), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('the image: ENTRYPOINT node dist/main.js (exec form), no default arguments, the HEALTHCHECK a command of its own', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile.match(/^ENTRYPOINT .*$/gm)).toEqual(['ENTRYPOINT ["node", "dist/main.js"]']);
    expect(dockerfile.match(/^CMD .*$/gm)).toEqual(['CMD []']);
    expect(dockerfile).toMatch(/^HEALTHCHECK [^\n]*\\\n\s+CMD \["node", "-e", /m);
  });
});
