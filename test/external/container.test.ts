// The container image and the docker-compose stack, built and run for real (podman, and
// docker-compose through podman's Docker-compatible API: see ../shared/CONTAINERS.md).
// The image is built once for the whole file; the compose build reuses its cached layers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { echoRoundTrip, openClient, patternedBytes, roundTrip } from '../support/echo-client.js';
import { httpRequest, sample, scrape } from '../support/metrics.js';
import { waitFor } from '../support/wait.js';
import { hasCommand } from '../support/tools.js';
import { connectCrowd } from '../support/crowd.js';
import { containerEnvironment, dockerfileNodeImage, inspect, podman, publishedPort, run, runStatus, uniqueName } from '../support/containers.js';
import { promValue } from '../support/prometheus.js';
import { freePort } from '../support/ports.js';

const env = containerEnvironment();
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const IMAGE = `localhost/tcp-echo-test:${uniqueName('t')}`;
const CONTAINER = uniqueName('tcp-echo-test');
const STOP_TIMEOUT_S = 30;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;

/** The Dockerfile's HEALTHCHECK command (exec form), so compose's copy of it can be compared. */
function dockerfileHealthcheck(): string[] {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const match = /^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile);
  if (!match) throw new Error('no exec-form HEALTHCHECK in the Dockerfile');
  return JSON.parse(match[1] as string) as string[];
}

interface ImageInspect {
  Size: number;
  /** podman reports the healthcheck here; Docker under Config. */
  Healthcheck?: { Test?: string[] };
  Config: {
    User?: string;
    Env?: string[];
    Cmd?: string[];
    Entrypoint?: string[] | null;
    ExposedPorts?: Record<string, unknown>;
    Labels?: Record<string, string>;
    Healthcheck?: { Test?: string[] };
    StopSignal?: string;
  };
}
interface ContainerInspect {
  State: { Status: string; Running: boolean; ExitCode: number; OOMKilled: boolean; Health?: { Status: string } };
  HostConfig: { ReadonlyRootfs: boolean };
}

/** "35s", "1m30s", "500ms" -> milliseconds (compose duration syntax, the parts we use). */
function durationMs(text: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text);
  if (!match || text === '') throw new Error(`unparseable duration '${text}'`);
  const [, h = '0', m = '0', s = '0', ms = '0'] = match;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Number(ms);
}

describe.skipIf(!env)('container image (podman)', () => {
  let image: ImageInspect;
  let echoPort: number;
  let httpPort: number;

  beforeAll(async () => {
    const started = Date.now();
    await run('podman', ['build', '--format', 'docker', '--build-arg', `NODE_IMAGE=${env!.nodeImage}`, '-t', IMAGE, '.'], { timeoutMs: 600_000 });
    image = await inspect<ImageInspect>('image', IMAGE);
    console.log(`built ${IMAGE} in ${((Date.now() - started) / 1000).toFixed(1)} s; uncompressed size ${(image.Size / 1e6).toFixed(1)} MB (base ${env!.nodeImage})`);
    // Run it the way docs/deploying.md ("Run the image") recommends: read-only root (and, unlike podman's default, no
    // tmpfs on /tmp, as with Docker), no capabilities, no privilege escalation, loopback ports.
    await podman(['run', '-d', '--name', CONTAINER, '--read-only', '--read-only-tmpfs=false', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '-p', '127.0.0.1::7000', '-p', '127.0.0.1::8080', IMAGE]);
    echoPort = await publishedPort(CONTAINER, 7000);
    httpPort = await publishedPort(CONTAINER, 8080);
    await waitFor(async () => (await httpRequest(httpPort, '/readyz')).status === 200, { timeoutMs: 60_000, intervalMs: 200, what: `${CONTAINER} /readyz 200 on 127.0.0.1:${httpPort}` });
  }, 900_000);

  afterAll(async () => {
    await run('podman', ['rm', '-f', '-t', '0', CONTAINER]).catch(() => undefined);
    await run('podman', ['rmi', '-f', IMAGE]).catch(() => undefined);
  });

  it('has the metadata users rely on: non-root user, exec-form node HEALTHCHECK on /readyz, ports, labels', () => {
    const config = image.Config;
    expect(config.User).toBe('node');
    expect(config.Env).toContain('NODE_ENV=production');
    // The command line is the entry point (so `<image> probe ...` and `<image> --flag` work); no default arguments.
    expect(config.Entrypoint).toEqual(['node', 'dist/main.js']);
    expect(config.Cmd ?? []).toEqual([]);
    expect(Object.keys(config.ExposedPorts ?? {}).sort()).toEqual(['7000/tcp', '8080/tcp']);
    expect(config.Labels).toMatchObject({ 'org.opencontainers.image.title': 'tcp-echo', 'org.opencontainers.image.version': pkg.version });
    expect(config.Labels?.['org.opencontainers.image.source']).toMatch(/^https:\/\//);
    const test = (image.Healthcheck ?? config.Healthcheck)?.Test ?? [];
    expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']); // exec form, node itself: no shell, no curl
    expect(test[3]).toContain('/readyz');
    expect(config.StopSignal).toBe('SIGTERM');
  });

  it('ships only dist/, package.json and production dependencies', async () => {
    expect((await podman(['exec', CONTAINER, 'ls', '-A', '/app'])).split('\n').sort()).toEqual(['dist', 'node_modules', 'package.json']);
    const modules = (await podman(['exec', CONTAINER, 'ls', '-A', '/app/node_modules'])).split('\n');
    expect(modules).toContain('fastify');
    for (const devOnly of ['typescript', 'vitest', 'eslint', '@types', 'yaml']) expect(modules).not.toContain(devOnly);
  });

  it('runs the Node line and Debian release its Dockerfile names', async () => {
    const [, major, suite] = /^node:(\d+)-(\w+)-slim$/.exec(dockerfileNodeImage()) ?? [];
    expect(suite, dockerfileNodeImage()).toBeDefined();
    expect(await podman(['exec', CONTAINER, 'node', '--version'])).toMatch(new RegExp(`^v${major}\\.`));
    expect(await podman(['exec', CONTAINER, 'sh', '-c', '. /etc/os-release && echo $VERSION_CODENAME'])).toBe(suite);
  });

  it('runs as a non-root user, with node itself as PID 1, on a read-only root filesystem', async () => {
    expect(await podman(['exec', CONTAINER, 'id', '-u'])).not.toBe('0');
    expect(await podman(['exec', CONTAINER, 'id', '-un'])).toBe('node');
    expect((await podman(['exec', CONTAINER, 'cat', '/proc/1/cmdline'])).split('\0').filter(Boolean)).toEqual(['node', 'dist/main.js']);
    expect((await inspect<ContainerInspect>('container', CONTAINER)).HostConfig.ReadonlyRootfs).toBe(true);
    const write = await runStatus('podman', ['exec', CONTAINER, 'sh', '-c', 'touch /tmp/probe 2>&1']);
    expect(write.code).not.toBe(0);
    expect(write.stdout).toMatch(/read-only/i);
  });

  it('echoes byte-exact through the published port, and its metrics count exactly those bytes', async () => {
    const before = await scrape(httpPort);
    const payload = patternedBytes(3 * 1024 * 1024 + 17, 42);
    const echoed = await echoRoundTrip(echoPort, payload);
    expect(echoed.length).toBe(payload.length);
    expect(echoed.equals(payload)).toBe(true);
    const after = await scrape(httpPort);
    expect(sample(after, 'echo_received_bytes_total') - sample(before, 'echo_received_bytes_total')).toBe(payload.length);
    expect(sample(after, 'echo_sent_bytes_total') - sample(before, 'echo_sent_bytes_total')).toBe(payload.length);
  });

  it('SIGUSR1 and SIGHUP (podman kill) neither stop it nor open a debugger in the container', async () => {
    const inspectorPort = (9229).toString(16).toUpperCase().padStart(4, '0');
    const listening = async () => {
      const tables = await podman(['exec', CONTAINER, 'cat', '/proc/net/tcp', '/proc/net/tcp6']);
      return tables.split('\n').filter((row) => row.trim().split(/\s+/)[3] === '0A').map((row) => row.trim().split(/\s+/)[1]?.split(':')[1]);
    };
    expect(await listening()).not.toContain(inspectorPort);
    for (const signal of ['USR1', 'HUP', 'USR2']) {
      await podman(['kill', '--signal', signal, CONTAINER]);
      await waitFor(async () => (await run('podman', ['logs', CONTAINER])).stdout.includes(`"signal":"SIG${signal}"`), { timeoutMs: 10_000, what: `SIG${signal} logged` });
    }
    expect((await inspect<ContainerInspect>('container', CONTAINER)).State.Running).toBe(true);
    expect(await listening()).not.toContain(inspectorPort);
    expect((await run('podman', ['logs', CONTAINER])).stderr).not.toMatch(/Debugger listening/);
    expect(sample(await scrape(httpPort), 'echo_signals_received_total{signal="SIGUSR1"}')).toBe(1);
    const payload = patternedBytes(64 * 1024, 3);
    expect((await echoRoundTrip(echoPort, payload)).equals(payload)).toBe(true);
  });

  it('passes its HEALTHCHECK', async () => {
    const check = await runStatus('podman', ['healthcheck', 'run', CONTAINER]);
    expect(check.code, `podman healthcheck run: ${check.stdout}${check.stderr}`).toBe(0);
    expect((await inspect<ContainerInspect>('container', CONTAINER)).State.Health?.Status).toBe('healthy');
  });

  it('runs the probe client (`<image> probe ...`): from a second container in the service container\'s network namespace, every byte echoed', async () => {
    const args = ['run', '--rm', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--network', `container:${CONTAINER}`, IMAGE];
    const probe = await runStatus('podman', [...args, 'probe', 'tcp://127.0.0.1:7000', '--count', '50', '--size', '4Ki', '--json'], { timeoutMs: 60_000 });
    expect(probe.code, `podman run ... probe: ${probe.stdout}${probe.stderr}`).toBe(0);
    expect(JSON.parse(probe.stdout)).toMatchObject({ result: 'pass', messages: { attempted: 50, echoed: 50, failed: 0 }, bytes: { verified: 50 * 4096 } });
    const invalid = await runStatus('podman', [...args, 'probe', 'tcp://127.0.0.1:7000', '--size', 'huge'], { timeoutMs: 60_000 });
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('tcp-echo probe: invalid argument: --size="huge"');
  });

  it(`podman stop mid-transfer: the client gets every byte back and the container exits 0 well within ${STOP_TIMEOUT_S} s`, async () => {
    // A stream that keeps flowing across the SIGTERM: a fixed pattern repeated, checked as it
    // comes back (no copy of everything sent is kept).
    const pattern = patternedBytes(1_000_003, 7);
    const chunkSize = 64 * 1024;
    const socket = await openClient(echoPort);
    let sent = 0;
    let received = 0;
    let mismatchAt = -1;
    socket.on('data', (chunk: Buffer) => {
      for (let i = 0; i < chunk.length && mismatchAt < 0; i++) {
        if (chunk[i] !== pattern[(received + i) % pattern.length]) mismatchAt = received + i;
      }
      received += chunk.length;
    });
    const ended = once(socket, 'end');
    let stopWriting = false;
    const writer = (async () => {
      while (!stopWriting) {
        const offset = sent % pattern.length;
        const piece = pattern.subarray(offset, Math.min(offset + chunkSize, pattern.length));
        sent += piece.length;
        if (!socket.write(piece)) await once(socket, 'drain');
        await new Promise((resolve) => setTimeout(resolve, 2)); // pacing only: ~30 MB/s at most, the machine is shared
      }
    })();
    // On a failure path these may settle after the test has given up on them: never unhandled.
    writer.catch(() => undefined);
    ended.catch(() => undefined);

    let stopped: Promise<unknown> | undefined;
    let stopStarted: number;
    try {
      await waitFor(() => received >= 1024 * 1024, { timeoutMs: 20_000, what: 'the first MiB echoed' });
      stopStarted = Date.now();
      stopped = run('podman', ['stop', '-t', String(STOP_TIMEOUT_S), CONTAINER], { timeoutMs: (STOP_TIMEOUT_S + 30) * 1000 });
      stopped.catch(() => undefined);
      // SIGTERM has arrived once readiness turns 503 (the sidecar stays up while draining).
      await waitFor(async () => (await httpRequest(httpPort, '/readyz')).status === 503, { timeoutMs: 20_000, intervalMs: 50, what: 'readiness 503 after podman stop' });
      const sentAtDrain = sent;
      await waitFor(() => sent >= sentAtDrain + 2 * 1024 * 1024, { timeoutMs: 20_000, what: '2 MiB more sent while draining' });
      stopWriting = true;
      await writer;
      socket.end();
      await ended;
    } finally {
      stopWriting = true; // also on failure: no writer left running after the test
      socket.destroy();
    }

    expect(mismatchAt).toBe(-1);
    expect(received).toBe(sent);
    await stopped;
    const stopMs = Date.now() - stopStarted;
    expect(stopMs).toBeLessThan(STOP_TIMEOUT_S * 1000 / 2);
    const state = (await inspect<ContainerInspect>('container', CONTAINER)).State;
    expect(state.Running).toBe(false);
    expect(state.ExitCode).toBe(0);
    const logs = (await run('podman', ['logs', CONTAINER])).stdout;
    expect(logs).toContain('"event":"shutdown_complete"');
    console.log(`podman stop took ${stopMs} ms; ${sent} bytes echoed across the drain`);
  }, 120_000);
  describe('under a memory limit, attacked by a crowd of clients that stop reading', () => {
    const LIMIT = 192 * 1024 * 1024;
    // As in test/service/faults/memory-guard.test.ts: large socket buffers, so a few dozen clients suffice.
    const ATTACK = { clients: 64, floodBytes: 12 * 1024 * 1024, pendingBytes: String(4 * 1024 * 1024) };
    const started: string[] = [];
    afterAll(async () => {
      for (const name of started) await run('podman', ['rm', '-f', '-t', '0', name]).catch(() => undefined);
    });

    async function startLimited(extraEnv: string[]): Promise<{ name: string; echoPort: number; httpPort: number }> {
      const name = uniqueName('tcp-echo-memory');
      started.push(name);
      // From a scratch directory: on an OOM kill podman's conmon writes a file named 'oom' into its working directory.
      await run('podman', ['run', '-d', '--name', name, '--memory', String(LIMIT), '--memory-swap', String(LIMIT), '-e', `ECHO_MAX_PENDING_BYTES=${ATTACK.pendingBytes}`, ...extraEnv, '-p', '127.0.0.1::7000', '-p', '127.0.0.1::8080', IMAGE], { cwd: tmpdir() });
      const ports = { echoPort: await publishedPort(name, 7000), httpPort: await publishedPort(name, 8080) };
      await waitFor(async () => (await httpRequest(ports.httpPort, '/readyz')).status === 200, { timeoutMs: 60_000, intervalMs: 200, what: `${name} ready` });
      return { name, ...ports };
    }

    it('with the guard (budget from the limit): never OOM-killed, sheds the crowd, a reading client keeps its echo, recovers', async () => {
      const { name, echoPort, httpPort } = await startLimited([]);
      const health = JSON.parse((await httpRequest(httpPort, '/healthz')).body) as { memory: { budgetBytes: number } };
      expect(health.memory.budgetBytes).toBe(Math.floor(LIMIT * 0.6)); // auto: 60% of the cgroup limit
      const reader = await openClient(echoPort);
      reader.on('error', () => {});
      const crowd = await connectCrowd(echoPort, ATTACK.clients);
      try {
        crowd.flood(ATTACK.floodBytes);
        let rounds = 0;
        await waitFor(
          async () => {
            const payload = patternedBytes(4096, rounds++);
            expect((await roundTrip(reader, payload)).equals(payload)).toBe(true);
            return sample(await scrape(httpPort), 'echo_connections_closed_total{reason="overload"}') > 0;
          },
          { timeoutMs: 60_000, intervalMs: 50, what: 'the guard to close stalled connections' },
        );
      } finally {
        crowd.destroy();
      }
      await waitFor(async () => (await httpRequest(httpPort, '/readyz')).status === 200, { timeoutMs: 30_000, intervalMs: 100, what: 'readiness back after the crowd left' });
      const payload = patternedBytes(512 * 1024, 5);
      expect((await roundTrip(reader, payload)).equals(payload)).toBe(true);
      reader.destroy();
      const state = (await inspect<ContainerInspect>('container', name)).State;
      expect(state).toMatchObject({ Running: true, OOMKilled: false });
      const restarted = (await run('podman', ['logs', name])).stdout.split('\n').filter((line) => line.includes('"event":"listening"'));
      expect(restarted).toHaveLength(1);
    }, 180_000);

    it('without the guard (ECHO_MEMORY_BUDGET=off) the same attack gets the container OOM-killed (the control)', async () => {
      const { name, echoPort } = await startLimited(['-e', 'ECHO_MEMORY_BUDGET=off']);
      const crowd = await connectCrowd(echoPort, ATTACK.clients);
      try {
        crowd.flood(ATTACK.floodBytes);
        await waitFor(async () => !(await inspect<ContainerInspect>('container', name)).State.Running, { timeoutMs: 60_000, intervalMs: 200, what: 'the unguarded container to be killed' });
      } finally {
        crowd.destroy();
      }
      const state = (await inspect<ContainerInspect>('container', name)).State;
      expect(state.OOMKilled || state.ExitCode === 137, JSON.stringify(state)).toBe(true);
    }, 180_000);
  });
});

// Needs only docker-compose (no engine): runs wherever it is installed.
describe.skipIf(!hasCommand('docker-compose'))('docker-compose.yml', () => {
  it('docker-compose config: valid, with the hardening and defaults users get', async () => {
    // A clean environment, so the defaults in the file are what is checked.
    const { stdout } = await run('docker-compose', ['--file', 'docker-compose.yml', 'config'], { env: { PATH: process.env.PATH } });
    const config = parseYaml(stdout) as { services: Record<string, Record<string, unknown>> };
    const echo = config.services['tcp-echo'] as Record<string, unknown> & { environment: Record<string, string>; healthcheck: { test: string[] }; build: { args: Record<string, string> } };
    expect(echo.build.args.NODE_IMAGE).toBe(dockerfileNodeImage()); // the same base as a plain docker build
    expect(config.services['load-generator']?.image).toBe(dockerfileNodeImage());
    expect(echo.ports).toEqual([{ published: 7000, target: 7000 }, { published: 8080, target: 8080 }]);
    expect(echo).toMatchObject({ init: true, read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'] });
    const drainMs = Number(echo.environment.SHUTDOWN_TIMEOUT_MS) + Number(echo.environment.SHUTDOWN_DELAY_MS);
    expect(Number(echo.environment.SHUTDOWN_TIMEOUT_MS)).toBe(DEFAULT_SHUTDOWN_TIMEOUT_MS);
    expect(durationMs(echo.stop_grace_period as string)).toBeGreaterThan(drainMs);
    expect(echo.healthcheck.test).toEqual(['CMD', ...dockerfileHealthcheck()]); // the same probe as the image's
    const prometheus = config.services.prometheus as Record<string, unknown>;
    expect(prometheus.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/); // pinned, never :latest
    expect(prometheus.ports).toEqual([{ published: 9090, target: 9090 }]);
    expect(config.services['load-generator']).toMatchObject({ profiles: ['load'] }); // started only with --profile load
  });
});

describe.skipIf(!env)('docker-compose stack (tcp-echo + Prometheus)', () => {
  const project = uniqueName('tcpecho').replace(/-/g, '');
  let composeEnv: NodeJS.ProcessEnv;
  let ports: { echo: number; http: number; prometheus: number };
  const compose = (args: string[], timeoutMs = 120_000) => run('docker-compose', ['--project-name', project, '--file', 'docker-compose.yml', '--profile', 'load', ...args], { env: composeEnv, timeoutMs });

  beforeAll(async () => {
    ports = { echo: await freePort(), http: await freePort(), prometheus: await freePort() };
    composeEnv = {
      ...process.env,
      NODE_IMAGE: env!.nodeImage,
      PROMETHEUS_IMAGE: env!.prometheusImage,
      DOCKER_HOST: env!.dockerHost,
      ECHO_PUBLISHED_PORT: String(ports.echo),
      HTTP_PUBLISHED_PORT: String(ports.http),
      PROMETHEUS_PUBLISHED_PORT: String(ports.prometheus),
    };
  });

  afterAll(async () => {
    await compose(['down', '--volumes', '--rmi', 'local', '--timeout', '5']).catch(() => undefined);
  });

  it('up --build: Prometheus scrapes tcp-echo over the compose network and sees exactly the bytes sent; down leaves nothing', async () => {
    await run('docker-compose', ['--project-name', project, '--file', 'docker-compose.yml', 'up', '-d', '--build'], { env: composeEnv, timeoutMs: 600_000 });

    const label = `label=com.docker.compose.project=${project}`;
    const serviceContainers = async (service: string) => podman(['ps', '-q', '--filter', label, '--filter', `label=com.docker.compose.service=${service}`]);
    expect(await serviceContainers('load-generator')).toBe(''); // not without --profile load

    const up = `up{job="tcp-echo"}`;
    await waitFor(async () => (await promValue(ports.prometheus, up)) === 1, { timeoutMs: 120_000, intervalMs: 500, what: `${up} == 1 in Prometheus on :${ports.prometheus}` });
    const received = `echo_received_bytes_total{job="tcp-echo"}`;
    const sent = `echo_sent_bytes_total{job="tcp-echo"}`;
    expect(await promValue(ports.prometheus, received)).toBe(0);

    const payload = patternedBytes(5 * 1024 * 1024 + 123, 99);
    const echoed = await echoRoundTrip(ports.echo, payload);
    expect(echoed.equals(payload)).toBe(true);
    await waitFor(async () => (await promValue(ports.prometheus, received)) === payload.length, { timeoutMs: 60_000, intervalMs: 500, what: `${received} == ${payload.length}` });
    expect(await promValue(ports.prometheus, sent)).toBe(payload.length);

    // The deploy kit's alerting rules are loaded and evaluated against the live target.
    const rules = (await (await fetch(`http://127.0.0.1:${ports.prometheus}/api/v1/rules?type=alert`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string }> }> } };
    const alertRules = rules.data.groups.flatMap((group) => group.rules);
    expect(alertRules.map((rule) => rule.name)).toContain('TcpEchoTargetDown');
    expect(alertRules.every((rule) => rule.health !== 'err'), JSON.stringify(alertRules)).toBe(true);

    // The compose healthcheck turns the service healthy (docker-api.sh runs the checks here).
    const echoContainer = (await compose(['ps', '-q', 'tcp-echo'])).stdout.trim();
    await waitFor(async () => (await inspect<ContainerInspect>('container', echoContainer)).State.Health?.Status === 'healthy', { timeoutMs: 60_000, intervalMs: 500, what: 'tcp-echo healthy' });

    // The load-generator profile: traffic shows up in Prometheus at once.
    await compose(['up', '-d', 'load-generator']);
    await waitFor(async () => ((await promValue(ports.prometheus, received)) ?? 0) > payload.length, { timeoutMs: 60_000, intervalMs: 500, what: 'load-generator traffic in Prometheus' });

    expect(await serviceContainers('load-generator')).not.toBe('');

    await compose(['down', '--volumes', '--rmi', 'local']);
    expect(await podman(['ps', '-a', '-q', '--filter', label])).toBe('');
    expect((await podman(['network', 'ls', '--format', '{{.Name}}'])).split('\n').filter((name) => name.startsWith(project))).toEqual([]);
    expect((await podman(['volume', 'ls', '--format', '{{.Name}}'])).split('\n').filter((name) => name.startsWith(project))).toEqual([]);
  }, 900_000);
});
