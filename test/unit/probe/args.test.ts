// `tcp-echo probe` argument parsing: the target, every option's values and limits, the checks
// between options, --help. The built command's exit 2: test/service/probe.test.ts.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { DEFAULT_COUNT, parseProbeArgs, ProbeArgumentError, probeHelpText, type ProbeOptions } from '../../../src/probe/args.js';

function options(...argv: string[]): ProbeOptions {
  const outcome = parseProbeArgs(argv);
  if (outcome.kind !== 'run') throw new Error('expected options, got help');
  return outcome.options;
}

function rejected(...argv: string[]): ProbeArgumentError {
  try {
    parseProbeArgs(argv);
  } catch (error) {
    if (error instanceof ProbeArgumentError) return error;
    throw error;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}

describe('the target', () => {
  it.each([
    ['tcp://127.0.0.1:7000', { transport: 'tcp', host: '127.0.0.1', port: 7000 }],
    ['tls://tcp-echo.default.svc:7443', { transport: 'tls', host: 'tcp-echo.default.svc', port: 7443 }],
    ['udp://[::1]:7000', { transport: 'udp', host: '::1', port: 7000 }],
    ['tcp://localhost:1', { transport: 'tcp', host: 'localhost', port: 1 }],
  ])('%s', (text, expected) => {
    expect(options(text).target).toEqual({ ...expected, text });
  });

  it.each(['http://127.0.0.1:80', 'tcp://127.0.0.1', 'tcp://127.0.0.1:0', 'tcp://127.0.0.1:65536', 'tcp://[127.0.0.1]:7000', 'tcp://::1:7000', '127.0.0.1:7000', 'tcp://host name:7'])('refuses %s, naming the target', (text) => {
    const error = rejected(text);
    expect(error.option).toBe('target');
    expect(error.message).toBe(`invalid argument: target=${JSON.stringify(text)}: ${error.allowed}`);
    expect(error.allowed).toMatch(/tcp:\/\/HOST:PORT/);
  });

  it('is required, and only one', () => {
    expect(rejected('--count', '5').message).toMatch(/^invalid argument: target="": missing: tcp:\/\//);
    expect(rejected('tcp://127.0.0.1:1', 'tcp://127.0.0.1:2')).toMatchObject({ option: 'target', value: 'tcp://127.0.0.1:2' });
  });
});

describe('defaults', () => {
  it('100 messages of 64 bytes, one connection, unpaced, 5 s timeout, no errors allowed, text output', () => {
    expect(options('tcp://127.0.0.1:7000')).toEqual({
      target: { transport: 'tcp', host: '127.0.0.1', port: 7000, text: 'tcp://127.0.0.1:7000' },
      size: 64,
      count: DEFAULT_COUNT,
      durationMs: undefined,
      ratePerSecond: 0,
      concurrency: 1,
      messagesPerConnection: 0,
      timeoutMs: 5000,
      bannerLines: 0,
      proxy: undefined,
      errorBudget: { kind: 'count', max: 0 },
      tls: { caFile: undefined, certFile: undefined, keyFile: undefined, insecure: false, servername: undefined },
      json: false,
      progress: undefined,
    });
  });

  it('a duration alone has no count limit; with --count, both apply', () => {
    expect(options('tcp://h:1', '--duration', '30s')).toMatchObject({ count: undefined, durationMs: 30_000 });
    expect(options('tcp://h:1', '--duration=2m', '--count=7')).toMatchObject({ count: 7, durationMs: 120_000 });
  });
});

describe('option values', () => {
  it.each([
    [['--size', '1'], { size: 1 }],
    [['--size=64Ki'], { size: 65_536 }],
    [['--size', '64Mi'], { size: 64 * 1024 * 1024 }],
    [['--duration', '500ms'], { durationMs: 500 }],
    [['--duration', '1.5'], { durationMs: 1500 }],
    [['--duration', '1h'], { durationMs: 3_600_000 }],
    [['--timeout', '250ms'], { timeoutMs: 250 }],
    [['--rate', '0.5'], { ratePerSecond: 0.5 }],
    [['--concurrency', '16'], { concurrency: 16 }],
    [['--messages-per-connection', '1'], { messagesPerConnection: 1 }],
    [['--banner-lines', '2'], { bannerLines: 2 }],
    [['--max-errors', '5'], { errorBudget: { kind: 'count', max: 5 } }],
    [['--max-errors', '0.01'], { errorBudget: { kind: 'fraction', max: 0.01 } }],
    [['--max-errors', '2.5%'], { errorBudget: { kind: 'fraction', max: 0.025 } }],
    [['--max-errors', '1.0'], { errorBudget: { kind: 'fraction', max: 1 } }],
    [['--proxy', 'v1'], { proxy: { version: 1, source: undefined, destination: undefined } }],
    [['--proxy', 'v2', '--proxy-source', '203.0.113.7:4242'], { proxy: { version: 2, source: { address: '203.0.113.7', port: 4242 }, destination: undefined } }],
    [['--proxy', 'v2', '--proxy-source', '[2001:db8::1]:1', '--proxy-destination', '[::1]:7000'], { proxy: { version: 2, source: { address: '2001:db8::1', port: 1 }, destination: { address: '::1', port: 7000 } } }],
    [['--json', '--progress'], { json: true, progress: true }],
  ])('%j', (argv, expected) => {
    expect(options('tcp://127.0.0.1:7000', ...argv)).toMatchObject(expected);
  });

  it('TLS options on a tls target', () => {
    expect(options('tls://localhost:7443', '--ca', 'ca.crt', '--servername', 'echo.example', '--cert', 'c.crt', '--key', 'c.key').tls).toEqual({ caFile: 'ca.crt', certFile: 'c.crt', keyFile: 'c.key', insecure: false, servername: 'echo.example' });
    expect(options('tls://localhost:7443', '--insecure').tls.insecure).toBe(true);
  });

  it.each([
    [['--size', '0'], '--size', '0'],
    [['--size', '65Mi'], '--size', '65Mi'],
    [['--size', '1.5Ki'], '--size', '1.5Ki'],
    [['--count', '0'], '--count', '0'],
    [['--count', '-1'], '--count', '-1'],
    [['--duration', '0s'], '--duration', '0s'],
    [['--duration', '25h'], '--duration', '25h'],
    [['--duration', '10 s'], '--duration', '10 s'],
    [['--timeout', 'soon'], '--timeout', 'soon'],
    [['--rate', '-5'], '--rate', '-5'],
    [['--rate', '2000000'], '--rate', '2000000'],
    [['--concurrency', '0'], '--concurrency', '0'],
    [['--concurrency', '10001'], '--concurrency', '10001'],
    [['--banner-lines', '101'], '--banner-lines', '101'],
    [['--max-errors', '1.5'], '--max-errors', '1.5'],
    [['--max-errors', '101%'], '--max-errors', '101%'],
    [['--max-errors', 'some'], '--max-errors', 'some'],
    [['--proxy', 'v3'], '--proxy', 'v3'],
    [['--proxy', 'v2', '--proxy-source', 'host:1'], '--proxy-source', 'host:1'],
    [['--proxy', 'v2', '--proxy-source', '2001:db8::1:1'], '--proxy-source', '2001:db8::1:1'],
    [['--proxy', 'v2', '--proxy-source', '10.0.0.1:65536'], '--proxy-source', '10.0.0.1:65536'],
    [['--verbose'], 'option', '--verbose'],
    [['--json=yes'], '--json', 'yes'],
    [['--size'], '--size', ''],
  ])('%j: one line naming %s and the value', (argv, option, value) => {
    const error = rejected('tcp://127.0.0.1:7000', ...argv);
    expect({ option: error.option, value: error.value }).toEqual({ option, value });
    expect(error.message).toBe(`invalid argument: ${option}=${JSON.stringify(value)}: ${error.allowed}`);
    expect(error.message).not.toContain('\n');
  });
});

describe('options that do not go together', () => {
  it.each([
    [['tcp://h:1', '--ca', 'ca.crt'], '--ca', /only for a tls:\/\/ target/],
    [['udp://h:1', '--insecure'], '--insecure', /only for a tls:\/\/ target/],
    [['udp://h:1', '--proxy', 'v2'], '--proxy', /only for tcp:\/\/ and tls:\/\//],
    [['udp://h:1', '--banner-lines', '1'], '--banner-lines', /only for tcp:\/\/ and tls:\/\//],
    [['udp://h:1', '--size', '65508'], '--size', /at most 65507 bytes/],
    [['tcp://h:1', '--proxy-source', '10.0.0.1:1'], '--proxy-source', /only with --proxy/],
    [['tls://h:1', '--cert', 'c.crt'], '--key', /--cert needs the private key/],
    [['tls://h:1', '--key', 'c.key'], '--cert', /--key needs its certificate/],
    [['tls://h:1', '--insecure', '--ca', 'ca.crt'], '--insecure', /not with --ca/],
  ])('%j', (argv, option, allowed) => {
    const error = rejected(...argv);
    expect(error.option).toBe(option);
    expect(error.allowed).toMatch(allowed);
  });

  it('UDP takes a datagram of 65507 bytes and --banner-lines 0', () => {
    expect(options('udp://h:1', '--size', '65507', '--banner-lines', '0')).toMatchObject({ size: 65_507, bannerLines: 0 });
  });
});

describe('--help', () => {
  it.each([['--help'], ['-h'], ['tcp://h:1', '--size', '5', '--help']])('%j: the help, whatever else is given', (...argv) => {
    expect(parseProbeArgs(argv)).toEqual({ kind: 'help', text: probeHelpText() });
  });

  it('lists every option with its default, the target forms and the exit codes', () => {
    const text = probeHelpText();
    for (const flag of ['--size', '--count', '--duration', '--rate', '--concurrency', '--messages-per-connection', '--timeout', '--banner-lines', '--proxy', '--proxy-source', '--proxy-destination', '--max-errors', '--ca', '--insecure', '--servername', '--cert', '--key', '--json', '--progress', '--help']) {
      expect(text).toMatch(new RegExp(`^  ${flag}\\b`, 'm'));
    }
    expect(text).toContain('tcp://HOST:PORT, tls://HOST:PORT or udp://HOST:PORT');
    expect(text).toMatch(/Exit 0: .* 1: .* 2: invalid arguments/s);
  });

  it('docs/probe.md has a row for every option --help lists', () => {
    const doc = readFileSync(new URL('../../../docs/probe.md', import.meta.url), 'utf8');
    const rows = doc.split('\n').filter((line) => line.startsWith('| `--'));
    const flags = [...probeHelpText().matchAll(/^ {2}(--[a-z-]+)/gm)].map((match) => match[1] as string);
    expect(flags.length).toBeGreaterThan(15);
    for (const flag of flags) expect(rows.some((row) => row.includes(`\`${flag}`)), flag).toBe(true);
  });
});
